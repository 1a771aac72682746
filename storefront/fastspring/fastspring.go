// Package fastspring is the FastSpring storefront, both ways QLM's guides
// set it up (qlmdocs/3rd-party-integration/fastspring/ in soraco/qlm):
//
//   - the license fulfillment's Remote Server Request (FastSpring Classic,
//     and the Contextual store's "Generate a License"): a form POST to
//     QLM's URL (GetActivationKey, GetActivationKeyWithExpiryDate,
//     RenewSubscriptionHttp, RenewMaintenancePlan) that waits for the
//     license in plain text, signed with the fulfillment's private key
//     (security_request_hash);
//   - the Contextual store's webhook (QlmWebHookHandler): a JSON body of
//     events, signed with the webhook's HMAC SHA256 secret (X-FS-Signature),
//     acknowledged at once with the ids of the events handled; its
//     order.completed keys each item and mails the keys, and tells a line
//     its remote request left waiting that the sale is complete.
//
// A line is named fastspring:<order reference>-<product path> both ways,
// so the remote request and the webhook of one purchase key one line.
package fastspring

import (
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // FastSpring's security_request_hash is MD5; it is checked, not chosen
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Kind is FastSpring's storefront kind.
type Kind struct{}

// QLM's methods as FastSpring's set-ups call them.
const (
	webHook = "qlmwebhookhandler"
	// hashField is the remote request's signature.
	hashField = "security_request_hash"
	// signatureHeader is the webhook's.
	signatureHeader = "X-FS-Signature"
	// maxItem bounds the product path that names a line's item.
	maxItem = 128
)

// request is a remote request's form, kept for its signature.
type request struct {
	query, form url.Values
}

// Read reads a remote request's form, or a webhook's JSON body.
func (Kind) Read(r *http.Request, _ *config.Provider, method string) (*storefront.Call, error) {
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	if method == webHook && r.Method == http.MethodPost {
		body, err := qlm.ReadBody(r)
		if err != nil {
			return nil, err
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				return nil, &qlm.BadRequestError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
					Problem: qlm.Quote(ct) + " is not application/json (FastSpring's webhook)"}
			}
		}
		c, err := qlm.NewCall(rawQuery, "")
		if err != nil {
			return nil, err
		}
		return &storefront.Call{Method: method, QLM: c, Header: r.Header, Body: body}, nil
	}
	if len(rawQuery) > qlm.MaxQueryBytes {
		return nil, &qlm.BadRequestError{Status: http.StatusRequestURITooLong, Field: "query", Problem: "longer than 8 KiB"}
	}
	form, err := qlm.ReadForm(r)
	if err != nil {
		return nil, err
	}
	c, err := qlm.NewCall(rawQuery, form)
	if err != nil {
		return nil, err
	}
	query, _ := qlm.ParseQuery(rawQuery) // read by NewCall above
	values, _ := qlm.ParseQuery(form)
	return &storefront.Call{Method: method, QLM: c, Header: r.Header, Body: []byte(form),
		Parsed: request{query: query, form: values}}, nil
}

// Verify checks the remote request's security_request_hash against the
// provider's private key, or the webhook's X-FS-Signature against its
// secret. A call whose own secret is not configured relies on the
// provider's other credentials (QLM's is_user/is_pwd, basic auth,
// addresses, or unauthenticated: true); a provider that has only the other
// call's secret refuses it, since nothing would check it.
func (Kind) Verify(c *storefront.Call, p *config.Provider) error {
	if c.Method == webHook && c.Parsed == nil {
		if p.WebhookSecret() == "" {
			return storefront.Unsigned(p, signatureHeader, "webhook secret")
		}
		got := strings.TrimSpace(c.Header.Get(signatureHeader))
		if got == "" {
			return unauthorized(signatureHeader, "missing (the webhook's HMAC SHA256 secret signs every call)")
		}
		mac := hmac.New(sha256.New, []byte(p.WebhookSecret()))
		mac.Write(c.Body)
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return unauthorized(signatureHeader, "does not match the webhook's secret")
		}
		return nil
	}
	if p.PrivateKey() == "" {
		return storefront.Unsigned(p, hashField, "private key")
	}
	req, ok := c.Parsed.(request)
	if !ok {
		return unauthorized(hashField, "missing (the fulfillment's private key signs every request)")
	}
	got := strings.ToLower(strings.TrimSpace(first(req.form, hashField)))
	if got == "" {
		got = strings.ToLower(strings.TrimSpace(first(req.query, hashField)))
	}
	if got == "" {
		return unauthorized(hashField, "missing (the fulfillment's private key signs every request)")
	}
	// FastSpring signs the parameters it posts; a set-up whose signer also
	// sees the URL's (PHP's $_REQUEST) signs those too. Either passes. As
	// in $_REQUEST, a posted parameter replaces the URL's of its name.
	all := url.Values{}
	for _, v := range []url.Values{req.query, req.form} {
		for name, values := range v {
			all[name] = values
		}
	}
	for _, signed := range []url.Values{req.form, all} {
		if subtle.ConstantTimeCompare([]byte(got), []byte(securityHash(signed, p.PrivateKey()))) == 1 {
			return nil
		}
	}
	return unauthorized(hashField, "does not match the fulfillment's private key")
}

// securityHash is FastSpring's security_request_hash: the MD5, in hex, of
// every parameter's value but the hash's own, in the order of the
// parameters' names, followed by the private key.
func securityHash(v url.Values, privateKey string) string {
	h := md5.New() //nolint:gosec // FastSpring's choice
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range v {
			if name != hashField && !yield(name) {
				return
			}
		}
	}) {
		for _, value := range v[name] {
			h.Write([]byte(value))
		}
	}
	h.Write([]byte(privateKey))
	return hex.EncodeToString(h.Sum(nil))
}

func first(v url.Values, name string) string {
	if vs := v[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func unauthorized(field, problem string) error {
	return &qlm.BadRequestError{Status: http.StatusUnauthorized, Field: field, Problem: problem}
}

// Decode reads a remote request's one line, or a webhook's items.
func (Kind) Decode(_ context.Context, c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	if c.Method == webHook && c.Parsed == nil {
		return decodeWebhook(c, p)
	}
	req, err := decodeRemote(c.QLM.Fork(), p)
	if err != nil {
		return storefront.Reading{}, err
	}
	req.Method = c.Method
	return storefront.Reading{Requests: []storefront.Request{req}}, nil
}
