package orderline

import (
	"fmt"
	"strings"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/store"
)

// Stored is a stored order line as the order line it was keyed from, and
// its keys in issue order: what a renewal re-signs and a resend mails.
// buyer is the line's customer record, nil for none. The product's
// feature names, template and key format come from the configuration as
// it is now; the template the call named (is_emailtemplate, stored with
// its arguments) still wins.
func (b Builder) Stored(row *store.OrderRow, buyer *store.Customer) (order.Line, []order.Key, error) {
	features, err := qlm.ParseFeatures(row.Features)
	if err != nil {
		return order.Line{}, nil, fmt.Errorf("stored features: %w", err)
	}
	line := order.Line{
		LineID:    row.LineID(),
		OrderDate: row.OrderDate,
		Product:   order.Product{ID: row.ProductID, Major: row.Major, Minor: row.Minor, Name: row.ProductName},
		Features:  features,
		Quantity:  row.Quantity,
		KeyCount:  len(row.Keys),
		Seats:     1,
		Model:     row.LicenseModel,
		Fields:    row.Fields,
		Args:      row.Args,
	}
	if row.ExpiresAt != nil {
		line.Expires = *row.ExpiresAt
	}
	if row.Maintenance != nil {
		line.Maintenance = *row.Maintenance
	}
	if row.Subscription != nil {
		line.Subscription = *row.Subscription
	}
	var prod *config.Product
	if b.Config != nil {
		prod, _ = b.Config.Product(row.ProductID, row.Major, row.Minor)
	}
	if prod != nil {
		line.Product.FeatureNames = prod.FeatureNames(features)
		if prod.KeyFormat == "short" {
			line.KeyFormat = "short"
		}
	}
	line.Email, _ = b.email(prod, strings.TrimSpace(row.Args["is_emailtemplate"]), true)
	if buyer != nil {
		line.Customer = order.Customer{Email: buyer.Email, Name: buyer.Name, Company: buyer.Company}
	}
	keys := make([]order.Key, len(row.Keys))
	for i, k := range row.Keys {
		keys[i] = order.Key{Key: k.Key, Serial: k.Serial, Seats: k.Seats}
	}
	if len(keys) > 0 {
		line.Seats = keys[0].Seats
	}
	return line, keys, nil
}

// email is a line's email settings, the one place they are decided: sent
// when send is set, with the template QLM's is_emailtemplate names (itself
// or through template_names), else the product's (nil: "default"). A name
// that names no template is a problem, said for the order's warnings.
func (b Builder) email(prod *config.Product, qlmName string, send bool) (order.Email, string) {
	e := order.Email{Send: send, Template: "default"}
	if prod != nil {
		e.Template = prod.EmailTemplate
	}
	if qlmName == "" || b.Templates == nil {
		return e, ""
	}
	if name, ok := b.Config.Template(qlmName, b.Templates.Has); ok {
		e.Template = name
		return e, ""
	}
	return e, fmt.Sprintf("is_emailtemplate: no template %q (template_names maps QLM's names); the product's %q is used", qlmName, e.Template)
}
