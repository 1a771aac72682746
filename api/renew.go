package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/shareit"
	"github.com/keysmith/keysmith/store"
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

// findOriginal finds the order line a renewal extends: by the original key
// (is_avkey, or the rebilling call's original-key field), by the original
// purchase ID, or, for a maintenance plan bought alone, by the buyer's most
// recent line for the product. store.ErrNotFound when there is none.
func findOriginal(ctx context.Context, d Deps, p *config.Provider, req shareit.Request, runningNo string) (*store.OrderRow, error) {
	key := req.Args.ActivationKey
	if key == "" {
		key = req.Purchase.OriginalKey
	}
	switch {
	case key != "":
		return d.Store.FindLineByKey(ctx, key)
	case req.Purchase.OriginalPurchaseID != "":
		return d.Store.FindOrderLine(ctx, p.Name, req.Purchase.OriginalPurchaseID, runningNo)
	case req.Purchase.Email != "" && req.Args.HasProductID:
		return d.Store.FindLatestLine(ctx, p.Name, req.Purchase.Email, req.Args.ProductID)
	}
	return nil, store.ErrNotFound
}

// renewSubscription turns a key generator call that carries the original
// key or purchase into the renewal of that line. Nothing found: the call is
// keyed as the new order it also is, with a warning, since the buyer paid.
func renewSubscription(ctx context.Context, d Deps, p *config.Provider, req shareit.Request, line order.Line, received time.Time) (order.Line, error) {
	row, err := findOriginal(ctx, d, p, req, line.RunningNo)
	if errors.Is(err, store.ErrNotFound) {
		line.Warnings = append(line.Warnings, "renewal: the original key or purchase is not one keysmith issued; keyed as a new order")
		return line, nil
	}
	if err != nil {
		return order.Line{}, err
	}
	if row.Provider == line.Provider && row.PurchaseID == line.PurchaseID && row.RunningNo == line.RunningNo {
		return line, nil // the original line itself, called again
	}
	expires, maintenance, err := latestDates(ctx, d, row, line)
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
	return renewedLine(ctx, d, row, line, order.RenewSubscription, next, maintenance, warnings)
}

// renewMaintenance turns a RenewMaintenancePlan call into the renewal of
// the line whose plan it extends: to is_maintdate, or by is_maintduration
// (the configured plan length by default) from the plan's end or, when it
// has ended, from the call. Nothing found to renew is refused: the storefront
// tells the vendor, who can look the buyer up.
func renewMaintenance(ctx context.Context, d Deps, p *config.Provider, req shareit.Request, received time.Time) (order.Line, error) {
	line := order.Line{
		Provider: p.Name, PurchaseID: req.Purchase.PurchaseID, RunningNo: req.Purchase.RunningNo,
		OrderDate: req.Purchase.PurchaseDate, Warnings: req.Warnings,
		Customer: customerOf(req.Purchase), Email: order.Email{Send: req.Args.SendMail},
		Fields: req.Purchase.Fields, Args: req.Args.Raw,
	}
	row, err := findOriginal(ctx, d, p, req, line.RunningNo)
	if errors.Is(err, store.ErrNotFound) {
		return order.Line{}, lineError("is_avkey", "no license found to renew (give is_avkey, or the buyer's EMAIL and is_productid)")
	}
	if err != nil {
		return order.Line{}, err
	}
	expires, maintenance, err := latestDates(ctx, d, row, line)
	if err != nil {
		return order.Line{}, err
	}
	a := req.Args
	next := a.MaintDate
	if next.IsZero() {
		days := a.MaintDuration
		if days == 0 {
			days = d.Config.MaintenancePlanDays
		}
		next = laterOf(maintenance, dayOf(orderDay(line, received))).AddDate(0, 0, days)
	}
	return renewedLine(ctx, d, row, line, order.RenewMaintenance, expires, next, nil)
}

// latestDates are the expiry and maintenance end of the original line as
// its renewals left them, leaving out line itself (a repeated call).
func latestDates(ctx context.Context, d Deps, row *store.OrderRow, line order.Line) (expires, maintenance time.Time, err error) {
	if row.ExpiresAt != nil {
		expires = *row.ExpiresAt
	}
	if row.Maintenance != nil {
		maintenance = *row.Maintenance
	}
	renewals, err := d.Store.Renewals(ctx, row.ID)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	for _, r := range renewals {
		if r.Provider == line.Provider && r.PurchaseID == line.PurchaseID && r.RunningNo == line.RunningNo || !r.Delivered() {
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
// seats, model, serials, issue day) with the new dates, for the renewal's
// buyer, under the renewal's own line.
func renewedLine(ctx context.Context, d Deps, row *store.OrderRow, line order.Line, kind string, expires, maintenance time.Time, warnings []string) (order.Line, error) {
	features, err := shareit.ParseFeatures(row.Features)
	if err != nil {
		return order.Line{}, fmt.Errorf("renewal of %s: stored features: %w", row.WorkflowID, err)
	}
	serials := make([]string, len(row.Keys))
	for i, k := range row.Keys {
		serials[i] = k.Serial
	}
	seats := 1
	if len(row.Keys) > 0 {
		seats = row.Keys[0].Seats
	}
	if line.Customer.Email == "" && row.CustomerID != nil {
		// Mail the renewed key to the buyer of record.
		if c, err := d.Store.FindCustomerByID(ctx, *row.CustomerID); err == nil {
			line.Customer = order.Customer{Email: c.Email, Name: c.Name, Company: c.Company}
		}
	}
	template := "default"
	product := order.Product{ID: row.ProductID, Major: row.Major, Minor: row.Minor, Name: row.ProductName}
	if prod, ok := d.Config.Product(row.ProductID, row.Major, row.Minor); ok {
		template = prod.EmailTemplate
		product.FeatureNames = prod.FeatureNames(features)
	}
	renewed := order.Line{
		Provider:    line.Provider,
		PurchaseID:  line.PurchaseID,
		RunningNo:   line.RunningNo,
		OrderDate:   line.OrderDate,
		Product:     product,
		Features:    features,
		Quantity:    row.Quantity,
		KeyCount:    len(row.Keys),
		Seats:       seats,
		Model:       row.LicenseModel,
		KeyFormat:   line.KeyFormat,
		Expires:     expires,
		Maintenance: maintenance,
		Customer:    line.Customer,
		Email:       order.Email{Send: line.Email.Send, Template: template},
		Fields:      line.Fields,
		Args:        line.Args,
		Warnings:    append(line.Warnings, warnings...),
		Renews: &order.Original{
			Provider: row.Provider, PurchaseID: row.PurchaseID, RunningNo: row.RunningNo,
			OrderDate: row.OrderDate, Serials: serials, Kind: kind,
		},
	}
	if renewed.KeyCount == 0 {
		return order.Line{}, &shareit.BadRequestError{Status: http.StatusConflict, Field: "renewal", Problem: "the original line has no keys yet; try again"}
	}
	if err := checkDates(renewed, renewed.OrderDate); err != nil {
		return order.Line{}, err
	}
	return renewed, nil
}

func customerOf(p shareit.Purchase) order.Customer {
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
