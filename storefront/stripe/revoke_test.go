package stripe

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/stripe/stripetest"
)

// paid registers session (app and a T-shirt, paid by pi_1) and its charge,
// refunded by refunds.
func paid(s *stripetest.Server, id string, refunds ...stripetest.Refund) stripetest.Charge {
	s.AddSession(session(id))
	ch := stripetest.Charge{ID: "ch_" + id, PaymentIntent: "pi_1", Amount: 11300, Currency: "eur", Created: created - 60, Refunds: refunds}
	s.AddCharge(ch)
	return ch
}

func refundEvent(s *stripetest.Server, id string, ch stripetest.Charge) []byte {
	s.AddCharge(ch)
	return stripetest.Event(id, chargeRefunded, created, s.Object(ch.ID))
}

// TestRefund: a charge refunded in full revokes each line of its checkout
// session that names a QLM product, in Stripe's words, the session found
// by the charge's payment intent.
func TestRefund(t *testing.T) {
	p, s := signedProvider(t)
	ch := paid(s, "cs_ref", stripetest.Refund{ID: "re_1", Reason: "requested_by_customer"})
	reading := mustRead(t, p, refundEvent(s, "evt_ref", ch))
	assert.Empty(t, reading.Requests)
	assert.Empty(t, reading.Skipped, "the T-shirt is not QLM's: nothing to say")
	assert.Equal(t, []storefront.Revocation{{
		Kind: storefront.Refund, Line: order.LineID{Provider: "stripe", PurchaseID: "cs_ref", RunningNo: "1"}, Event: "evt_ref",
		Reason: "Stripe charge ch_cs_ref refunded in full (re_1 requested_by_customer): checkout session cs_ref line 1",
	}}, reading.Revocations)
	assert.Equal(t, []string{
		"GET /v1/refunds?limit=10&charge=ch_cs_ref",
		"GET /v1/checkout/sessions?limit=10&payment_intent=pi_1",
		"GET /v1/checkout/sessions/cs_ref/line_items?limit=100&expand[0]=data.price.product",
	}, unescaped(s.Requests()))

	t.Run("in two refunds, the last completing it", func(t *testing.T) {
		ch := ch
		ch.Refunds = []stripetest.Refund{{ID: "re_a", Amount: 1000}, {ID: "re_b", Reason: "duplicate"}}
		reading := mustRead(t, p, refundEvent(s, "evt_ref2", ch))
		require.Len(t, reading.Revocations, 1)
		assert.Contains(t, reading.Revocations[0].Reason, "refunded in full (re_b duplicate, re_a):", "newest first, a reason when given")
	})
	t.Run("the same event again reads the same", func(t *testing.T) {
		again := mustRead(t, p, refundEvent(s, "evt_ref", ch))
		assert.Equal(t, reading, again)
	})
}

// TestRefundPartial: a partial refund keeps the keys (Stripe refunds an
// amount, not a line), and reads nothing.
func TestRefundPartial(t *testing.T) {
	p, s := openProvider(t)
	ch := paid(s, "cs_part", stripetest.Refund{ID: "re_1", Amount: 1500})
	reading := mustRead(t, p, refundEvent(s, "evt_part", ch))
	assert.Empty(t, reading.Revocations)
	assert.Equal(t, []string{"event evt_part (charge.refunded): partial refund of 1500 of 11300 eur (charge ch_cs_part): keys kept"}, reading.Skipped)
	assert.Empty(t, s.Requests())
}

// TestRefundOfSubscription: a subscription's charge has no checkout
// session of its own (its checkout collects through the first invoice):
// the invoice the payment intent paid names the subscription, whose line
// is revoked.
func TestRefundOfSubscription(t *testing.T) {
	p, s := openProvider(t)
	for _, reason := range []string{"subscription_create", "subscription_cycle"} {
		t.Run(reason, func(t *testing.T) {
			in := renewal("in_" + reason)
			in.BillingReason, in.PaymentIntent = reason, "pi_"+reason
			s.AddInvoice(in)
			ch := stripetest.Charge{ID: "ch_" + reason, PaymentIntent: "pi_" + reason, Amount: 6900, Refunds: []stripetest.Refund{{ID: "re_" + reason}}}
			reading := mustRead(t, p, refundEvent(s, "evt_"+reason, ch))
			assert.Equal(t, []storefront.Revocation{{
				Kind: storefront.Refund, Subscription: "sub_1", Event: "evt_" + reason,
				Reason: "Stripe charge ch_" + reason + " refunded in full (re_" + reason + "): invoice in_" + reason + " of subscription sub_1",
			}}, reading.Revocations)
			assert.Contains(t, unescaped(s.Requests()), "GET /v1/invoice_payments?limit=10&payment[payment_intent]=pi_"+reason+"&payment[type]=payment_intent")
		})
	}
}

// TestRefundOlderAPIVersion: before basil (2025-03-31) a charge names its
// invoice itself, and before 2022-11-15 it embeds its refunds.
func TestRefundOlderAPIVersion(t *testing.T) {
	p, s := openProvider(t)
	s.AddInvoice(renewal("in_old"))
	object := `{"id":"ch_old","object":"charge","amount":4900,"amount_refunded":4900,"refunded":true,"currency":"usd",
		"payment_intent":null,"invoice":"in_old",
		"refunds":{"object":"list","has_more":false,"url":"/v1/charges/ch_old/refunds","data":[
			{"id":"re_old","object":"refund","amount":4900,"charge":"ch_old","reason":"fraudulent","status":"succeeded"}]}}`
	reading, err := call(t, p, post("is_vendor=stripe", stripetest.Event("evt_old", chargeRefunded, created, json.RawMessage(object)), "", time.Time{}))
	require.NoError(t, err)
	assert.Equal(t, []storefront.Revocation{{
		Kind: storefront.Refund, Subscription: "sub_1", Event: "evt_old",
		Reason: "Stripe charge ch_old refunded in full (re_old fraudulent): invoice in_old of subscription sub_1",
	}}, reading.Revocations)
	assert.Equal(t, []string{"GET /v1/invoices/in_old"}, s.Requests(), "the refunds and the invoice as the event gives them")
}

// TestRefundNothingKeyed: a charge of no session and no invoice, or of a
// session or invoice that sold nothing keysmith keys, revokes nothing and
// is answered as handled.
func TestRefundNothingKeyed(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_shirts")
	cs.PaymentIntent = "pi_shirts"
	cs.LineItems = []stripetest.LineItem{{Product: "prod_shirt", UnitAmount: 1500}}
	s.AddSession(cs)
	manual := renewal("in_manual")
	manual.BillingReason, manual.Subscription, manual.PaymentIntent = "manual", "", "pi_manual"
	s.AddInvoice(manual)
	for pi, skipped := range map[string]string{
		"pi_none":   "charge ch_pi_none is of no checkout session and no invoice: nothing keysmith keyed",
		"pi_shirts": "checkout session cs_shirts of payment intent pi_shirts sold nothing keysmith keys",
		"pi_manual": "invoice in_manual of charge ch_pi_manual bills no subscription: keysmith keys no invoice but a subscription's",
		"":          "charge ch_ is of no checkout session and no invoice: nothing keysmith keyed",
	} {
		t.Run(pi, func(t *testing.T) {
			ch := stripetest.Charge{ID: "ch_" + pi, PaymentIntent: pi, Amount: 1500, Refunds: []stripetest.Refund{{}}}
			reading := mustRead(t, p, refundEvent(s, "evt_"+pi, ch))
			assert.Empty(t, reading.Revocations)
			assert.Equal(t, []string{"event evt_" + pi + " (charge.refunded): " + skipped}, reading.Skipped)
		})
	}
}

// TestDispute: a dispute names its charge, read through the API; the
// charge's lines are revoked as a chargeback, in Stripe's words.
func TestDispute(t *testing.T) {
	p, s := signedProvider(t)
	ch := paid(s, "cs_dis")
	s.AddDispute(stripetest.Dispute{ID: "dp_1", Charge: ch.ID, Reason: "fraudulent", Created: created})
	reading := mustRead(t, p, stripetest.Event("evt_dis", disputeCreated, created, s.Object("dp_1")))
	assert.Empty(t, reading.Requests)
	assert.Equal(t, []storefront.Revocation{{
		Kind: storefront.Chargeback, Line: order.LineID{Provider: "stripe", PurchaseID: "cs_dis", RunningNo: "1"}, Event: "evt_dis",
		Reason: "Stripe dispute dp_1 (fraudulent, needs_response) of charge ch_cs_dis: checkout session cs_dis line 1",
	}}, reading.Revocations)
	assert.Equal(t, "GET /v1/charges/ch_cs_dis", s.Requests()[0])

	t.Run("an inquiry", func(t *testing.T) {
		s.AddDispute(stripetest.Dispute{ID: "dp_inq", Charge: ch.ID, Reason: "product_not_received", Status: "warning_needs_response"})
		reading := mustRead(t, p, stripetest.Event("evt_inq", disputeCreated, created, s.Object("dp_inq")))
		require.Len(t, reading.Revocations, 1)
		assert.Contains(t, reading.Revocations[0].Reason, "(product_not_received, warning_needs_response)")
	})
	t.Run("of a subscription's charge", func(t *testing.T) {
		in := renewal("in_dis")
		in.PaymentIntent = "pi_dis"
		s.AddInvoice(in)
		s.AddCharge(stripetest.Charge{ID: "ch_sub", PaymentIntent: "pi_dis", Amount: 4900})
		s.AddDispute(stripetest.Dispute{ID: "dp_sub", Charge: "ch_sub"})
		reading := mustRead(t, p, stripetest.Event("evt_dsub", disputeCreated, created, s.Object("dp_sub")))
		require.Len(t, reading.Revocations, 1)
		assert.Equal(t, storefront.Chargeback, reading.Revocations[0].Kind)
		assert.Equal(t, "sub_1", reading.Revocations[0].Subscription)
	})
	t.Run("of a charge Stripe does not hold", func(t *testing.T) {
		body := stripetest.Event("evt_nosuch", disputeCreated, created, map[string]any{"id": "dp_x", "object": "dispute", "charge": "ch_nosuch"})
		_, err := call(t, p, post("is_vendor=stripe", body, webhookSecret, time.Now()))
		bad := refusal(t, err)
		assert.Equal(t, "data.object.charge", bad.Field)
		assert.Contains(t, bad.Reason(), "charge ch_nosuch is not found in Stripe")
	})
	t.Run("naming no charge", func(t *testing.T) {
		body := stripetest.Event("evt_nocharge", disputeCreated, created, map[string]any{"id": "dp_x", "object": "dispute", "charge": nil})
		_, err := call(t, p, post("is_vendor=stripe", body, webhookSecret, time.Now()))
		assert.Equal(t, "data.object.charge", refusal(t, err).Field)
	})
}

// TestSubscriptionDeleted: the subscription's line is cancelled, by the
// subscription's id (the product's on_cancel decides); nothing is read.
func TestSubscriptionDeleted(t *testing.T) {
	p, s := signedProvider(t)
	body := stripetest.Event("evt_del", subscriptionDeleted, created, map[string]any{
		"id": "sub_1", "object": "subscription", "status": "canceled", "customer": "cus_1", "canceled_at": created,
		"cancellation_details": map[string]any{"comment": nil, "feedback": nil, "reason": "cancellation_requested"},
	})
	reading := mustRead(t, p, body)
	assert.Empty(t, reading.Requests)
	assert.Equal(t, []storefront.Revocation{{Kind: storefront.Cancel, Subscription: "sub_1", Event: "evt_del",
		Reason: "Stripe subscription sub_1 deleted (cancellation_requested)"}}, reading.Revocations)
	assert.Empty(t, s.Requests())

	_, err := call(t, p, post("is_vendor=stripe", stripetest.Event("evt_del2", subscriptionDeleted, created, map[string]any{"object": "subscription"}), webhookSecret, time.Now()))
	assert.Equal(t, "data.object.id", refusal(t, err).Field)
}

// TestRevocationNotAnObject: an event whose object is not what its type
// says is refused.
func TestRevocationNotAnObject(t *testing.T) {
	p, _ := openProvider(t)
	for name, body := range map[string][]byte{
		"charge of text":       stripetest.Event("evt_1", chargeRefunded, created, "ch_1"),
		"charge of a session":  stripetest.Event("evt_1", chargeRefunded, created, map[string]any{"id": "cs_1", "object": "checkout.session"}),
		"charge without id":    stripetest.Event("evt_1", chargeRefunded, created, map[string]any{"object": "charge", "refunded": true}),
		"dispute of a number":  stripetest.Event("evt_1", disputeCreated, created, 7),
		"subscription of text": stripetest.Event("evt_1", subscriptionDeleted, created, "sub_1"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
			assert.Equal(t, http.StatusBadRequest, refusal(t, err).Status)
		})
	}
}

// TestRevocationAPIFailures: Stripe failing while a refund or a dispute is
// read is not the event's fault: an error that is not a refusal, for
// Stripe to send the event again, which then reads.
func TestRevocationAPIFailures(t *testing.T) {
	p, s := openProvider(t)
	ch := paid(s, "cs_fail", stripetest.Refund{})
	s.AddDispute(stripetest.Dispute{ID: "dp_fail", Charge: ch.ID})
	embedded := `{"id":"ch_cs_fail","object":"charge","amount":11300,"amount_refunded":11300,"refunded":true,"payment_intent":"pi_1",
		"refunds":{"object":"list","data":[{"id":"re_1","object":"refund","amount":11300}]}}`
	for name, body := range map[string][]byte{
		"refunds":           refundEvent(s, "evt_rfail", ch),
		"checkout sessions": stripetest.Event("evt_sfail", chargeRefunded, created, json.RawMessage(embedded)),
		"dispute's charge":  stripetest.Event("evt_dfail", disputeCreated, created, s.Object("dp_fail")),
	} {
		t.Run(name, func(t *testing.T) {
			s.FailNext(1, http.StatusInternalServerError)
			_, err := call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
			require.Error(t, err)
			_, refused := err.(*qlm.BadRequestError)
			assert.False(t, refused, "err = %v, want an error that is not a refusal", err)
			assert.NotContains(t, err.Error(), apiKey)
			reading, err := call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
			require.NoError(t, err, "the event sent again")
			assert.Len(t, reading.Revocations, 1)
		})
	}
}
