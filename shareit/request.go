// Package shareit turns a call from ShareIt (Digital River MyCommerce) to the
// vendor's Key Generator URL into typed values: the QLM is_* arguments the
// vendor wrote into the URL (Args) and the order line ShareIt sends (Order).
//
// It reads the request and nothing else: authentication, product look-up and
// key generation are the caller's. Every error it returns is a
// *BadRequestError whose text can be sent back to ShareIt as is.
package shareit

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxBodyBytes bounds the request body; ShareIt's order lines are a few KiB.
const MaxBodyBytes = 1 << 20

// Request is everything in one Key Generator call.
type Request struct {
	Args  Args
	Order Order
}

// Quantity is the number of licenses to issue: is_quantity if the URL gives
// it, else the order's QUANTITY, else 1.
func (r Request) Quantity() int {
	if r.Args.Quantity > 0 {
		return r.Args.Quantity
	}
	return r.Order.Quantity
}

// AffiliateID is is_affiliateid if the URL gives it, else ShareIt's RESELLER.
func (r Request) AffiliateID() string {
	if r.Args.AffiliateID != "" {
		return r.Args.AffiliateID
	}
	return r.Order.Reseller
}

// ParseRequest reads one Key Generator call. The is_* arguments come from
// the URL query only, since that is where the vendor put them; is_* names in
// the body are ignored. Order fields come from the query and, for POST, from
// the application/x-www-form-urlencoded body, which wins for a name in both.
// The body is read in full (up to MaxBodyBytes) and consumed.
func ParseRequest(r *http.Request) (Request, error) {
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	query, err := parseForm("query", rawQuery)
	if err != nil {
		return Request{}, err
	}
	var body url.Values
	if r.Method == http.MethodPost {
		if body, err = readBody(r); err != nil {
			return Request{}, err
		}
	}

	args, err := ParseArgs(query)
	if err != nil {
		return Request{}, err
	}
	order, err := parseOrder(query, body)
	if err != nil {
		return Request{}, err
	}
	return Request{Args: args, Order: order}, nil
}

// readBody reads and parses a form body. It does not use r.ParseForm, which
// would also merge the query and drop pairs holding ';'.
func readBody(r *http.Request) (url.Values, error) {
	if r.Body == nil {
		return nil, nil
	}
	tooBig := &BadRequestError{Status: http.StatusRequestEntityTooLarge, Field: "body", Problem: "larger than 1 MiB"}
	if r.ContentLength > MaxBodyBytes {
		return nil, tooBig
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		// The caller may have wrapped the body in http.MaxBytesReader itself.
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooBig
		}
		return nil, badRequest("body", "cannot be read")
	}
	if len(data) > MaxBodyBytes {
		return nil, tooBig
	}
	if len(data) == 0 {
		return nil, nil
	}
	// A body in another format would otherwise be silently ignored and the
	// call fail later with a misleading "PURCHASE_ID: missing".
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || mediaType != "application/x-www-form-urlencoded" {
			return nil, &BadRequestError{
				Status:  http.StatusUnsupportedMediaType,
				Field:   "Content-Type",
				Problem: quote(ct) + " is not application/x-www-form-urlencoded",
			}
		}
	}
	return parseForm("body", string(data))
}

// ParseQuery parses a URL query or form body like url.ParseQuery, but only
// '&' separates pairs. QLM URLs carry is_features=0:3;1:1 unencoded, and
// url.ParseQuery (since Go 1.17) drops every pair that holds a ';'. It is
// also the way to read a stored "&is_productid=1&is_majorversion=1..."
// product mapping. Values are unescaped but not charset-decoded.
func ParseQuery(raw string) (url.Values, error) {
	return parseForm("query", raw)
}

// parseForm is ParseQuery naming where the text came from in its errors.
func parseForm(source, raw string) (url.Values, error) {
	values := make(url.Values)
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, badRequest(source, "malformed percent-encoding in a field name")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			// Name the field but never show the value: it may be is_pwd.
			return nil, badRequest(source, "malformed percent-encoding in %s", label(name))
		}
		values[name] = append(values[name], value)
	}
	return values, nil
}
