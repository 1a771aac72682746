// Package twocheckout is the 2Checkout storefront (Verifone, formerly
// Avangate) as QLM's IPN guide sets it up
// (qlmdocs/3rd-party-integration/2checkout-how-to-integrate-qlm-with-avangate-2checkout/method-2-ipn.md
// in soraco/qlm): 2Checkout's Instant Payment Notification, a form POST to
// QLM's .../QlmWebHookHandler?is_vendor=...&is_user=...&is_pwd=..., signed
// with the IPN's secret key (HASH, an HMAC of every value, each prefixed
// with its length in bytes), and answered with the read receipt 2Checkout
// expects (<EPAYMENT>DATE|HASH</EPAYMENT>), else it sends the IPN again.
//
// A COMPLETE order keys each product line IPN_PID[i], named
// 2checkout:<REFNO>-<i+1>, in the background, and mails the keys; a
// line whose IPN_LICENSE_TYPE[i] is RENEWAL renews instead the line its
// subscription's first purchase keyed (found by IPN_LICENSE_REF[i]) to
// IPN_LICENSE_EXP[i]; a refund, a reversal or a chargeback revokes those
// lines.
package twocheckout

import (
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // 2Checkout's classic IPN HASH is HMAC-MD5; it is checked, not chosen
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Kind is 2Checkout's storefront kind.
type Kind struct{}

// The IPN's signatures, strongest first: 2Checkout's newer accounts send
// SIGNATURE_SHA3_256 and SIGNATURE_SHA2_256 (HMAC-SHA3-256 and
// HMAC-SHA256), every account HASH (HMAC-MD5); all in lower-case hex, over
// the same source string. None of them is part of that string.
var signatures = []struct {
	field, algo string // algo: the read receipt's <sig algo=...>, "" for EPAYMENT
	hash        func() hash.Hash
}{
	{"SIGNATURE_SHA3_256", "sha3-256", func() hash.Hash { return sha3.New256() }},
	{"SIGNATURE_SHA2_256", "sha256", sha256.New},
	{"HASH", "", md5.New},
}

// maxItem bounds a line's number within its order.
const maxItem = 8

// ipn is an IPN's form as posted: its fields in their order, which the
// signature follows, and which signature it carries.
type ipn struct {
	pairs  [][2]string
	signed int // index in signatures of the one checked
}

// first is the value of the first field named name, "" when absent.
func (f ipn) first(name string) string {
	for _, p := range f.pairs {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

// array is the values of the array field name (IPN_PID[] or IPN_PID[0],
// IPN_PID[1], ...), in order.
func (f ipn) array(name string) []string {
	var out []string
	for _, p := range f.pairs {
		if base, ok := arrayName(p[0]); ok && base == name {
			out = append(out, p[1])
		}
	}
	return out
}

// arrayName reads "NAME[]" or "NAME[n]" as NAME.
func arrayName(field string) (string, bool) {
	i := strings.IndexByte(field, '[')
	if i <= 0 || !strings.HasSuffix(field, "]") {
		return "", false
	}
	return field[:i], true
}

// Read reads an IPN: a form POST to QlmWebHookHandler, QLM's arguments in
// the URL.
func (Kind) Read(r *http.Request, _ *config.Provider, method string) (*storefront.Call, error) {
	if method != storefront.WebHook || r.Method != http.MethodPost {
		return nil, qlm.BadRequest("method", "a 2checkout provider is called only by its IPN: POST .../QlmWebHookHandler")
	}
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	form, err := qlm.ReadForm(r)
	if err != nil {
		return nil, err
	}
	// QLM's arguments come from the URL only: the body is 2Checkout's.
	c, err := qlm.NewCall(rawQuery, "")
	if err != nil {
		return nil, err
	}
	f := ipn{signed: -1}
	for p := range strings.SplitSeq(form, "&") {
		if p == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(p, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, qlm.BadRequest("body", "malformed percent-encoding")
		}
		f.pairs = append(f.pairs, [2]string{name, value})
		if len(f.pairs) > qlm.MaxPairs {
			return nil, &qlm.BadRequestError{Status: http.StatusRequestEntityTooLarge, Field: "body", Problem: fmt.Sprintf("more than %d fields", qlm.MaxPairs)}
		}
	}
	return &storefront.Call{Method: method, QLM: c, Header: r.Header, Body: []byte(form), Parsed: f}, nil
}

// source is the string an IPN's signature is an HMAC of: every value but
// the signatures', in the order posted, each prefixed with its length in
// bytes; an empty value is "0".
func source(pairs [][2]string) []byte {
	var b []byte
	for _, p := range pairs {
		if isSignature(p[0]) {
			continue
		}
		b = appendValue(b, p[1])
	}
	return b
}

func isSignature(field string) bool {
	for _, s := range signatures {
		if s.field == field {
			return true
		}
	}
	return false
}

func appendValue(b []byte, v string) []byte {
	if v == "" {
		return append(b, '0')
	}
	b = strconv.AppendInt(b, int64(len(v)), 10)
	return append(b, v...)
}

func hmacHex(h func() hash.Hash, secret string, data []byte) string {
	mac := hmac.New(h, []byte(secret))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify checks the IPN's strongest signature against the provider's
// secret key (webhook_secret_env), in constant time. A provider without
// one relies on its other credentials (storefront.Unsigned).
func (Kind) Verify(c *storefront.Call, p *config.Provider) error {
	f, ok := c.Parsed.(ipn)
	if !ok {
		return unauthorized("HASH", "missing")
	}
	if p.WebhookSecret() == "" {
		return storefront.Unsigned(p, "HASH", "IPN secret key")
	}
	for i, s := range signatures {
		got := strings.ToLower(strings.TrimSpace(f.first(s.field)))
		if got == "" {
			continue
		}
		want := hmacHex(s.hash, p.WebhookSecret(), source(f.pairs))
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return unauthorized(s.field, "does not match the IPN's secret key")
		}
		f.signed = i
		c.Parsed = f
		return nil
	}
	return unauthorized("HASH", "missing (the IPN's secret key signs every IPN)")
}

func unauthorized(field, problem string) error {
	return &qlm.BadRequestError{Status: http.StatusUnauthorized, Field: field, Problem: problem}
}

// dateLayout is 2Checkout's YmdHis (IPN_DATE, the read receipt's DATE).
const dateLayout = "20060102150405"

// now is the read receipt's clock.
var now = time.Now

// ReadReceipt is the answer 2Checkout expects of an IPN handled:
// <EPAYMENT>DATE|HASH</EPAYMENT>, HASH the HMAC-MD5 (hex) with the secret
// of IPN_PID[0], IPN_PNAME[0], IPN_DATE and DATE, each prefixed with its
// length; and, for an IPN signed with SHA-2 or SHA-3, the newer
// <sig algo="..." date="DATE">HASH</sig> over the same string, on a line
// of its own (2Checkout finds the receipt anywhere in the answer).
func ReadReceipt(f ipn, secret string, date time.Time) string {
	d := date.UTC().Format(dateLayout)
	var src []byte
	src = appendValue(src, first(f.array("IPN_PID")))
	src = appendValue(src, first(f.array("IPN_PNAME")))
	src = appendValue(src, f.first("IPN_DATE"))
	src = appendValue(src, d)
	out := "<EPAYMENT>" + d + "|" + hmacHex(md5.New, secret, src) + "</EPAYMENT>"
	if f.signed >= 0 && signatures[f.signed].algo != "" {
		s := signatures[f.signed]
		out += "\n" + `<sig algo="` + s.algo + `" date="` + d + `">` + hmacHex(s.hash, secret, src) + "</sig>"
	}
	return out
}

func first(v []string) string {
	if len(v) > 0 {
		return v[0]
	}
	return ""
}

// What an IPN's ORDERSTATUS does: COMPLETE keys its lines (QLM's guide's
// trigger, "authorized and approved orders, sent after electronic
// delivery"); REFUND and REVERSED revoke them as refunded, CHARGEBACK as
// charged back; anything else (PENDING, PAYMENT_AUTHORIZED, ...) is
// answered and keys nothing.
const statusComplete = "COMPLETE"

var revoking = map[string]string{
	"REFUND":     storefront.Refund,
	"REVERSED":   storefront.Refund,
	"CHARGEBACK": storefront.Chargeback,
}

// Decode reads the IPN's product lines, or what it revokes.
func (Kind) Decode(_ context.Context, c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	f, _ := c.Parsed.(ipn)
	refno := strings.TrimSpace(f.first("REFNO"))
	if err := storefront.CheckID("REFNO", refno, storefront.MaxPurchaseID); err != nil {
		return storefront.Reading{}, err
	}
	status := strings.ToUpper(strings.TrimSpace(f.first("ORDERSTATUS")))
	if status == "" {
		return storefront.Reading{}, qlm.BadRequest("ORDERSTATUS", "missing")
	}
	event := refno + "-" + status
	secret := p.WebhookSecret()
	reading := storefront.Reading{Notify: true, Events: []string{event}}
	reading.Answer = func(handled []string) string {
		if !slices.Contains(handled, event) {
			return "" // not handled: 2Checkout sends it again
		}
		return ReadReceipt(f, secret, now())
	}
	pids := f.array("IPN_PID")
	if len(pids) == 0 {
		reading.Skipped = append(reading.Skipped, "IPN "+event+": no product lines (IPN_PID[])")
		return reading, nil
	}
	if len(pids) > 99 {
		return storefront.Reading{}, qlm.BadRequest("IPN_PID[]", "more than 99 product lines")
	}
	if kind, ok := revoking[status]; ok {
		for i := range pids {
			reading.Revocations = append(reading.Revocations, storefront.Revocation{Kind: kind, Event: event,
				Reason:   "2Checkout IPN " + status + " of order " + refno,
				Line:     order.LineID{Provider: p.Name, PurchaseID: refno, RunningNo: strconv.Itoa(i + 1)},
				Quantity: 0})
		}
		return reading, nil
	}
	if status != statusComplete {
		reading.Skipped = append(reading.Skipped, "IPN "+event+": order status "+status+" keys nothing")
		return reading, nil
	}
	for i, pid := range pids {
		req, skip, err := lineRequest(c, p, f, refno, event, i, pid)
		if err != nil {
			return storefront.Reading{}, err
		}
		if skip != "" {
			reading.Skipped = append(reading.Skipped, fmt.Sprintf("IPN %s line %d (IPN_PID %s): %s", event, i+1, pid, skip))
			continue
		}
		reading.Requests = append(reading.Requests, req)
	}
	return reading, nil
}

// lineFields are the array fields kept with a line, under their names
// without brackets.
var lineFields = []string{"IPN_PID", "IPN_PNAME", "IPN_PCODE", "IPN_EXTERNAL_REFERENCE", "IPN_QTY", "IPN_PRICE",
	"IPN_VER", "IPN_LICENSE_PROD", "IPN_LICENSE_TYPE", "IPN_LICENSE_REF", "IPN_LICENSE_EXP"}

// lineRequest is product line i's request. Its QLM arguments are the
// URL's, then the provider's products mapping for its 2Checkout product
// id (as QLM's guide's pid_<id> server property maps it: by the id, or by
// pid_<id>), then for its product code (IPN_PCODE[i]).
func lineRequest(c *storefront.Call, p *config.Provider, f ipn, refno, event string, i int, pid string) (storefront.Request, string, error) {
	at := func(name string) string {
		if v := f.array(name); i < len(v) {
			return strings.TrimSpace(v[i])
		}
		return ""
	}
	pid = strings.TrimSpace(pid)
	call := c.QLM.Fork()
	mapping, ok := p.Products[pid]
	if !ok {
		mapping, ok = p.Products["pid_"+pid]
	}
	if code := at("IPN_PCODE"); !ok && code != "" {
		mapping, ok = p.Products[code]
	}
	if ok {
		args, err := qlm.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return storefront.Request{}, "", qlm.BadRequest("IPN_PID "+pid, "bad mapping in the configuration")
		}
		call.WithMapping(args)
	}
	if call.Arg("is_productid") == "" {
		return storefront.Request{}, "no products mapping for it and no is_productid in the URL", nil
	}
	method := "getactivationkey"
	renewal := strings.EqualFold(at("IPN_LICENSE_TYPE"), "RENEWAL")
	if renewal {
		if at("IPN_LICENSE_REF") == "" {
			return storefront.Request{}, "a subscription's renewal without IPN_LICENSE_REF: no line to renew", nil
		}
		method = renewSubscription
	}
	args, err := call.Args(p.DateLayout())
	if err != nil {
		return storefront.Request{}, "", err
	}
	pu := storefront.Purchase{
		PurchaseID:   refno,
		RunningNo:    strconv.Itoa(i + 1),
		Quantity:     1,
		FirstName:    strings.TrimSpace(f.first("FIRSTNAME")),
		LastName:     strings.TrimSpace(f.first("LASTNAME")),
		Company:      strings.TrimSpace(f.first("COMPANY")),
		Phone:        strings.TrimSpace(f.first("PHONE")),
		Street:       strings.TrimSpace(strings.Join(nonEmpty(f.first("ADDRESS1"), f.first("ADDRESS2")), ", ")),
		City:         strings.TrimSpace(f.first("CITY")),
		State:        strings.TrimSpace(f.first("STATE")),
		Zip:          strings.TrimSpace(f.first("ZIPCODE")),
		Country:      strings.TrimSpace(f.first("COUNTRY")),
		ISOCode:      strings.ToUpper(strings.TrimSpace(f.first("COUNTRY_CODE"))),
		Language:     strings.TrimSpace(f.first("LANGUAGE")),
		Subscription: at("IPN_LICENSE_REF"),
		UTF8:         true,
		Fields:       map[string]string{},
	}
	if t, err := time.Parse(time.DateTime, strings.TrimSpace(f.first("SALEDATE"))); err == nil {
		pu.PurchaseDate = t.UTC()
	}
	for _, kv := range f.pairs {
		name := kv[0]
		if _, isArray := arrayName(name); isArray || kv[1] == "" || strings.HasPrefix(strings.ToLower(name), "is_") || isSignature(name) {
			continue
		}
		if _, seen := pu.Fields[name]; !seen {
			pu.Fields[name] = kv[1]
		}
	}
	for _, name := range lineFields {
		if v := at(name); v != "" {
			pu.Fields[name] = v
		}
	}
	pu.Fields["event"] = event
	if renewal {
		if exp := at("IPN_LICENSE_EXP"); exp != "" {
			if t, ok := licenseExpiry(exp); ok {
				pu.ExpiryDate = t
			} else {
				call.Warn("IPN_LICENSE_EXP[%d]: not a date (YYYY-MM-DD HH:MM:SS); the renewal adds the license's own period", i)
			}
		}
	}
	if err := storefront.CheckID("IPN_PID[]", pu.RunningNo, maxItem); err != nil {
		return storefront.Request{}, "", err
	}
	if s := at("IPN_QTY"); s != "" {
		n, err := qlm.Count(fmt.Sprintf("IPN_QTY[%d]", i), s, 1)
		if err != nil {
			if args.Quantity == 0 {
				return storefront.Request{}, "", err
			}
			pu.QuantityProblem = err.Error()
			call.Warn("%s; is_quantity %d is used", err, args.Quantity)
		}
		pu.Quantity = n
	}
	storefront.ReadEmail(call, &pu, "CUSTOMEREMAIL", f.first("CUSTOMEREMAIL"))
	return storefront.Request{Method: method, Args: args, Purchase: pu, Warnings: call.Warnings(),
		Confirmed: true, Event: event}, "", nil
}

// renewSubscription is QLM's method a renewal (IPN_LICENSE_TYPE[i]
// RENEWAL) is keyed as: it renews the line the subscription's first
// purchase keyed, found by IPN_LICENSE_REF[i], to IPN_LICENSE_EXP[i].
const renewSubscription = "renewsubscriptionhttp"

// expLayout is IPN_LICENSE_EXP's: 2Checkout's "Y-m-d H:i:s".
const expLayout = time.DateTime

// licenseExpiry reads IPN_LICENSE_EXP, also as a bare date.
func licenseExpiry(s string) (time.Time, bool) {
	for _, layout := range []string{expLayout, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
