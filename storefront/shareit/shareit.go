// Package shareit is the ShareIt (Digital River MyCommerce) storefront: its
// key generator calls QLM's URL with the order line in a form body
// (PURCHASE_ID, RUNNING_NO, EMAIL, ...; the README lists the fields), and
// waits for the keys in plain text.
//
// Doubtful input is normalized and reported as a warning; only what
// cannot be read without risking a wrong key is refused, with a
// *qlm.BadRequestError whose text can go back to ShareIt as is.
package shareit

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Kind is ShareIt's storefront kind.
type Kind struct{}

// webHook is QLM's QlmWebHookHandler, where the URL names no product and
// the provider's products mapping names it by ShareIt's PRODUCT_ID.
const webHook = "qlmwebhookhandler"

// Read reads the URL's query and the form body.
func (Kind) Read(r *http.Request, _ *config.Provider, method string) (*storefront.Call, error) {
	c, err := qlm.ReadCall(r)
	if err != nil {
		return nil, err
	}
	return &storefront.Call{Method: method, QLM: c, Header: r.Header}, nil
}

// Verify passes: ShareIt signs nothing beyond the provider's credentials.
func (Kind) Verify(*storefront.Call, *config.Provider) error { return nil }

// Decode reads the call's one purchase line. For QlmWebHookHandler the
// provider's products mapping adds the QLM arguments for PRODUCT_ID.
func (Kind) Decode(_ context.Context, c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	if c.Method == webHook {
		productID, _ := c.QLM.Field("PRODUCT_ID")
		productID = strings.TrimSpace(productID)
		mapping, ok := p.Products[productID]
		if !ok {
			return storefront.Reading{}, qlm.BadRequest("PRODUCT_ID", "%q has no product mapping for provider %s", productID, p.Name)
		}
		args, err := qlm.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return storefront.Reading{}, &qlm.BadRequestError{Status: http.StatusBadRequest, Field: "PRODUCT_ID " + productID, Problem: "bad mapping in the configuration"}
		}
		c.QLM.WithMapping(args)
	}
	req, err := Decode(c.QLM, Options{UTF8: p.UTF8(), DateLayout: p.DateLayout()})
	if err != nil {
		return storefront.Reading{}, err
	}
	req.Method = c.Method
	return storefront.Reading{Requests: []storefront.Request{req}}, nil
}

// Options are what a provider sets about its calls.
type Options struct {
	// UTF8 reads a call without ENCODING as UTF-8 (QLM has vendors set
	// ShareIt's key generator to UTF-8) instead of ShareIt's documented
	// default, ISO-8859-1.
	UTF8 bool
	// DateLayout is the Go layout of the provider's QLM date_format for
	// is_expdate and is_maintdate, tried before QLM's defaults.
	DateLayout string
}

// Decode interprets a call: its arguments and its purchase line. It
// refuses what cannot be keyed without risking the wrong key (an unreadable
// product, version, feature string, count, model or date; no PURCHASE_ID);
// everything else is read as well as it can be, with a warning. Decoding
// the same call again warns the same.
func Decode(call *qlm.Call, opt Options) (storefront.Request, error) {
	c := call.Fork()
	args, err := c.Args(opt.DateLayout)
	if err != nil {
		return storefront.Request{}, err
	}
	p, err := purchase(c, opt.UTF8)
	if err != nil {
		return storefront.Request{}, err
	}
	r := storefront.Request{Args: args, Purchase: p}
	if p.QuantityProblem != "" {
		if args.Quantity == 0 {
			return storefront.Request{}, qlm.BadRequest("QUANTITY", "%s", strings.TrimPrefix(p.QuantityProblem, "QUANTITY: "))
		}
		c.Warn("%s; is_quantity %d is used", p.QuantityProblem, args.Quantity)
	}
	r.Warnings = slices.Clone(c.Warnings())
	return r, nil
}
