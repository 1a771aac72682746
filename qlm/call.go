// Package qlm is QLM License Server's contract with the storefronts, as
// every storefront kind shares it: a call to one of QLM's HTTP methods
// (qlmservice.asmx/GetActivationKey, ...) carries the is_* arguments the
// vendor wrote into the URL (Args: product, version, features, license
// model, dates, seats) beside the storefront's own order fields, which
// each storefront names its own way (package storefront and its kinds).
//
// It reads the call and nothing else: authentication, product look-up and
// key generation are the caller's. Doubtful input is normalized and reported
// as a warning; only what cannot be read without risking a wrong key is an
// error, and every error is a *BadRequestError whose text can be sent back to
// the storefront as is.
package qlm

import (
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Limits on one call. ShareIt's order lines are a few KiB with about forty
// fields, and QLM's URLs a few hundred bytes; the caps are far above that and
// far below what could hurt the server or Temporal's payload limits.
const (
	MaxBodyBytes  = 1 << 20 // the form body
	MaxQueryBytes = 8 << 10 // the URL's query
	MaxPairs      = 300     // name=value pairs in query and body together
	MaxValueBytes = 2 << 10 // one order field's value; longer ones are cut, with a warning
)

// Call is one Key Generator call, read but not yet interpreted: the is_*
// arguments, which configure keysmith (QLM's contract), and the order fields,
// which describe the purchase (ShareIt's). Build it with ReadCall.
type Call struct {
	// args holds the is_* arguments under lower-cased names. The vendor
	// writes them into the URL; a few set-ups post them in the body. The
	// query wins.
	args map[string]string
	// fields are the other pairs, raw bytes not yet decoded from the
	// order's character set; a body field wins over a query field.
	fields url.Values
	// warnings found while reading.
	warnings []string
}

// ReadCall reads the query and, for POST, the form body of a call. It
// refuses only what cannot be read: a query or body over its cap, a body
// in another format, an argument given twice with different values. The
// body is consumed.
func ReadCall(r *http.Request) (*Call, error) {
	var rawQuery, form string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	if len(rawQuery) > MaxQueryBytes {
		return nil, &BadRequestError{Status: http.StatusRequestURITooLong, Field: "query", Problem: "longer than 8 KiB"}
	}
	if r.Method == http.MethodPost {
		raw, err := readBody(r)
		if err != nil {
			return nil, err
		}
		form = raw
	}
	return NewCall(rawQuery, form)
}

// NewCall reads a call from its URL's query and its form body ("" for
// none), as ReadCall does: for a storefront whose body is in another
// format, form is "" and the body is the storefront's to read.
func NewCall(rawQuery, form string) (*Call, error) {
	if len(rawQuery) > MaxQueryBytes {
		return nil, &BadRequestError{Status: http.StatusRequestURITooLong, Field: "query", Problem: "longer than 8 KiB"}
	}
	query, err := parsePairs("query", rawQuery, MaxPairs)
	if err != nil {
		return nil, err
	}
	body, err := parsePairs("body", form, MaxPairs-len(query))
	if err != nil {
		return nil, err
	}

	c := &Call{args: map[string]string{}, fields: url.Values{}}
	queryArgs, err := c.collectArgs(query)
	if err != nil {
		return nil, err
	}
	bodyArgs, err := c.collectArgs(body)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(bodyArgs)) {
		if q, ok := queryArgs[name]; ok {
			if q != bodyArgs[name] && !secretArgs[name] {
				c.warn("%s: the URL and the body differ; the URL's %s is used", name, Quote(q))
			}
			continue
		}
		queryArgs[name] = bodyArgs[name]
	}
	c.args = queryArgs

	// The body is ShareIt's, the URL the vendor's: a body field replaces a
	// query field of the same name.
	for _, p := range query {
		if !isArg(p.name) {
			c.fields[p.name] = append(c.fields[p.name], p.value)
		}
	}
	// Matched without regard to case, as the known fields are read.
	inBody := map[string]bool{}
	for _, p := range body {
		if isArg(p.name) {
			continue
		}
		if upper := strings.ToUpper(p.name); !inBody[upper] {
			inBody[upper] = true
			for name := range c.fields {
				if strings.EqualFold(name, p.name) {
					delete(c.fields, name)
				}
			}
		}
	}
	for _, p := range body {
		if !isArg(p.name) {
			c.fields[p.name] = append(c.fields[p.name], p.value)
		}
	}
	return c, nil
}

// Args reads the call's is_* arguments (see Args). dateLayout, when not
// empty, is the provider's own date format for is_expdate and is_maintdate.
func (c *Call) Args(dateLayout string) (Args, error) { return c.parseArgs(dateLayout) }

// Fork is a copy of the call whose arguments and warnings are its own:
// a mapping added to it (WithMapping) does not reach the call, and
// decoding the call twice warns the same.
func (c *Call) Fork() *Call {
	f := *c
	f.args = maps.Clone(c.args)
	f.warnings = slices.Clone(c.warnings)
	return &f
}

// Warn records a warning about the call.
func (c *Call) Warn(format string, a ...any) { c.warn(format, a...) }

// Warnings are the warnings so far.
func (c *Call) Warnings() []string { return slices.Clone(c.warnings) }

// Arg is an is_* argument by its lower-case name, "" when absent.
func (c *Call) Arg(name string) string { return c.args[name] }

// Credentials are QLM's is_user and is_pwd, exactly as given.
func (c *Call) Credentials() (user, password string) {
	return c.args["is_user"], c.args["is_pwd"]
}

// Field is an order field's first raw value, the name matched without
// regard to case (the exact name first), before charset decoding.
func (c *Call) Field(name string) (string, bool) {
	return lookupFold(c.fields, name)
}

func (c *Call) warn(format string, a ...any) {
	c.warnings = append(c.warnings, sprintf(format, a...))
}

func isArg(name string) bool { return strings.HasPrefix(strings.ToLower(name), "is_") }

// ReadForm reads a POST's form body, as ReadCall does ("" for another
// method): for a storefront that signs the body itself.
func ReadForm(r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		return "", nil
	}
	return readBody(r)
}

// ReadBody reads a body in any format, within MaxBodyBytes.
func ReadBody(r *http.Request) ([]byte, error) {
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
		return nil, BadRequest("body", "cannot be read")
	}
	if len(data) > MaxBodyBytes {
		return nil, tooBig
	}
	return data, nil
}

// readBody reads a form body. It does not use r.ParseForm, which would
// also merge the query and drop pairs holding ';'.
func readBody(r *http.Request) (string, error) {
	data, err := ReadBody(r)
	if err != nil {
		return "", err
	}
	if len(data) == 0 {
		return "", nil
	}
	// A body in another format would otherwise be silently ignored and the
	// call fail later with a misleading "PURCHASE_ID: missing".
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || mediaType != "application/x-www-form-urlencoded" {
			return "", &BadRequestError{
				Status:  http.StatusUnsupportedMediaType,
				Field:   "Content-Type",
				Problem: Quote(ct) + " is not application/x-www-form-urlencoded",
			}
		}
	}
	return string(data), nil
}

type pair struct{ name, value string }

// parsePairs splits a query or form body like url.ParseQuery, but only '&'
// separates pairs: QLM URLs carry is_features=0:3;1:1 unencoded, and
// url.ParseQuery (since Go 1.17) drops every pair holding a ';'. Empty
// pairs ("?&is_vendor=..", "&&") are skipped; '+' and %20 are spaces.
// Values are unescaped but not charset-decoded. It stops at max pairs
// before unescaping anything more.
func parsePairs(source, raw string, max int) ([]pair, error) {
	var pairs []pair
	for p := range strings.SplitSeq(raw, "&") {
		if p == "" {
			continue
		}
		if len(pairs) >= max {
			return nil, &BadRequestError{Status: http.StatusRequestEntityTooLarge, Field: source, Problem: sprintf("more than %d fields", MaxPairs)}
		}
		rawName, rawValue, _ := strings.Cut(p, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, BadRequest(source, "malformed percent-encoding in a field name")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			// Name the field but never show the value: it may be is_pwd.
			return nil, BadRequest(source, "malformed percent-encoding in %s", Label(name))
		}
		pairs = append(pairs, pair{name, value})
	}
	return pairs, nil
}

// ParseQuery parses a stored "&is_productid=1&is_majorversion=1..." product
// mapping (QLM's shareit_<PRODUCT_ID> property) the way ReadCall parses a
// URL's query.
func ParseQuery(raw string) (url.Values, error) {
	pairs, err := parsePairs("query", raw, MaxPairs)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for _, p := range pairs {
		v[p.name] = append(v[p.name], p.value)
	}
	return v, nil
}

// secretArgs are never stored, logged or echoed.
var secretArgs = map[string]bool{"is_user": true, "is_pwd": true}

// collectArgs returns the is_* arguments under lower-cased names. QLM's
// names are case-sensitive but vendors' URLs are not consistent about case.
// One argument given twice in one place with different values is refused:
// picking either could issue the wrong product or quantity.
func (c *Call) collectArgs(pairs []pair) (map[string]string, error) {
	args := make(map[string]string)
	for _, p := range pairs {
		name := strings.ToLower(p.name)
		if !strings.HasPrefix(name, "is_") {
			continue
		}
		value := p.value
		if !secretArgs[name] { // credentials are compared exactly as given
			value = c.checkText(name, value)
		}
		if prev, seen := args[name]; seen && prev != value {
			return nil, BadRequest(Label(name), "given more than once with different values")
		}
		args[name] = value
	}
	return args, nil
}

// lookupFold finds a field case-insensitively, preferring the exact name and
// otherwise the first case variant in sorted order.
func lookupFold(v url.Values, name string) (string, bool) {
	if vs, ok := v[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if strings.EqualFold(k, name) && len(v[k]) > 0 {
			return v[k][0], true
		}
	}
	return "", false
}
