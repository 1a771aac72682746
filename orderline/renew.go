package orderline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/storefront"
)

// Renewals. QLM's MyCommerce guide
// (qlmdocs/3rd-party-integration/mycommerce-shareit-how-to-integrate-qlm-with-mycommerce.md
// in soraco/qlm) has MyCommerce call the key generator again when it
// rebills a subscription, with REBILLING_SEND_ORG_KEY set so that the call
// carries the original key; "QLM updates the expiry date of the license".
// A maintenance plan bought later calls RenewMaintenancePlan
// (api-reference/http-methods/renewmaintenanceplan.md), with is_avkey or,
// from MyCommerce, without it. Where the documentation stops (the field
// that carries the original key, how the key is found without is_avkey),
// keysmith accepts every shape it names and README.md says what it assumed.
//
// A renewal is its own line at the storefront (the rebilling purchase). It
// re-signs the original keys, same serials and issue day, with the later
// dates, runs as the RenewLicense workflow beside the original's history
// (same OrderLine search attribute) and is stored linked to the original.

// Lookup is what building a renewal reads from the store.
type Lookup interface {
	FindLineByKey(ctx context.Context, key string) (*store.OrderRow, error)
	FindOrderLine(ctx context.Context, l order.LineID) (*store.OrderRow, error)
	FindLineBySubscription(ctx context.Context, provider, subscription string) (*store.OrderRow, error)
	FindLatestLine(ctx context.Context, provider, email string, productID uint32) (*store.OrderRow, error)
	Renewals(ctx context.Context, orderID int64) ([]store.RenewalRow, error)
	FindCustomerByID(ctx context.Context, id int64) (*store.Customer, error)
}

// findOriginal finds the order line a renewal extends: by the original key
// (is_avkey, or the rebilling call's original-key field), by the original
// purchase ID, by the storefront's subscription, or, for a maintenance
// plan bought alone, by the buyer's most recent line for the product.
// store.ErrNotFound when there is none.
func (b Builder) findOriginal(ctx context.Context, p *config.Provider, req storefront.Request, runningNo string) (*store.OrderRow, error) {
	key := req.Args.ActivationKey
	if key == "" {
		key = req.Purchase.OriginalKey
	}
	switch {
	case key != "":
		return b.Store.FindLineByKey(ctx, key)
	case req.Purchase.OriginalPurchaseID != "":
		return b.Store.FindOrderLine(ctx, order.LineID{Provider: p.Name, PurchaseID: req.Purchase.OriginalPurchaseID, RunningNo: runningNo})
	case req.Purchase.Subscription != "":
		return b.Store.FindLineBySubscription(ctx, p.Name, req.Purchase.Subscription)
	case req.Purchase.Email != "" && req.Args.HasProductID:
		return b.Store.FindLatestLine(ctx, p.Name, req.Purchase.Email, req.Args.ProductID)
	}
	return nil, store.ErrNotFound
}

// renewSubscription turns a call that carries the original key, purchase
// or subscription into the renewal of that line. line is the call keyed as
// a new order: when nothing is found it is keyed so, with a warning, since
// the buyer paid. A RenewSubscriptionHttp call is no new order (line is
// empty): nothing found is refused.
func (b Builder) renewSubscription(ctx context.Context, p *config.Provider, req storefront.Request, line order.Line, received time.Time) (order.Line, error) {
	asNew := line.Provider != ""
	if !asNew {
		line = renewalLine(p, req)
	}
	row, err := b.findOriginal(ctx, p, req, line.RunningNo)
	if errors.Is(err, store.ErrNotFound) {
		if !asNew {
			return order.Line{}, lineError("is_avkey", "no subscription found to renew (give is_avkey, or the storefront's subscription)")
		}
		if !req.Purchase.Renewal() {
			return line, nil // the subscription's first purchase
		}
		line.Warnings = append(line.Warnings, "renewal: the original key or purchase is not one keysmith issued; keyed as a new order")
		return line, nil
	}
	if err != nil {
		return order.Line{}, err
	}
	if row.Provider == line.Provider && row.PurchaseID == line.PurchaseID && row.RunningNo == line.RunningNo {
		return line, nil // the original line itself, called again
	}
	expires, maintenance, err := b.latestDates(ctx, row, line)
	if err != nil {
		return order.Line{}, err
	}
	a := req.Args
	var warnings []string
	next := expires
	switch {
	case !req.Purchase.ExpiryDate.IsZero(): // MyCommerce's next rebilling date
		next = req.Purchase.ExpiryDate
	case !a.ExpDate.IsZero():
		next = a.ExpDate
	case a.ExpDuration > 0: // QLM's RenewSubscriptionHttp: "the previous value plus the new duration"
		next = laterOf(expires, dayOf(orderDay(line, received))).AddDate(0, 0, a.ExpDuration)
	case row.ExpiresAt != nil:
		// Another period as long as the first one.
		next = expires.Add(row.ExpiresAt.Sub(dayOf(row.OrderDate)))
	default:
		warnings = append(warnings, "renewal: the original license does not expire and the call gives no expiry; the key is unchanged")
	}
	if !expires.IsZero() && !next.After(expires) {
		warnings = append(warnings, fmt.Sprintf("renewal: the new expiry %s does not extend %s", next.Format(time.DateOnly), expires.Format(time.DateOnly)))
		next = expires
	}
	return b.renewedLine(ctx, row, line, req, order.RenewSubscription, next, maintenance, warnings)
}

// renewMaintenance turns a RenewMaintenancePlan call into the renewal of
// the line whose plan it extends: to is_maintdate, or by is_maintduration
// (the configured plan length by default) from the plan's end or, when it
// has ended, from the call. Nothing found to renew is refused: the storefront
// tells the vendor, who can look the buyer up.
func (b Builder) renewMaintenance(ctx context.Context, p *config.Provider, req storefront.Request, received time.Time) (order.Line, error) {
	line := renewalLine(p, req)
	row, err := b.findOriginal(ctx, p, req, line.RunningNo)
	if errors.Is(err, store.ErrNotFound) {
		return order.Line{}, lineError("is_avkey", "no license found to renew (give is_avkey, or the buyer's EMAIL and is_productid)")
	}
	if err != nil {
		return order.Line{}, err
	}
	expires, maintenance, err := b.latestDates(ctx, row, line)
	if err != nil {
		return order.Line{}, err
	}
	a := req.Args
	next := a.MaintDate
	if next.IsZero() {
		days := a.MaintDuration
		if days == 0 {
			days = b.Config.MaintenancePlanDays
		}
		next = laterOf(maintenance, dayOf(orderDay(line, received))).AddDate(0, 0, days)
	}
	return b.renewedLine(ctx, row, line, req, order.RenewMaintenance, expires, next, nil)
}

// renewalLine is a renewal's own line, before the original is known: the
// storefront's purchase, its buyer and fields.
func renewalLine(p *config.Provider, req storefront.Request) order.Line {
	return order.Line{
		LineID:    order.LineID{Provider: p.Name, PurchaseID: req.Purchase.PurchaseID, RunningNo: req.Purchase.RunningNo},
		OrderDate: req.Purchase.PurchaseDate, Warnings: req.Warnings,
		Customer: customerOf(req.Purchase), Email: order.Email{Send: req.Args.SendMail},
		Fields: req.Purchase.Fields, Args: req.Args.Raw,
	}
}

// latestDates are the expiry and maintenance end of the original line as
// its renewals left them, leaving out line itself (a repeated call).
func (b Builder) latestDates(ctx context.Context, row *store.OrderRow, line order.Line) (expires, maintenance time.Time, err error) {
	if row.ExpiresAt != nil {
		expires = *row.ExpiresAt
	}
	if row.Maintenance != nil {
		maintenance = *row.Maintenance
	}
	renewals, err := b.Store.Renewals(ctx, row.ID)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	for _, r := range renewals {
		if r.LineID() == line.LineID || !r.Delivered() {
			continue // a repeated call, or a renewal held or cancelled
		}
		if r.ExpiresAt != nil {
			expires = *r.ExpiresAt
		}
		if r.Maintenance != nil {
			maintenance = *r.Maintenance
		}
	}
	return expires, maintenance, nil
}

// renewedLine is the renewal line: the original's keys (product, features,
// seats, model, key format, serials, issue day) with the new dates, for
// the renewal's buyer (the original's when the call names none), under the
// renewal's own line, mailed with the template the call names or else the
// product's.
func (b Builder) renewedLine(ctx context.Context, row *store.OrderRow, line order.Line, req storefront.Request, kind string, expires, maintenance time.Time, warnings []string) (order.Line, error) {
	var buyer *store.Customer
	if line.Customer.Email == "" && row.CustomerID != nil {
		// Mail the renewed key to the buyer of record.
		if c, err := b.Store.FindCustomerByID(ctx, *row.CustomerID); err == nil {
			buyer = c
		}
	}
	original, keys, err := b.Stored(row, buyer)
	if err != nil {
		return order.Line{}, fmt.Errorf("renewal of %s: %w", row.WorkflowID, err)
	}
	if len(keys) == 0 {
		return order.Line{}, &qlm.BadRequestError{Status: http.StatusConflict, Field: "renewal", Problem: "the original line has no keys yet; try again"}
	}
	serials := make([]string, len(keys))
	for i, k := range keys {
		serials[i] = k.Serial
	}
	renewed := original
	renewed.LineID = line.LineID
	renewed.OrderDate = line.OrderDate
	renewed.Expires, renewed.ExpiresInDays = expires, 0
	renewed.Maintenance, renewed.MaintenanceInDays = maintenance, 0
	if line.Customer.Email != "" || buyer == nil {
		renewed.Customer = line.Customer
	}
	renewed.Fields, renewed.Args = line.Fields, line.Args
	renewed.Warnings = append(line.Warnings, warnings...)
	renewed.Renews = &order.Original{
		LineID: row.LineID(), OrderDate: row.OrderDate, Serials: serials, Kind: kind,
	}
	prod, _ := b.Config.Product(row.ProductID, row.Major, row.Minor)
	var problem string
	renewed.Email, problem = b.email(prod, req.Args.EmailTemplate, line.Email.Send)
	if problem != "" {
		renewed.Warnings = append(renewed.Warnings, problem)
	}
	if err := checkDates(renewed, renewed.OrderDate); err != nil {
		return order.Line{}, err
	}
	return renewed, nil
}

func customerOf(p storefront.Purchase) order.Customer {
	return order.Customer{
		Email: p.Email, Name: p.FullName(), Company: p.Company,
		Street: p.Street, City: p.City, Zip: p.Zip, State: p.State,
		Country: p.Country, ISOCode: p.ISOCode, Phone: p.Phone,
	}
}

// orderDay is when the renewal was bought: its PURCHASE_DATE, else when
// the call came.
func orderDay(line order.Line, received time.Time) time.Time {
	if line.OrderDate.IsZero() {
		return received
	}
	return line.OrderDate
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func dayOf(t time.Time) time.Time {
	y, m, dd := t.UTC().Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}
