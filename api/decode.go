package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/shareit"
)

// maxKeys caps the keys one call issues (one key per license); a key may
// carry any number of seats.
const maxKeys = 1000

// decodeLine turns a Key Generator call into a checked order line: it reads
// the call, finds and authenticates the provider, applies the webhook's
// product mapping, decodes arguments and fields, and checks the line
// against the configured product, so that nothing the workflow could refuse
// reaches it. A refusal says why, in a line fit for the storefront.
//
// The provider is returned once the caller is authenticated, with a line
// or a refusal of it.
func decodeLine(d Deps, auth *authenticator, r *http.Request, method string) (order.Line, *config.Provider, *refusal) {
	call, err := shareit.ReadCall(r)
	if err != nil {
		return order.Line{}, nil, refuse(d, err)
	}
	p, ok := d.Config.Provider(call.Arg("is_vendor"))
	if !ok {
		return order.Line{}, nil, &refusal{status: http.StatusUnauthorized, reason: "is_vendor: unknown provider"}
	}
	if refused := auth.authenticate(r.Context(), r, p, call); refused != nil {
		return order.Line{}, nil, refused
	}
	line, refused := decodeAuthenticated(d, r, method, p, call)
	return line, p, refused
}

// decodeAuthenticated builds the line of an authenticated call.
func decodeAuthenticated(d Deps, r *http.Request, method string, p *config.Provider, call *shareit.Call) (order.Line, *refusal) {
	if method == methodWebHook {
		productID, _ := call.Field("PRODUCT_ID")
		productID = strings.TrimSpace(productID)
		mapping, ok := p.Products[productID]
		if !ok {
			return order.Line{}, &refusal{status: http.StatusBadRequest,
				reason: fmt.Sprintf("PRODUCT_ID: %q has no product mapping for provider %s", productID, p.Name)}
		}
		args, err := shareit.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return order.Line{}, &refusal{status: http.StatusBadRequest, reason: "PRODUCT_ID " + productID + ": bad mapping in the configuration"}
		}
		call.WithMapping(args)
	}
	req, err := call.Decode(shareit.Options{UTF8: p.UTF8(), DateLayout: p.DateLayout()})
	if err != nil {
		return order.Line{}, refuse(d, err)
	}
	received := time.Now().UTC()
	var line order.Line
	switch {
	case method == methodRenewMaintenance:
		line, err = renewMaintenance(r.Context(), d, p, req, received)
	case req.Purchase.Renewal():
		if line, err = newLine(d, p, req, received); err == nil {
			line, err = renewSubscription(r.Context(), d, p, req, line, received)
		}
	default:
		line, err = newLine(d, p, req, received)
	}
	if err != nil {
		return order.Line{}, refuse(d, err)
	}
	if p.Holds() {
		line.Confirm = &order.Confirm{ReportWithin: d.reportWithin(), CancelAfterDays: p.CancelUnconfirmedAfterDays}
	}
	return line, nil
}

// refuse answers a line that cannot be keyed: with its reason when the
// call is at fault, else (the database failing a renewal's look-up) with a
// 503 the storefront retries.
func refuse(d Deps, err error) *refusal {
	if bad, ok := err.(*shareit.BadRequestError); ok {
		return &refusal{status: bad.Status, reason: bad.Reason()}
	}
	d.Log.Error("Decode order line", "error", err)
	return &refusal{status: http.StatusServiceUnavailable, reason: "key service temporarily unavailable; try again"}
}

// lineError is a refusal of the line in the storefront's terms.
func lineError(field, format string, a ...any) error {
	return &shareit.BadRequestError{Status: http.StatusBadRequest, Field: field, Problem: fmt.Sprintf(format, a...)}
}

// newLine checks a decoded call against the configured product and decides
// the keys, the seats, the license model and the dates. received is when
// the call came, the order's date when it gives none.
func newLine(d Deps, p *config.Provider, req shareit.Request, received time.Time) (order.Line, error) {
	a, o := req.Args, req.Purchase
	warnings := req.Warnings
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	prod, err := product(d.Config, a)
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
	case a.MultipleActivationsKey && qty > shareit.MaxSeats/perKey, seats > shareit.MaxSeats, seats < 1:
		return order.Line{}, lineError("quantity", "more than %d seats in one key", shareit.MaxSeats)
	}

	model, binding, _ := license.ParseModel(a.LicenseModel) // checked by shareit
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
		Provider:   p.Name,
		PurchaseID: o.PurchaseID,
		RunningNo:  o.RunningNo,
		OrderDate:  orderDate,
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
		Email:         order.Email{Send: a.SendMail, Template: prod.EmailTemplate},
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
		line.MaintenanceInDays = d.Config.MaintenancePlanDays
	case a.MaintDuration > 0:
		warn("is_maintduration: QLM sets a maintenance plan only with is_maintenance_plan=1; no plan")
	}
	if a.EmailTemplate != "" && d.Templates != nil {
		if name, ok := d.Config.Template(a.EmailTemplate, d.Templates.Has); ok {
			line.Email.Template = name
		} else {
			warn("is_emailtemplate: no template %q (template_names maps QLM's names); the product's %q is used", a.EmailTemplate, prod.EmailTemplate)
		}
	}
	if err := checkDates(line, received); err != nil {
		return order.Line{}, err
	}
	line.Warnings = warnings
	return line, nil
}

// product finds the configured product version the call names. QLM always
// sends a version; none is accepted when the product has only one.
func product(cfg *config.Config, a shareit.Args) (*config.Product, error) {
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
