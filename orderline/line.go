// Package orderline turns a storefront's request into a checked order
// line: the product and version the QLM arguments name, the keys and seats,
// the license model, the dates, the email, and for a renewal the line it
// extends. Whatever the storefront, nothing the workflow could refuse
// passes: a refusal is a *qlm.BadRequestError fit for the storefront.
//
// It needs no HTTP and, given a Lookup, no Postgres.
package orderline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// maxKeys caps the keys one call issues (one key per license); a key may
// carry any number of seats.
const maxKeys = 1000

// Builder builds order lines.
type Builder struct {
	Config *config.Config
	// Templates tells which email templates exist (is_emailtemplate); nil
	// reads none.
	Templates interface{ Has(name string) bool }
	// Store finds the lines renewals extend.
	Store Lookup
	// ReportWithin is how long a held line's workflow waits for the API's
	// report that the storefront received the keys.
	ReportWithin time.Duration
}

// QLM's methods that renew rather than sell, as the URL names them
// (lower-cased).
const (
	MethodRenewMaintenance  = "renewmaintenanceplan"
	MethodRenewSubscription = "renewsubscriptionhttp"
)

// Line builds the checked order line of req, a call from provider p
// received when received. A renewal is looked up in the store; a store
// failure is an error that is not a *qlm.BadRequestError.
func (b Builder) Line(ctx context.Context, p *config.Provider, req storefront.Request, received time.Time) (order.Line, error) {
	var (
		line order.Line
		err  error
	)
	switch {
	case req.Method == MethodRenewMaintenance:
		line, err = b.renewMaintenance(ctx, p, req, received)
	case req.Method == MethodRenewSubscription:
		line, err = b.renewSubscription(ctx, p, req, order.Line{}, received)
	case req.Purchase.Renewal(), req.Purchase.Subscription != "":
		// A purchase that names its original renews it; one that names a
		// subscription keysmith keyed before (a rebill) too.
		if line, err = b.newLine(p, req, received); err == nil {
			line, err = b.renewSubscription(ctx, p, req, line, received)
		}
	default:
		line, err = b.newLine(p, req, received)
	}
	if err != nil {
		return order.Line{}, err
	}
	if p.Holds() && !req.Confirmed {
		line.Confirm = &order.Confirm{ReportWithin: b.ReportWithin, CancelAfterDays: p.CancelUnconfirmedAfterDays}
	}
	return line, nil
}

// lineError is a refusal of the line in the storefront's terms.
func lineError(field, format string, a ...any) error {
	return &qlm.BadRequestError{Status: http.StatusBadRequest, Field: field, Problem: fmt.Sprintf(format, a...)}
}

// newLine checks a decoded call against the configured product and decides
// the keys, the seats, the license model and the dates. received is when
// the call came, the order's date when it gives none.
func (b Builder) newLine(p *config.Provider, req storefront.Request, received time.Time) (order.Line, error) {
	a, o := req.Args, req.Purchase
	warnings := req.Warnings
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	prod, err := product(b.Config, a)
	if err != nil {
		return order.Line{}, err
	}

	// Keys and seats, as QLM counts them (getactivationkey.md and
	// how-to-issue-activation-keys-with-multiple-activations-from-an-ecommerce-provider.md):
	// one key with quantity x activations-per-key seats plus the additional
	// activations, or one key per license with activations-per-key seats.
	qty := req.Quantity()
	perKey := max(a.ActivationsPerKey, 1)
	keyCount, seats := 1, qty*perKey+a.AdditionalActivations
	if !a.MultipleActivationsKey {
		keyCount, seats = qty, perKey
		if a.AdditionalActivations > 0 {
			warn("is_additionalactivations: QLM adds them only to one key for all licenses (is_usemultipleactivationskey=true); ignored")
		}
	}
	switch {
	case keyCount > maxKeys:
		return order.Line{}, lineError("quantity", "%d keys (one per license) is more than %d in one call; use one key for all licenses", keyCount, maxKeys)
	case a.MultipleActivationsKey && qty > qlm.MaxSeats/perKey, seats > qlm.MaxSeats, seats < 1:
		return order.Line{}, lineError("quantity", "more than %d seats in one key", qlm.MaxSeats)
	}

	model, binding, _ := license.ParseModel(a.LicenseModel) // checked by qlm
	if a.Floating && binding == license.Computer {
		binding = license.Floating // QLM: "the number of floating seats will be set to the quantity ordered"
	}

	orderDate := o.PurchaseDate
	if !orderDate.IsZero() && (orderDate.Before(license.FirstDay) || orderDate.After(license.LastDay)) {
		warn("PURCHASE_DATE: %s is outside the dates a key holds (%s to %s); the order is dated the day it was received",
			orderDate.Format(time.DateOnly), license.FirstDay.Format(time.DateOnly), license.LastDay.Format(time.DateOnly))
		orderDate = time.Time{}
	}
	line := order.Line{
		LineID:    order.LineID{Provider: p.Name, PurchaseID: o.PurchaseID, RunningNo: o.RunningNo},
		OrderDate: orderDate,
		Product: order.Product{
			ID: prod.ID, Major: prod.Major, Minor: prod.Minor, Name: prod.Name,
			FeatureNames: prod.FeatureNames(a.Features),
		},
		Features:      a.Features,
		Quantity:      qty,
		KeyCount:      keyCount,
		Seats:         seats,
		Model:         license.ModelName(model, binding),
		Expires:       a.ExpDate,
		ExpiresInDays: a.ExpDuration,
		Customer:      customerOf(o),
		Subscription:  o.Subscription,
		Fields:        o.Fields,
		Args:          a.Raw,
	}
	if a.ProductName != "" {
		line.Product.Name = a.ProductName // QLM's mapping names the product for the email
	}
	if prod.KeyFormat == "short" {
		line.KeyFormat = "short"
	}
	switch {
	case a.MaintenancePlan && a.MaintDuration > 0:
		line.MaintenanceInDays = a.MaintDuration
	case a.MaintenancePlan:
		line.MaintenanceInDays = b.Config.MaintenancePlanDays
	case a.MaintDuration > 0:
		warn("is_maintduration: QLM sets a maintenance plan only with is_maintenance_plan=1; no plan")
	}
	var problem string
	line.Email, problem = b.email(prod, a.EmailTemplate, a.SendMail)
	if problem != "" {
		warn("%s", problem)
	}
	if err := checkDates(line, received); err != nil {
		return order.Line{}, err
	}
	line.Warnings = warnings
	return line, nil
}

// product finds the configured product version the call names. QLM always
// sends a version; none is accepted when the product has only one.
func product(cfg *config.Config, a qlm.Args) (*config.Product, error) {
	if !a.HasProductID {
		return nil, lineError("is_productid", "missing")
	}
	major, minor := a.Major, a.Minor
	versions := cfg.Versions(a.ProductID)
	if !a.HasVersion {
		if len(versions) != 1 {
			return nil, lineError("is_majorversion/is_minorversion", "missing (product %d has versions %s)", a.ProductID, strings.Join(versions, ", "))
		}
		fmt.Sscanf(versions[0], "%d.%d", &major, &minor) //nolint:errcheck // Versions formats it
	}
	prod, ok := cfg.Product(a.ProductID, major, minor)
	switch {
	case ok:
		return prod, nil
	case len(versions) > 0:
		return nil, lineError("is_majorversion/is_minorversion", "product %d has no version %d.%d (configured: %s)", a.ProductID, major, minor, strings.Join(versions, ", "))
	default:
		return nil, lineError("is_productid", "unknown product %d", a.ProductID)
	}
}

// checkDates refuses dates a key cannot carry, before any workflow starts:
// an expiry or maintenance end past the last day a key holds, or an expiry
// not after the order (the key would be born expired).
func checkDates(line order.Line, received time.Time) error {
	if line.OrderDate.IsZero() {
		line.OrderDate = received
	}
	if e := line.ExpiryDate(); !e.IsZero() {
		switch {
		case e.After(license.LastDay):
			return lineError("expiry", "%s is after %s, the last day a key holds", e.Format(time.DateOnly), license.LastDay.Format(time.DateOnly))
		case !e.After(line.IssueDate()):
			return lineError("is_expdate", "%s is not after the order date %s", e.Format(time.DateOnly), line.IssueDate().Format(time.DateOnly))
		}
	}
	if m := line.MaintenanceDate(); m.After(license.LastDay) {
		return lineError("is_maintduration", "the plan would end %s, after %s, the last day a key holds", m.Format(time.DateOnly), license.LastDay.Format(time.DateOnly))
	}
	return nil
}
