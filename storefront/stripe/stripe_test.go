package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/storefronttest"
	"github.com/keysmith/keysmith/storefront/stripe/stripetest"
)

// The secrets of the test providers, through these environment variables.
// No error, warning or skip reason may show either.
const (
	apiKeyEnv        = "KEYSMITH_STRIPE_UNIT_API_KEY"
	webhookSecretEnv = "KEYSMITH_STRIPE_UNIT_WEBHOOK_SECRET"
	apiKey           = "sk_test_unit-4f1a-never-echo"
	webhookSecret    = "whsec_unit-9c2e-never-echo"
)

// created is the events' time: 2026-12-01 10:00 UTC.
const created = 1796119200

// The products of every test: app as QLM's guide writes a subscription
// product's metadata, with one field of the vendor's own; shirt is not
// QLM's; mapped is QLM's through the provider's products only; both has
// metadata and a mapping, the metadata winning.
var (
	app = stripetest.Product{ID: "prod_app", Name: "Demo App", Metadata: map[string]string{
		"is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "is_features": "0:1",
		"is_licensemodel": "subscription", "is_vendor": "stripe", "is_emailtemplate": "1. New Order",
		"is_send_mail": "true", "is_renewal_emailtemplate": "2. Renewal", "is_send_renewal_mail": "false",
		"sku": "DA-1",
	}}
	shirt  = stripetest.Product{ID: "prod_shirt", Name: "T-shirt", Metadata: map[string]string{"size": "L"}}
	mapped = stripetest.Product{ID: "prod_mapped", Name: "Mapped Tool"}
	both   = stripetest.Product{ID: "prod_both", Name: "Both", Metadata: map[string]string{"is_productid": "1", "is_features": "0:3"}}
)

const productsYAML = `
    products:
      prod_mapped: "is_productid=7&is_majorversion=3&is_minorversion=1"
      prod_both: "is_productid=7&is_majorversion=3&is_minorversion=1&is_features=1:1&is_licensemodel=trial"
`

// newProvider is the stripe provider of a configuration whose provider
// entry adds extra (YAML lines indented four spaces), pointed at a new
// stand-in of Stripe's API that knows the products.
func newProvider(t *testing.T, extra string) (*config.Provider, *stripetest.Server) {
	t.Helper()
	t.Setenv(apiKeyEnv, apiKey)
	t.Setenv(webhookSecretEnv, webhookSecret)
	doc := "providers:\n  - name: stripe\n    kind: stripe\n    api_key_env: " + apiKeyEnv + "\n" + extra + productsYAML +
		"products:\n  - {id: 1, name: Demo, major: 1, minor: 0}\nmail: {from: keys@example.com}\n"
	c, err := config.Parse([]byte(doc))
	require.NoError(t, err, "config:\n%s", doc)
	p, ok := c.Provider("stripe")
	require.True(t, ok)
	s := stripetest.NewServer(t, apiKey)
	s.AddProducts(app, shirt, mapped, both)
	require.NoError(t, p.SetAPIURL(s.URL()))
	return p, s
}

// signedProvider checks Stripe-Signature; openProvider checks nothing.
func signedProvider(t *testing.T) (*config.Provider, *stripetest.Server) {
	return newProvider(t, "    webhook_secret_env: "+webhookSecretEnv+"\n")
}

func openProvider(t *testing.T) (*config.Provider, *stripetest.Server) {
	return newProvider(t, "    unauthenticated: true\n")
}

const webhookPath = "/qlmLicenseServer/qlmservice.asmx/QlmWebHookHandler"

// post is Stripe's call with body, signed with secret at the time given
// unless secret is "".
func post(query string, body []byte, secret string, at time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, webhookPath+"?"+query, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if secret != "" {
		r.Header.Set(signatureHeader, stripetest.Sign(body, secret, at))
	}
	return r
}

// call reads, verifies and decodes a call as the API does.
func call(t *testing.T, p *config.Provider, r *http.Request) (storefront.Reading, error) {
	t.Helper()
	return storefronttest.Serve(Kind{}, r, p, webHook)
}

// mustRead is the reading of an event that must be accepted, sent as
// Stripe sends it; it checks what holds for every one.
func mustRead(t *testing.T, p *config.Provider, body []byte) storefront.Reading {
	t.Helper()
	reading, err := call(t, p, post("is_vendor=stripe", body, webhookSecret, time.Now()))
	require.NoError(t, err)
	assert.True(t, reading.Notify)
	var e struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &e))
	assert.Equal(t, []string{e.ID}, reading.Events, "one event a call")
	for _, req := range reading.Requests {
		assert.True(t, req.Confirmed, "an event reports the sale complete")
		assert.Equal(t, e.ID, req.Event)
		assert.True(t, req.Purchase.UTF8)
		assert.NotEmpty(t, req.Purchase.PurchaseID)
		assert.NotEmpty(t, req.Purchase.RunningNo)
		for name := range req.Purchase.Fields {
			assert.False(t, strings.HasPrefix(strings.ToLower(name), "is_"), "Fields holds argument %q", name)
		}
		for _, w := range req.Warnings {
			checkMessage(t, w)
		}
	}
	for _, s := range reading.Skipped {
		checkMessage(t, s)
	}
	return reading
}

// refusal checks that err is a *qlm.BadRequestError itself (the API
// answers nothing else with its reason) with a clean reason.
func refusal(t *testing.T, err error) *qlm.BadRequestError {
	t.Helper()
	require.Error(t, err)
	bad, ok := err.(*qlm.BadRequestError)
	require.True(t, ok, "err = %v (%T), want *qlm.BadRequestError", err, err)
	checkMessage(t, bad.Reason())
	return bad
}

// checkMessage holds what may go back to Stripe or into a log to one
// printable line without a secret.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	assert.NotContains(t, msg, apiKey)
	assert.NotContains(t, msg, webhookSecret)
	assert.True(t, msg != "" && utf8.ValidString(msg) && !strings.ContainsFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }),
		"message %q is not one printable line", msg)
}

// session is a one-time checkout of app and a T-shirt, as Checkout
// completes it.
func session(id string) stripetest.Session {
	return stripetest.Session{
		ID: id, Created: created - 60, Customer: "cus_1", PaymentIntent: "pi_1", Currency: "eur",
		Details: stripetest.Details{Email: "Ada Buyer <ada@example.com>", Name: "Ada Buyer", Phone: "+49 30 1234",
			Address: &stripetest.Address{Line1: "Unter den Linden 1", City: "Berlin", State: "BE", PostalCode: "10117", Country: "DE"}},
		LineItems: []stripetest.LineItem{
			{Product: "prod_app", Quantity: 2, UnitAmount: 4900, Description: "Demo App"},
			{Product: "prod_shirt", Quantity: 1, UnitAmount: 1500, Description: "T-shirt"},
		},
	}
}

func checkoutEvent(s *stripetest.Server, id string, cs stripetest.Session) []byte {
	s.AddSession(cs)
	return stripetest.Event(id, checkoutCompleted, created, s.Object(cs.ID))
}

func TestCheckoutCompleted(t *testing.T) {
	p, s := signedProvider(t)
	reading := mustRead(t, p, checkoutEvent(s, "evt_1", session("cs_test_1")))
	require.Len(t, reading.Requests, 1, "the T-shirt is not QLM's")
	assert.Equal(t, []string{"event evt_1 (checkout.session.completed): session cs_test_1 line 2: product prod_shirt names no is_productid in its metadata, and the provider's products do not map it"}, reading.Skipped)
	req := reading.Requests[0]
	assert.Equal(t, "getactivationkey", req.Method)
	assert.Equal(t, storefront.Purchase{
		PurchaseID: "cs_test_1", RunningNo: "1", PurchaseDate: time.Unix(created, 0).UTC(), Quantity: 2,
		RegName: "Ada Buyer", Email: "ada@example.com", Phone: "+49 30 1234",
		Street: "Unter den Linden 1", City: "Berlin", State: "BE", Zip: "10117", ISOCode: "DE", UTF8: true,
		Fields: map[string]string{
			"event": "evt_1", "event_type": "checkout.session.completed", "session": "cs_test_1", "mode": "payment",
			"payment_intent": "pi_1", "customer": "cus_1", "product": "prod_app", "product_name": "Demo App",
			"price": "price_prod_app", "currency": "eur", "amount_total": "9800", "livemode": "false", "quantity": "2",
			"metadata.sku": "DA-1",
		},
	}, req.Purchase)
	assert.Equal(t, "Ada Buyer", req.Purchase.FullName())
	a := req.Args
	assert.True(t, a.HasProductID && a.HasVersion)
	assert.Equal(t, []uint32{1, 1, 0}, []uint32{a.ProductID, a.Major, a.Minor})
	assert.Equal(t, "1. New Order", a.EmailTemplate)
	assert.True(t, a.SendMail)
	assert.Equal(t, "subscription", a.LicenseModel)
	assert.Equal(t, map[string]string{
		"is_vendor": "stripe", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "is_features": "0:1",
		"is_licensemodel": "subscription", "is_emailtemplate": "1. New Order", "is_send_mail": "true",
	}, a.Raw, "the renewal's metadata is not the purchase's")
	assert.Empty(t, req.Warnings)
	assert.True(t, a.ExpDate.IsZero(), "a one-time purchase does not expire")
	// The line items were read with their products expanded.
	assert.Equal(t, []string{"GET /v1/checkout/sessions/cs_test_1/line_items?limit=100&expand[0]=data.price.product"}, unescaped(s.Requests()))
}

func unescaped(rs []string) []string {
	for i, r := range rs {
		rs[i] = strings.NewReplacer("%5B", "[", "%5D", "]").Replace(r)
	}
	return rs
}

// TestCheckoutArgs: the URL's arguments win over the product's metadata,
// which wins over the provider's products mapping, argument by argument.
func TestCheckoutArgs(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_args")
	cs.LineItems = []stripetest.LineItem{{Product: "prod_both"}, {Product: "prod_mapped"}, {Product: "prod_app"}}
	body := checkoutEvent(s, "evt_args", cs)
	reading, err := call(t, p, post("is_vendor=stripe&is_features=2:2", body, "", time.Time{}))
	require.NoError(t, err)
	require.Len(t, reading.Requests, 3)
	byLine := map[string]qlm.Args{}
	for _, r := range reading.Requests {
		byLine[r.Purchase.RunningNo] = r.Args
		assert.Equal(t, "2:2", r.Args.Raw["is_features"], "line %s: the URL wins", r.Purchase.RunningNo)
	}
	assert.Equal(t, uint32(1), byLine["1"].ProductID, "the metadata wins over the mapping")
	assert.Equal(t, "trial", byLine["1"].LicenseModel, "the mapping adds what the metadata lacks")
	assert.Equal(t, uint32(7), byLine["2"].ProductID, "the mapping names a product without metadata")
	assert.Equal(t, uint32(1), byLine["3"].ProductID)
}

// TestCheckoutNoProducts: a session that sells nothing of QLM's keys
// nothing, and is answered as handled.
func TestCheckoutNoProducts(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_shirts")
	cs.LineItems = []stripetest.LineItem{{Product: "prod_shirt"}, {Product: "prod_shirt", Quantity: 3}}
	reading := mustRead(t, p, checkoutEvent(s, "evt_shirts", cs))
	assert.Empty(t, reading.Requests)
	assert.Len(t, reading.Skipped, 2)
}

// TestCheckoutManyLines: line items past the first page are read too, in
// order.
func TestCheckoutManyLines(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_many")
	cs.LineItems = nil
	for range 130 {
		cs.LineItems = append(cs.LineItems, stripetest.LineItem{Product: "prod_app"})
	}
	reading := mustRead(t, p, checkoutEvent(s, "evt_many", cs))
	require.Len(t, reading.Requests, 130)
	assert.Equal(t, "130", reading.Requests[129].Purchase.RunningNo)
	assert.Len(t, s.Requests(), 2, "two pages of 100")
}

func TestCheckoutBuyer(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_buyer")
	cs.Details = stripetest.Details{Email: "not an address"}
	reading := mustRead(t, p, checkoutEvent(s, "evt_buyer", cs))
	require.Len(t, reading.Requests, 1)
	req := reading.Requests[0]
	assert.Empty(t, req.Purchase.Email)
	assert.Contains(t, req.Warnings, "email: not an email address; the buyer is not emailed (it is stored with the order)")
	assert.NotContains(t, strings.Join(req.Warnings, " "), "not an address", "the value is not echoed")
}

func TestCheckoutQuantity(t *testing.T) {
	p, s := openProvider(t)
	cs := session("cs_qty")
	cs.LineItems = []stripetest.LineItem{{Product: "prod_app", Quantity: 1 << 40}}
	_, err := call(t, p, post("is_vendor=stripe", checkoutEvent(s, "evt_qty", cs), "", time.Time{}))
	bad := refusal(t, err)
	assert.Equal(t, "line_items[0].quantity", bad.Field)
}

// TestCheckoutSubscription: a subscription's checkout names its
// subscription, by which its renewals find the line, and its key runs to
// the end of the period the first invoice paid for.
func TestCheckoutSubscription(t *testing.T) {
	p, s := openProvider(t)
	end := int64(1798797600) // 2027-01-01 10:00 UTC
	s.AddInvoice(stripetest.Invoice{ID: "in_first", BillingReason: "subscription_create", Subscription: "sub_1", Created: created,
		Lines: []stripetest.InvoiceLine{{Product: "prod_app", Amount: 4900, PeriodStart: created, PeriodEnd: end}}})
	cs := session("cs_sub")
	cs.Mode, cs.Subscription, cs.Invoice = "subscription", "sub_1", "in_first"
	cs.LineItems = []stripetest.LineItem{{Product: "prod_app", UnitAmount: 4900, Interval: "month"}}
	reading := mustRead(t, p, checkoutEvent(s, "evt_sub", cs))
	require.Len(t, reading.Requests, 1)
	req := reading.Requests[0]
	assert.Equal(t, "getactivationkey", req.Method)
	assert.Equal(t, "sub_1", req.Purchase.Subscription)
	assert.Equal(t, "sub_1", req.Purchase.Fields["subscription"])
	assert.False(t, req.Purchase.Renewal(), "the first purchase of the subscription")
	assert.Equal(t, time.Unix(end, 0).UTC(), req.Args.ExpDate)
	assert.Empty(t, req.Warnings)

	t.Run("a duration in the metadata wins", func(t *testing.T) {
		before := len(s.Requests())
		reading, err := call(t, p, post("is_vendor=stripe&is_expduration=365", checkoutEvent(s, "evt_sub2", cs), "", time.Time{}))
		require.NoError(t, err)
		assert.True(t, reading.Requests[0].Args.ExpDate.IsZero())
		assert.Equal(t, 365, reading.Requests[0].Args.ExpDuration)
		assert.Len(t, s.Requests(), before+1, "no invoice read")
	})
	t.Run("no first invoice", func(t *testing.T) {
		cs := cs
		cs.ID, cs.Invoice = "cs_sub3", ""
		reading := mustRead(t, p, checkoutEvent(s, "evt_sub3", cs))
		assert.True(t, reading.Requests[0].Args.ExpDate.IsZero())
		assert.Len(t, reading.Requests[0].Warnings, 1)
	})
}

func TestCheckoutNotKeyed(t *testing.T) {
	p, s := openProvider(t)
	for name, edit := range map[string]func(*stripetest.Session){
		"unpaid": func(cs *stripetest.Session) { cs.PaymentStatus = "unpaid" },
		"setup":  func(cs *stripetest.Session) { cs.Mode = "setup" },
	} {
		t.Run(name, func(t *testing.T) {
			cs := session("cs_" + name)
			edit(&cs)
			reading := mustRead(t, p, checkoutEvent(s, "evt_"+name, cs))
			assert.Empty(t, reading.Requests)
			assert.Len(t, reading.Skipped, 1)
		})
	}
	// A payment that completes later keys the session then.
	cs := session("cs_async")
	s.AddSession(cs)
	reading := mustRead(t, p, stripetest.Event("evt_async", checkoutAsyncSuccess, created, s.Object(cs.ID)))
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, "cs_async", reading.Requests[0].Purchase.PurchaseID)
}

// renewal is a subscription's cycle invoice: app, a one-off item of no
// subscription, and the T-shirt club.
func renewal(id string) stripetest.Invoice {
	return stripetest.Invoice{
		ID: id, BillingReason: "subscription_cycle", Created: created, Customer: "cus_1", Currency: "eur",
		CustomerEmail: "ada@example.com", CustomerName: "Ada Buyer", Subscription: "sub_1",
		Lines: []stripetest.InvoiceLine{
			{Product: "prod_app", Amount: 4900, Quantity: 1, PeriodStart: 1798797600, PeriodEnd: 1801476000},
			{Product: "prod_app", Amount: 500, Subscription: "-", Description: "setup fee"},
			{Product: "prod_shirt", Amount: 1500, PeriodStart: 1798797600, PeriodEnd: 1801476000},
		},
	}
}

func invoiceEvent(s *stripetest.Server, id string, in stripetest.Invoice) []byte {
	s.AddInvoice(in)
	return stripetest.Event(id, invoicePaid, created, s.Object(in.ID))
}

func TestInvoiceRenewal(t *testing.T) {
	p, s := signedProvider(t)
	reading := mustRead(t, p, invoiceEvent(s, "evt_renew", renewal("in_2")))
	require.Len(t, reading.Requests, 1)
	assert.Len(t, reading.Skipped, 2, "the fee is of no subscription, the T-shirt not QLM's")
	req := reading.Requests[0]
	assert.Equal(t, "renewsubscriptionhttp", req.Method)
	assert.Equal(t, storefront.Purchase{
		PurchaseID: "in_2", RunningNo: "1", PurchaseDate: time.Unix(created, 0).UTC(), Quantity: 1,
		RegName: "Ada Buyer", Email: "ada@example.com", Subscription: "sub_1",
		ExpiryDate: time.Unix(1801476000, 0).UTC(), UTF8: true,
		Fields: map[string]string{
			"event": "evt_renew", "event_type": "invoice.payment_succeeded", "invoice": "in_2",
			"billing_reason": "subscription_cycle", "subscription": "sub_1", "customer": "cus_1",
			"product": "prod_app", "product_name": "Demo App", "price": "price_prod_app", "currency": "eur",
			"amount": "4900", "livemode": "false", "quantity": "1",
			"period_start": "1798797600", "period_end": "1801476000", "metadata.sku": "DA-1",
		},
	}, req.Purchase)
	assert.False(t, req.Purchase.Renewal(), "found by its subscription, not by a key")
	assert.Equal(t, "2. Renewal", req.Args.EmailTemplate, "is_renewal_emailtemplate")
	assert.False(t, req.Args.SendMail, "is_send_renewal_mail")
	assert.Empty(t, req.Warnings)
	// The products came from the API, once each.
	assert.ElementsMatch(t, []string{"GET /v1/products/prod_app", "GET /v1/products/prod_shirt"}, s.Requests())
}

// TestInvoiceOlderAPIVersion: an endpoint of an API version before basil
// (2025-03-31) sends the subscription at the invoice's and the line's top
// level, and each line's price.
func TestInvoiceOlderAPIVersion(t *testing.T) {
	p, _ := openProvider(t)
	object := `{"id":"in_old","object":"invoice","billing_reason":"subscription_cycle","created":1796119200,
		"customer":"cus_1","customer_email":"ada@example.com","currency":"usd","subscription":"sub_old",
		"lines":{"object":"list","has_more":false,"url":"/v1/invoices/in_old/lines","data":[
			{"id":"il_1","object":"line_item","amount":4900,"currency":"usd","type":"subscription","subscription":"sub_old",
			 "period":{"start":1798797600,"end":1801476000},"price":{"id":"price_1","object":"price","product":"prod_app"},"quantity":1},
			{"id":"il_2","object":"line_item","amount":100,"currency":"usd","type":"subscription",
			 "period":{"start":1798797600,"end":1801476000},"price":{"id":"price_2","object":"price","product":"prod_mapped"},"quantity":1},
			{"id":"il_3","object":"line_item","amount":100,"currency":"usd","type":"invoiceitem","subscription":null,
			 "period":{"start":1798797600,"end":1798797600},"price":{"id":"price_3","object":"price","product":"prod_app"},"quantity":1}]}}`
	body := stripetest.Event("evt_old", invoicePaid, created, json.RawMessage(object))
	reading, err := call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
	require.NoError(t, err)
	require.Len(t, reading.Requests, 2, "the invoice item renews nothing")
	assert.Len(t, reading.Skipped, 1)
	req := reading.Requests[0]
	assert.Equal(t, "sub_old", req.Purchase.Subscription)
	assert.Equal(t, "prod_app", req.Purchase.Fields["product"])
	assert.Equal(t, "price_1", req.Purchase.Fields["price"])
	assert.Equal(t, time.Unix(1801476000, 0).UTC(), req.Purchase.ExpiryDate)
	assert.Equal(t, "2. Renewal", req.Args.EmailTemplate)
	assert.Equal(t, uint32(7), reading.Requests[1].Args.ProductID)
	assert.Equal(t, "sub_old", reading.Requests[1].Purchase.Subscription, "the invoice's, for a line that names none")
}

// TestInvoiceManyLines: an invoice whose embedded lines are one page of
// more has all of them read through the API.
func TestInvoiceManyLines(t *testing.T) {
	p, s := openProvider(t)
	in := renewal("in_many")
	in.Lines = nil
	for range 12 {
		in.Lines = append(in.Lines, stripetest.InvoiceLine{Product: "prod_app", Amount: 1, PeriodEnd: 1801476000})
	}
	reading := mustRead(t, p, invoiceEvent(s, "evt_inmany", in))
	assert.Len(t, reading.Requests, 12)
	assert.Contains(t, unescaped(s.Requests()), "GET /v1/invoices/in_many/lines?limit=100")
}

func TestInvoiceNotARenewal(t *testing.T) {
	p, s := openProvider(t)
	for _, reason := range []string{"subscription_create", "manual", "subscription_update"} {
		in := renewal("in_" + reason)
		in.BillingReason = reason
		reading := mustRead(t, p, invoiceEvent(s, "evt_"+reason, in))
		assert.Empty(t, reading.Requests, reason)
		assert.Len(t, reading.Skipped, 1)
	}
	assert.Empty(t, s.Requests(), "nothing read")
}

// TestOtherEvents: any other event is answered as handled and keys (and
// revokes) nothing.
func TestOtherEvents(t *testing.T) {
	p, s := openProvider(t)
	for _, typ := range []string{"customer.subscription.updated", "payment_intent.succeeded", "charge.refund.updated"} {
		body := stripetest.Event("evt_"+typ, typ, created, map[string]any{"id": "sub_1", "object": "subscription", "status": "canceled"})
		reading := mustRead(t, p, body)
		assert.Empty(t, reading.Requests)
		assert.Empty(t, reading.Revocations)
		assert.Equal(t, []string{fmt.Sprintf("event evt_%s (%s): not an event keysmith keys", typ, typ)}, reading.Skipped)
	}
	assert.Empty(t, s.Requests())
}

func TestSignature(t *testing.T) {
	p, s := signedProvider(t)
	body := checkoutEvent(s, "evt_sig", session("cs_sig"))
	now := time.Now()
	for name, header := range map[string]string{
		"missing":       "",
		"wrong secret":  stripetest.Sign(body, "whsec_other", now),
		"of other body": stripetest.Sign(append([]byte(" "), body...), webhookSecret, now),
		"stale":         stripetest.Sign(body, webhookSecret, now.Add(-6*time.Minute)),
		"no timestamp":  strings.Split(stripetest.Sign(body, webhookSecret, now), ",")[1],
		"garbage":       "not a signature",
		"the api key":   stripetest.Sign(body, apiKey, now),
	} {
		t.Run(name, func(t *testing.T) {
			r := post("is_vendor=stripe", body, "", time.Time{})
			if header != "" {
				r.Header.Set(signatureHeader, header)
			}
			_, err := call(t, p, r)
			bad := refusal(t, err)
			assert.Equal(t, http.StatusUnauthorized, bad.Status)
			assert.Equal(t, signatureHeader, bad.Field)
		})
	}
	t.Run("right", func(t *testing.T) {
		mustRead(t, p, body)
	})
	t.Run("right, with a rolled secret's second signature", func(t *testing.T) {
		r := post("is_vendor=stripe", body, webhookSecret, now)
		other := strings.Split(stripetest.Sign(body, "whsec_old", now), ",")[1]
		r.Header.Set(signatureHeader, r.Header.Get(signatureHeader)+","+other)
		_, err := call(t, p, r)
		require.NoError(t, err)
	})
	t.Run("signed, not JSON", func(t *testing.T) {
		_, err := call(t, p, post("is_vendor=stripe", []byte("{not json"), webhookSecret, now))
		assert.Equal(t, http.StatusBadRequest, refusal(t, err).Status)
	})
	t.Run("unchecked without a secret", func(t *testing.T) {
		open, os := openProvider(t)
		r := post("is_vendor=stripe", checkoutEvent(os, "evt_sig", session("cs_sig")), "", time.Time{})
		r.Header.Set(signatureHeader, "wrong")
		_, err := call(t, open, r)
		require.NoError(t, err)
	})
	t.Run("refused with nothing to check by", func(t *testing.T) {
		bare := &config.Provider{Name: "stripe", Kind: config.KindStripe}
		c, err := Kind{}.Read(post("is_vendor=stripe", body, "", time.Time{}), bare, webHook)
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, refusal(t, Kind{}.Verify(c, bare)).Status)
	})
}

func TestRead(t *testing.T) {
	p, s := openProvider(t)
	body := checkoutEvent(s, "evt_read", session("cs_read"))
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "", "application/json; =bad"} {
		r := post("is_vendor=stripe", body, "", time.Time{})
		r.Header.Set("Content-Type", ct)
		_, err := call(t, p, r)
		assert.Equal(t, http.StatusUnsupportedMediaType, refusal(t, err).Status, ct)
	}
	_, err := Kind{}.Read(post("is_vendor=stripe", body, "", time.Time{}), p, "getactivationkey")
	assert.Equal(t, "method", refusal(t, err).Field)
	r := httptest.NewRequest(http.MethodGet, webhookPath+"?is_vendor=stripe", nil)
	_, err = Kind{}.Read(r, p, webHook)
	assert.Equal(t, "method", refusal(t, err).Field)
	big := post("is_vendor=stripe", make([]byte, qlm.MaxBodyBytes+1), "", time.Time{})
	_, err = Kind{}.Read(big, p, webHook)
	assert.Equal(t, http.StatusRequestEntityTooLarge, refusal(t, err).Status)
}

func TestNotAnEvent(t *testing.T) {
	p, _ := openProvider(t)
	for name, body := range map[string]string{
		"not JSON":        `{"id": "evt_1", "type": `,
		"no data":         `{"id": "evt_1", "type": "checkout.session.completed"}`,
		"no id":           `{"type": "checkout.session.completed", "data": {"object": {"id": "cs_1"}}}`,
		"session no id":   string(stripetest.Event("evt_1", checkoutCompleted, created, map[string]any{"object": "checkout.session"})),
		"invoice of text": string(stripetest.Event("evt_1", invoicePaid, created, "in_1")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, p, post("is_vendor=stripe", []byte(body), "", time.Time{}))
			assert.Equal(t, http.StatusBadRequest, refusal(t, err).Status)
		})
	}
}

// TestAPIFailures: Stripe failing, or refusing the key, is not the event's
// fault: an error the API answers 503, for Stripe to send the event again.
// An object Stripe does not know is refused.
func TestAPIFailures(t *testing.T) {
	p, s := openProvider(t)
	body := checkoutEvent(s, "evt_fail", session("cs_fail"))
	notRefusal := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		_, bad := err.(*qlm.BadRequestError)
		assert.False(t, bad, "err = %v, want an error that is not a refusal", err)
		assert.NotContains(t, err.Error(), apiKey)
	}
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s.FailNext(1, status)
			_, err := call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
			notRefusal(t, err)
			_, err = call(t, p, post("is_vendor=stripe", body, "", time.Time{}))
			require.NoError(t, err, "the event sent again")
		})
	}
	t.Run("network", func(t *testing.T) {
		down, _ := openProvider(t)
		require.NoError(t, down.SetAPIURL("http://127.0.0.1:1"))
		_, err := call(t, down, post("is_vendor=stripe", body, "", time.Time{}))
		notRefusal(t, err)
	})
	t.Run("wrong key", func(t *testing.T) {
		other := stripetest.NewServer(t, "sk_test_other")
		other.AddSession(session("cs_fail"))
		wrong, _ := openProvider(t)
		require.NoError(t, wrong.SetAPIURL(other.URL()))
		_, err := call(t, wrong, post("is_vendor=stripe", body, "", time.Time{}))
		notRefusal(t, err)
	})
	t.Run("unknown session", func(t *testing.T) {
		unknown := stripetest.Event("evt_unknown", checkoutCompleted, created, map[string]any{"id": "cs_nosuch", "object": "checkout.session", "mode": "payment"})
		_, err := call(t, p, post("is_vendor=stripe", unknown, "", time.Time{}))
		bad := refusal(t, err)
		assert.Equal(t, http.StatusBadRequest, bad.Status)
		assert.Contains(t, bad.Reason(), "cs_nosuch is not found in Stripe")
	})
	t.Run("unknown product", func(t *testing.T) {
		in := renewal("in_noproduct")
		in.Lines[0].Product = "prod_gone"
		_, err := call(t, p, post("is_vendor=stripe", invoiceEvent(s, "evt_noproduct", in), "", time.Time{}))
		bad := refusal(t, err)
		assert.Equal(t, "lines[0].product", bad.Field)
	})
}

// TestDecodeTwice: decoding a call again reads the same, as the API does
// when a line of it is retried.
func TestDecodeTwice(t *testing.T) {
	p, s := openProvider(t)
	body := checkoutEvent(s, "evt_twice", session("cs_twice"))
	c, err := Kind{}.Read(post("is_vendor=stripe", body, "", time.Time{}), p, webHook)
	require.NoError(t, err)
	first, err := Kind{}.Decode(context.Background(), c, p)
	require.NoError(t, err)
	second, err := Kind{}.Decode(context.Background(), c, p)
	require.NoError(t, err)
	assert.Equal(t, first, second)
}
