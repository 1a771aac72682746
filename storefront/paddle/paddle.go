// Package paddle is the Paddle Billing storefront. QLM has no guide for
// Paddle; keysmith follows QLM's webhook conventions (its Stripe and
// FastSpring guides): a notification destination of type url at QLM's
// QlmWebHookHandler (?is_vendor=paddle&is_user=...&is_pwd=...) receives
// Paddle's events, one event a call, signed with the destination's secret
// key (Paddle-Signature), and the prices' or products' custom_data carry
// QLM's arguments (is_productid, is_majorversion, ...), or the provider's
// products mapping names them by Paddle product id (pro_...):
//
//   - transaction.completed keys each item whose price or product names
//     is_productid, and mails the keys; a transaction Paddle created for a
//     subscription's renewal (origin subscription_recurring) renews the
//     line its subscription's first transaction keyed: same serials, the
//     expiry moved to the end of the billing period paid for;
//   - adjustment.created and adjustment.updated revoke what an approved
//     refund, or a chargeback, undoes (as the product's on_refund says);
//   - subscription.canceled ends the subscription's line (on_cancel);
//   - every other event keys nothing, and is answered as handled.
//
// A line is named paddle:<transaction id>-<the item's position>, so an
// event Paddle sends again keys nothing new.
//
// Paddle's notifications carry ids where they name other entities: a
// transaction names its customer (ctm_...) without an email address, and
// an adjustment names the transaction items (txnitm_...) it refunds
// without their positions. The provider's API key (api_key_env, optional)
// lets keysmith read both from Paddle's API; without it the buyer is not
// mailed and only a full adjustment is placed (see Decode).
package paddle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Kind is Paddle's storefront kind.
type Kind struct{}

const (
	// webHook is the one QLM method Paddle calls.
	webHook         = "qlmwebhookhandler"
	signatureHeader = "Paddle-Signature"
	// tolerance is how far a signature's timestamp may be from now. It
	// bounds the replay of a captured call; Paddle signs each retry anew.
	// (Paddle's SDKs allow five seconds; five minutes leaves room for a
	// clock that is off and a slow proxy, as Stripe's default does.)
	tolerance = 5 * time.Minute
	// maxSignatures bounds the h1 values a header may carry (Paddle sends
	// more than one while a secret is rotated).
	maxSignatures = 8
)

// now is the clock signatures are checked by.
var now = time.Now

// Read reads a notification's JSON body; QLM's arguments are the URL's.
func (Kind) Read(r *http.Request, _ *config.Provider, method string) (*storefront.Call, error) {
	return storefront.ReadNotification(r, method, "Paddle")
}

// Verify checks the Paddle-Signature header against the notification
// destination's secret key, as Paddle's webhook reference describes it:
// ts=<Unix seconds>;h1=<hex HMAC SHA256 of "<ts>:<raw body>">, one h1 or
// several (while a secret is rotated, one per secret); any h1 that matches
// passes, compared in constant time, and the timestamp must be within five
// minutes of now. A provider without the secret relies on its other
// credentials (QLM's is_user/is_pwd in the destination's URL, basic auth,
// addresses); one with none of them refuses, since nothing would check the
// caller.
func (Kind) Verify(c *storefront.Call, p *config.Provider) error {
	secret := p.WebhookSecret()
	if secret == "" {
		return storefront.Unsigned(p, signatureHeader, "webhook secret")
	}
	return checkSignature(c.Header.Get(signatureHeader), c.Body, secret, now())
}

// checkSignature checks one Paddle-Signature header at time t.
func checkSignature(header string, body []byte, secret string, t time.Time) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return unauthorized("missing (the notification destination's secret key signs every event)")
	}
	ts, sigs, ok := parseSignature(header)
	if !ok {
		return unauthorized("not Paddle's ts=<timestamp>;h1=<signature>")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte(":"))
	mac.Write(body)
	want := mac.Sum(nil)
	matched := false
	for _, s := range sigs {
		// Every h1 is compared, so the time taken says nothing of which.
		if hmac.Equal(s, want) {
			matched = true
		}
	}
	if !matched {
		return unauthorized("does not match the notification destination's secret key")
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // digits, checked by parseSignature
	if d := t.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return unauthorized("its timestamp is more than five minutes from now (a replayed call, or a clock that is off)")
	}
	return nil
}

// parseSignature reads ts and the h1 values of a header; names it does
// not know are left out, as Paddle may add schemes.
func parseSignature(header string) (ts string, sigs [][]byte, ok bool) {
	for part := range strings.SplitSeq(header, ";") {
		name, value, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, false
		}
		switch strings.TrimSpace(name) {
		case "ts":
			value = strings.TrimSpace(value)
			if ts != "" || value == "" || len(value) > 12 || strings.Trim(value, "0123456789") != "" {
				return "", nil, false
			}
			ts = value
		case "h1":
			sig, err := hex.DecodeString(strings.TrimSpace(value))
			if err != nil || len(sig) != sha256.Size || len(sigs) == maxSignatures {
				return "", nil, false
			}
			sigs = append(sigs, sig)
		}
	}
	return ts, sigs, ts != "" && len(sigs) > 0
}

func unauthorized(problem string) error {
	return &qlm.BadRequestError{Status: http.StatusUnauthorized, Field: signatureHeader, Problem: problem}
}
