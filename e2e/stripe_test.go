package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/storefront/stripe/stripetest"
)

// corpusStripe is a call of storefront/stripe/testdata/corpus.yaml: the
// event, and what Stripe's API holds when it is sent.
type corpusStripe struct {
	Event   string `yaml:"event"` // its id
	Type    string `yaml:"type"`
	Created int64  `yaml:"created"`
	// Products, Session, Invoices, Charges and Disputes are registered in
	// the stand-in.
	Products []stripetest.Product `yaml:"products"`
	Session  *stripetest.Session  `yaml:"session"`
	Invoices []stripetest.Invoice `yaml:"invoices"`
	Charges  []stripetest.Charge  `yaml:"charges"`
	Disputes []stripetest.Dispute `yaml:"disputes"`
	// Object is the event's data.object: raw JSON, or the id of a
	// registered object; by default the first dispute, else the first
	// charge, else the session, else the first invoice.
	Object string `yaml:"object"`
}

// stripeCall registers the call's objects in the stack's stand-in of
// Stripe's API and returns its event and what the request adds: the
// Content-Type, and the signature of the tests' endpoint secret.
func (s *stack) stripeCall(t *testing.T, c corpusCall, fill func(string) string) (string, func(*http.Request)) {
	t.Helper()
	// The placeholders are filled in every string of the call.
	raw, err := json.Marshal(c.Stripe)
	if err != nil {
		t.Fatal(err)
	}
	var st corpusStripe
	if err := json.Unmarshal([]byte(fill(string(raw))), &st); err != nil {
		t.Fatal(err)
	}
	s.stripe.AddProducts(st.Products...)
	if st.Session != nil {
		s.stripe.AddSession(*st.Session)
	}
	for _, in := range st.Invoices {
		s.stripe.AddInvoice(in)
	}
	for _, ch := range st.Charges {
		s.stripe.AddCharge(ch)
	}
	for _, dp := range st.Disputes {
		s.stripe.AddDispute(dp)
	}
	var object any
	switch {
	case strings.HasPrefix(strings.TrimSpace(st.Object), "{"):
		object = json.RawMessage(st.Object)
	case st.Object != "":
		object = s.stripe.Object(st.Object)
	case len(st.Disputes) > 0:
		object = s.stripe.Object(st.Disputes[0].ID)
	case len(st.Charges) > 0:
		object = s.stripe.Object(st.Charges[0].ID)
	case st.Session != nil:
		object = s.stripe.Object(st.Session.ID)
	case len(st.Invoices) > 0:
		object = s.stripe.Object(st.Invoices[0].ID)
	}
	body := stripetest.Event(st.Event, st.Type, st.Created, object)
	return string(body), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		now := time.Now()
		switch c.Signature {
		case "":
			r.Header.Set("Stripe-Signature", stripetest.Sign(body, testenv.StripeWebhookSecret, now))
		case "wrong":
			r.Header.Set("Stripe-Signature", stripetest.Sign(body, "whsec_not-the-endpoints", now))
		case "stale":
			r.Header.Set("Stripe-Signature", stripetest.Sign(body, testenv.StripeWebhookSecret, now.Add(-10*time.Minute)))
		}
		if c.ContentType != "" {
			r.Header.Set("Content-Type", c.ContentType)
		}
	}
}
