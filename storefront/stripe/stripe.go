// Package stripe is the Stripe storefront, as QLM's guide sets it up
// (qlmdocs/3rd-party-integration/stripe-how-to-integrate-qlm-with-stripe-checkout.md
// in soraco/qlm): a webhook endpoint at QLM's QlmWebHookHandler
// (?is_vendor=stripe&is_user=...&is_pwd=...) receives Stripe's events, one
// event a call, signed with the endpoint's secret (Stripe-Signature), and
// each Stripe product's metadata carries QLM's arguments (is_productid,
// is_majorversion, ...). An event names its order without its lines, so
// keysmith reads them through Stripe's API with the account's secret key,
// as QLM does:
//
//   - checkout.session.completed keys each line item whose product names
//     is_productid, and mails the keys (checkout.session.async_payment_succeeded
//     likewise, for a payment method that completes later);
//   - invoice.payment_succeeded for a subscription's cycle renews the line
//     each subscribed product's checkout keyed: same serials, the expiry
//     moved to the end of the period paid for;
//   - charge.refunded, for a charge refunded in full, and
//     charge.dispute.created (a chargeback, or an inquiry) revoke what the
//     charge paid for, as the products' on_refund says: each line of the
//     checkout session of its payment intent, or the line of the
//     subscription its invoice billed. A partial refund keeps the keys
//     (Stripe refunds an amount, not a line);
//   - customer.subscription.deleted cancels the subscription's line, as
//     the product's on_cancel says (by default its keys run to the end of
//     the period paid for);
//   - every other event keys nothing.
//
// A line is named stripe:<checkout session or invoice id>-<the line's
// position>, so an event Stripe sends again keys nothing new; a
// revocation is one per event, so one sent again revokes once.
package stripe

import (
	"errors"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Kind is Stripe's storefront kind.
type Kind struct{}

const (
	// webHook is the one QLM method Stripe calls.
	webHook         = "qlmwebhookhandler"
	signatureHeader = "Stripe-Signature"
	// tolerance is how old a signature may be: Stripe's own default. It
	// bounds the replay of a captured call; Stripe signs each retry anew.
	tolerance = 5 * time.Minute
)

// httpClient calls Stripe's API. A call that waits on Stripe holds the
// webhook's answer, and Stripe sends an event again when it is not
// answered in time, so the wait is short.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// Read reads a notification's JSON body; QLM's arguments are the URL's.
func (Kind) Read(r *http.Request, _ *config.Provider, method string) (*storefront.Call, error) {
	return storefront.ReadNotification(r, method, "Stripe")
}

// Verify checks the Stripe-Signature header against the endpoint's signing
// secret, as stripe-go does: an HMAC SHA256 of the timestamp and the body,
// at most five minutes old. An event of another API version than
// stripe-go's is accepted: Decode reads the fields it needs in either
// shape. A provider without the secret relies on its other credentials
// (QLM's is_user/is_pwd in the endpoint's URL, basic auth, addresses);
// one with none of them refuses, since nothing would check the caller.
func (Kind) Verify(c *storefront.Call, p *config.Provider) error {
	secret := p.WebhookSecret()
	if secret == "" {
		return storefront.Unsigned(p, signatureHeader, "webhook secret")
	}
	_, err := webhook.ConstructEventWithOptions(c.Body, c.Header.Get(signatureHeader), secret,
		webhook.ConstructEventOptions{Tolerance: tolerance, IgnoreAPIVersionMismatch: true})
	var problem string
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhook.ErrNotSigned):
		problem = "missing (the endpoint's signing secret signs every event)"
	case errors.Is(err, webhook.ErrInvalidHeader):
		problem = "not Stripe's t=<timestamp>,v1=<signature>"
	case errors.Is(err, webhook.ErrTooOld):
		problem = "older than five minutes, or without a timestamp (a replayed call, or a clock that is off)"
	case errors.Is(err, webhook.ErrNoValidSignature):
		problem = "does not match the endpoint's signing secret"
	default:
		// Signed, but not JSON: stripe-go's message quotes the decoder.
		return qlm.BadRequest("body", "not a Stripe event: its JSON does not read")
	}
	return &qlm.BadRequestError{Status: http.StatusUnauthorized, Field: signatureHeader, Problem: problem}
}

// newClient is a client of Stripe's API (or the provider's api_url) with
// the provider's secret key. stripe-go's own log stays silent: a failure
// is returned, and logged by the API without the key.
func newClient(p *config.Provider) *stripego.Client {
	cfg := &stripego.BackendConfig{
		HTTPClient:    httpClient,
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
		// One retry of a network failure (stripe-go retries no answer of
		// Stripe's but a lock timeout); past it, Stripe sends the event
		// again later.
		MaxNetworkRetries: stripego.Int64(1),
	}
	if u := strings.TrimSpace(p.APIURL); u != "" {
		cfg.URL = stripego.String(u)
	}
	return stripego.NewClient(p.APIKey(), stripego.WithBackends(stripego.NewBackendsWithConfig(cfg)))
}
