package paddle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/paddle/paddletest"
	"github.com/keysmith/keysmith/storefront/storefronttest"
)

// The secrets of the test providers, through these environment variables.
// No error, warning or skip reason may show either.
const (
	apiKeyEnv        = "KEYSMITH_PADDLE_UNIT_API_KEY"
	webhookSecretEnv = "KEYSMITH_PADDLE_UNIT_WEBHOOK_SECRET"
	apiKey           = "pdl_sdbx_apikey_unit-4f1a-never-echo"
	webhookSecret    = "pdl_ntfset_unit-9c2e-never-echo"
)

// The products of the tests: demo is QLM's through the provider's
// products mapping; tool through its custom_data; shirt is not QLM's.
const (
	demo  = "pro_01hdemoapp0000000000000000"
	tool  = "pro_01hsingletool0000000000000"
	shirt = "pro_01htshirt000000000000000000"
)

const productsYAML = `
    products:
      "pro_01hdemoapp0000000000000000": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
`

// billed is the transactions' time: 2026-12-01 10:00 UTC.
var billed = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// newProvider is the paddle provider of a configuration whose provider
// entry adds extra (YAML lines indented four spaces); with an API key, it
// reads from a new stand-in of Paddle's API.
func newProvider(t *testing.T, extra string, withAPI bool) (*config.Provider, *paddletest.Server) {
	t.Helper()
	t.Setenv(apiKeyEnv, apiKey)
	t.Setenv(webhookSecretEnv, webhookSecret)
	if withAPI {
		extra += "    api_key_env: " + apiKeyEnv + "\n"
	}
	doc := "providers:\n  - name: paddle\n    kind: paddle\n    webhook_secret_env: " + webhookSecretEnv + "\n" + extra + productsYAML +
		"products:\n  - {id: 1, name: Demo, major: 1, minor: 0}\n  - {id: 7, name: Tool, major: 3, minor: 1}\nmail: {from: keys@example.com}\n"
	c, err := config.Parse([]byte(doc))
	require.NoError(t, err, "config:\n%s", doc)
	p, ok := c.Provider("paddle")
	require.True(t, ok)
	if !withAPI {
		return p, nil
	}
	s := paddletest.NewServer(t, apiKey)
	require.NoError(t, p.SetAPIURL(s.URL()))
	return p, s
}

const webhookPath = "/qlmLicenseServer/qlmservice.asmx/QlmWebHookHandler"

// post is Paddle's call with body, signed with the test secret now.
func post(query string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, webhookPath+"?"+query, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(signatureHeader, paddletest.Sign(body, time.Now(), webhookSecret))
	return r
}

// call reads, verifies and decodes a call as the API does.
func call(t *testing.T, p *config.Provider, r *http.Request) (storefront.Reading, error) {
	t.Helper()
	return storefronttest.Serve(Kind{}, r, p, webHook)
}

// mustRead is the reading of an event that must be accepted; it checks
// what holds for every one.
func mustRead(t *testing.T, p *config.Provider, query string, body []byte) storefront.Reading {
	t.Helper()
	reading, err := call(t, p, post(query, body))
	require.NoError(t, err)
	var e struct {
		EventID string `json:"event_id"`
	}
	require.NoError(t, json.Unmarshal(body, &e))
	assert.True(t, reading.Notify)
	assert.Equal(t, []string{e.EventID}, reading.Events)
	for _, req := range reading.Requests {
		assert.True(t, req.Confirmed)
		assert.Equal(t, e.EventID, req.Event)
	}
	noSecrets(t, fmt.Sprint(reading))
	return reading
}

// mustRefuse is the refusal of a call.
func mustRefuse(t *testing.T, p *config.Provider, r *http.Request) *qlm.BadRequestError {
	t.Helper()
	_, err := call(t, p, r)
	require.Error(t, err)
	bad, ok := err.(*qlm.BadRequestError)
	require.True(t, ok, "not a refusal: %v", err)
	noSecrets(t, bad.Reason())
	return bad
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{apiKey, webhookSecret} {
		assert.NotContains(t, s, secret)
	}
}

// line is one item of a test transaction: a price of a product, its
// custom_data, and its line in details.line_items.
type line struct {
	price, product         string
	quantity               int
	priceData, productData map[string]any
	recurring, proration   bool
}

// txnOf is a transaction entity as transaction.completed carries
// it: the items' products in details.line_items, whose ids are
// txnitm_<id>_<position>.
func txnOf(id string, lines ...line) map[string]any {
	var items, details []map[string]any
	for i, l := range lines {
		prod := map[string]any{"id": l.product, "name": "Product " + l.product, "custom_data": l.productData}
		var cycle any
		if l.recurring {
			cycle = map[string]any{"interval": "month", "frequency": 1}
		}
		var proration any
		if l.proration {
			proration = map[string]any{"rate": "0.5"}
		}
		it := map[string]any{
			"price": map[string]any{"id": l.price, "product_id": l.product, "name": "Price " + l.price,
				"custom_data": l.priceData, "billing_cycle": cycle},
			"quantity": l.quantity, "proration": proration,
		}
		items = append(items, it)
		details = append(details, map[string]any{"id": fmt.Sprintf("txnitm_%s_%d", id, i+1), "price_id": l.price,
			"quantity": l.quantity, "product": prod, "proration": proration})
	}
	return map[string]any{
		"id": id, "status": "completed", "origin": "web", "customer_id": "ctm_01hbuyer", "address_id": "add_01haddr",
		"business_id": nil, "custom_data": nil, "currency_code": "EUR", "subscription_id": nil,
		"invoice_number": "325-10566", "collection_mode": "automatic",
		"billing_period": nil, "created_at": billed.Add(-5 * time.Minute).Format(time.RFC3339Nano),
		"billed_at": billed.Format(time.RFC3339Nano), "items": items,
		"details": map[string]any{"line_items": details, "totals": map[string]any{"total": "1000"}},
	}
}

// withCustomer adds the customer, address and business as a transaction
// read with include=customer,address,business carries them.
func withCustomer(t map[string]any) map[string]any {
	t["customer"] = map[string]any{"id": "ctm_01hbuyer", "name": "Ada Buyer", "email": "Ada <ada@example.com>", "locale": "de"}
	t["address"] = map[string]any{"id": "add_01haddr", "first_line": "Weg 2", "city": "Berlin", "postal_code": "10115", "region": "BE", "country_code": "DE"}
	t["business"] = map[string]any{"id": "biz_01h", "name": "Buyer GmbH"}
	t["business_id"] = "biz_01h"
	return t
}

func notice(id, eventType string, data any) []byte {
	return paddletest.Event(id, eventType, billed, data)
}

// toolData is QLM's arguments as a product's custom_data writes them.
var toolData = map[string]any{"is_productid": 7, "is_majorversion": "3", "is_minorversion": "1", "sku": "ST-1", "features": map[string]any{"sso": true}}

func TestSignature(t *testing.T) {
	p, _ := newProvider(t, "", false)
	body := notice("evt_sig", "transaction.paid", map[string]any{"id": "txn_sig"})
	at := time.Now()
	for _, tc := range []struct {
		name, header string
		body         []byte
		want         string // "" passes
	}{
		{name: "right", header: paddletest.Sign(body, at, webhookSecret)},
		{name: "rotated: the old secret's h1, then ours", header: paddletest.Sign(body, at, "pdl_ntfset_old", webhookSecret)},
		{name: "rotated: ours, then the new secret's", header: paddletest.Sign(body, at, webhookSecret, "pdl_ntfset_new")},
		{name: "upper-case hex, spaces", header: upperHex(strings.ReplaceAll(paddletest.Sign(body, at, webhookSecret), ";", " ; "))},
		{name: "another scheme beside h1 is left out", header: paddletest.Sign(body, at, webhookSecret) + ";h2=abc"},
		{name: "four minutes old", header: paddletest.Sign(body, at.Add(-4*time.Minute), webhookSecret)},
		{name: "missing", want: "Paddle-Signature: missing"},
		{name: "another secret", header: paddletest.Sign(body, at, "pdl_ntfset_not-ours"), want: "does not match the notification destination's secret key"},
		{name: "another body", header: paddletest.Sign(body, at, webhookSecret), body: append(append([]byte(nil), body...), ' '), want: "does not match"},
		{name: "two other secrets", header: paddletest.Sign(body, at, "pdl_ntfset_a", "pdl_ntfset_b"), want: "does not match"},
		{name: "ten minutes old", header: paddletest.Sign(body, at.Add(-10*time.Minute), webhookSecret), want: "more than five minutes from now"},
		{name: "ten minutes ahead", header: paddletest.Sign(body, at.Add(10*time.Minute), webhookSecret), want: "more than five minutes from now"},
		{name: "no ts", header: "h1=" + strings.Repeat("ab", 32), want: "not Paddle's ts=<timestamp>;h1=<signature>"},
		{name: "no h1", header: "ts=1796119200", want: "not Paddle's"},
		{name: "ts not a number", header: strings.Replace(paddletest.Sign(body, at, webhookSecret), "ts=", "ts=x", 1), want: "not Paddle's"},
		{name: "h1 not hex", header: "ts=1796119200;h1=zz", want: "not Paddle's"},
		{name: "h1 too short", header: "ts=1796119200;h1=abcd", want: "not Paddle's"},
		{name: "Stripe's header", header: "t=1796119200,v1=" + strings.Repeat("ab", 32), want: "not Paddle's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != nil {
				b = tc.body
			}
			r := httptest.NewRequest(http.MethodPost, webhookPath+"?is_vendor=paddle", strings.NewReader(string(b)))
			r.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				r.Header.Set(signatureHeader, tc.header)
			}
			_, err := call(t, p, r)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			bad, ok := err.(*qlm.BadRequestError)
			require.True(t, ok, "%v", err)
			assert.Equal(t, http.StatusUnauthorized, bad.Status)
			assert.Equal(t, signatureHeader, bad.Field)
			assert.Contains(t, bad.Reason(), tc.want)
			noSecrets(t, bad.Reason())
		})
	}

	// Without a secret, the provider's other credentials check the
	// caller; with none, nothing would.
	c := &storefront.Call{Header: http.Header{}, Body: body}
	assert.NoError(t, Kind{}.Verify(c, &config.Provider{Name: "paddle", Kind: config.KindPaddle, User: "paddle"}))
	bare := &config.Provider{Name: "paddle", Kind: config.KindPaddle}
	err := Kind{}.Verify(c, bare)
	bad, ok := err.(*qlm.BadRequestError)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusForbidden, bad.Status)
}

func TestRead(t *testing.T) {
	p, _ := newProvider(t, "", false)
	body := notice("evt_read", "transaction.paid", map[string]any{"id": "txn_read"})

	r := httptest.NewRequest(http.MethodPost, "/qlmservice.asmx/GetActivationKey?is_vendor=paddle", strings.NewReader(string(body)))
	_, err := Kind{}.Read(r, p, "getactivationkey")
	assert.ErrorContains(t, err, "only by its notifications")
	r = httptest.NewRequest(http.MethodGet, webhookPath+"?is_vendor=paddle", nil)
	_, err = Kind{}.Read(r, p, webHook)
	assert.ErrorContains(t, err, "POST .../QlmWebHookHandler")

	r = post("is_vendor=paddle", body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	bad := mustRefuse(t, p, r)
	assert.Equal(t, http.StatusUnsupportedMediaType, bad.Status)

	big := append([]byte(`{"event_id":"evt_big","padding":"`), []byte(strings.Repeat("x", qlm.MaxBodyBytes))...)
	bad = mustRefuse(t, p, post("is_vendor=paddle", append(big, '"', '}')))
	assert.Equal(t, http.StatusRequestEntityTooLarge, bad.Status)

	r = post("is_vendor=paddle", body)
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	_, err = call(t, p, r)
	assert.NoError(t, err)
}

func TestBadBodies(t *testing.T) {
	p, _ := newProvider(t, "", false)
	for body, want := range map[string]string{
		`{"event_id": "evt_1", "event_type": "transaction.completed", "data": `:                                                        "body: not a Paddle event",
		`{"event_type": "transaction.completed", "data": {"id": "txn_1"}}`:                                                             "event_id: missing",
		`{"event_id": "evt_1", "event_type": "transaction.completed"}`:                                                                 "data: missing",
		`{"event_id": "evt_1", "event_type": "transaction.completed", "data": null}`:                                                   "data: missing",
		`{"event_id": "evt_1", "event_type": "transaction.completed", "data": {"items": []}}`:                                          "data.id: missing",
		`{"event_id": "evt_1", "event_type": "transaction.completed", "data": []}`:                                                     "data: not a transaction",
		`{"event_id": "evt_1", "event_type": "adjustment.created", "data": {"id": "adj_1", "action": "refund", "status": "approved"}}`: "data.transaction_id: missing",
		`{"event_id": "evt_1", "event_type": "subscription.canceled", "data": "sub_1"}`:                                                "data: not a subscription",
	} {
		bad := mustRefuse(t, p, post("is_vendor=paddle", []byte(body)))
		assert.Equal(t, http.StatusBadRequest, bad.Status, body)
		assert.Contains(t, bad.Reason(), want, body)
	}
	// An item's quantity Paddle would never send is refused, naming the
	// item.
	txn := txnOf("txn_q", line{price: "pri_tool", product: tool, quantity: 0, productData: toolData})
	bad := mustRefuse(t, p, post("is_vendor=paddle", notice("evt_q", "transaction.completed", withCustomer(txn))))
	assert.Equal(t, "data.items[0].quantity: 0 is not 1 to 2147483647", bad.Reason())
}

func TestTransactionCompleted(t *testing.T) {
	p, _ := newProvider(t, "", false)
	txn := withCustomer(txnOf("txn_01hsale",
		line{price: "pri_demo", product: demo, quantity: 3},
		line{price: "pri_shirt", product: shirt, quantity: 1, productData: map[string]any{"size": "L"}},
		line{price: "pri_tool", product: tool, quantity: 1, productData: toolData, priceData: map[string]any{"tier": "basic"}},
	))
	txn["custom_data"] = map[string]any{"user_id": "u-42"}
	reading := mustRead(t, p, "is_vendor=paddle&is_user=paddle", notice("evt_sale", "transaction.completed", txn))
	require.Len(t, reading.Requests, 2)
	require.Len(t, reading.Skipped, 1)
	assert.Contains(t, reading.Skipped[0], "transaction txn_01hsale item 2: product "+shirt+" (price pri_shirt) names no is_productid")
	assert.Empty(t, reading.Revocations)

	app, tl := reading.Requests[0], reading.Requests[1]
	assert.Equal(t, "getactivationkey", app.Method)
	assert.Equal(t, uint32(1), app.Args.ProductID)
	assert.Equal(t, "0:3", app.Args.Features.String())
	assert.Equal(t, "txn_01hsale", app.Purchase.PurchaseID)
	assert.Equal(t, "1", app.Purchase.RunningNo)
	assert.Equal(t, 3, app.Purchase.Quantity)
	assert.Equal(t, billed, app.Purchase.PurchaseDate)
	assert.Equal(t, "ada@example.com", app.Purchase.Email)
	assert.Equal(t, "Ada Buyer", app.Purchase.FullName())
	assert.Equal(t, "Buyer GmbH", app.Purchase.Company)
	assert.Equal(t, "Weg 2", app.Purchase.Street)
	assert.Equal(t, "Berlin", app.Purchase.City)
	assert.Equal(t, "10115", app.Purchase.Zip)
	assert.Equal(t, "BE", app.Purchase.State)
	assert.Equal(t, "DE", app.Purchase.ISOCode)
	assert.Equal(t, "de", app.Purchase.Language)
	assert.Empty(t, app.Purchase.Subscription)
	assert.Empty(t, app.Warnings)
	assert.Equal(t, map[string]string{
		"event": "evt_sale", "event_type": "transaction.completed", "notification": app.Purchase.Fields["notification"],
		"transaction": "txn_01hsale", "origin": "web", "invoice_number": "325-10566", "collection_mode": "automatic",
		"currency": "EUR", "customer": "ctm_01hbuyer", "address": "add_01haddr", "business": "biz_01h",
		"product": demo, "product_name": "Product " + demo, "price": "pri_demo", "price_name": "Price pri_demo",
		"item": "txnitm_txn_01hsale_1", "quantity": "3", "transaction.custom_data.user_id": "u-42",
	}, app.Purchase.Fields)

	assert.Equal(t, uint32(7), tl.Args.ProductID)
	assert.Equal(t, "3", tl.Purchase.RunningNo)
	assert.Equal(t, "txnitm_txn_01hsale_3", tl.Purchase.Fields["item"])
	assert.Equal(t, "ST-1", tl.Purchase.Fields["custom_data.sku"])
	assert.Equal(t, `{"sso":true}`, tl.Purchase.Fields["custom_data.features"])
	assert.Equal(t, "basic", tl.Purchase.Fields["custom_data.tier"])
	assert.NotContains(t, tl.Purchase.Fields, "custom_data.is_productid")
	assert.Equal(t, "7", tl.Args.Raw["is_productid"])

	// The same event again reads the same: the lines are keyed once.
	again := mustRead(t, p, "is_vendor=paddle&is_user=paddle", notice("evt_sale", "transaction.completed", txn))
	assert.Equal(t, reading.Requests[0].Purchase.PurchaseID, again.Requests[0].Purchase.PurchaseID)
	assert.Equal(t, reading.Requests[1].Purchase.RunningNo, again.Requests[1].Purchase.RunningNo)
}

// The arguments' sources, in order: the URL, the price's custom_data, the
// product's, the provider's products mapping.
func TestArgumentPrecedence(t *testing.T) {
	p, _ := newProvider(t, "", false)
	price := map[string]any{"is_productid": "1", "is_features": "2:1"}
	prod := map[string]any{"is_productid": "1", "is_majorversion": 1, "is_minorversion": 0, "is_features": "1:1"}
	for _, tc := range []struct {
		name, query            string
		priceData, productData map[string]any
		product                string
		want                   string
	}{
		{"the URL over everything", "&is_features=3:1", price, prod, demo, "3:1"},
		{"the price over the product and the mapping", "", price, prod, demo, "2:1"},
		{"the product over the mapping", "", nil, prod, demo, "1:1"},
		{"the mapping", "", nil, nil, demo, "0:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txn := withCustomer(txnOf("txn_prec", line{price: "pri_x", product: tc.product, quantity: 1, priceData: tc.priceData, productData: tc.productData}))
			reading := mustRead(t, p, "is_vendor=paddle"+tc.query, notice("evt_prec", "transaction.completed", txn))
			require.Len(t, reading.Requests, 1, "%v", reading.Skipped)
			assert.Equal(t, tc.want, reading.Requests[0].Args.Features.String())
			assert.Equal(t, uint32(1), reading.Requests[0].Args.ProductID)
		})
	}
	// The URL's is_productid names every item's product, as QLM's
	// webhook URLs do for FastSpring and Stripe.
	txn := withCustomer(txnOf("txn_url", line{price: "pri_s", product: shirt, quantity: 1}))
	reading := mustRead(t, p, "is_vendor=paddle&is_productid=7&is_majorversion=3&is_minorversion=1", notice("evt_url", "transaction.completed", txn))
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, uint32(7), reading.Requests[0].Args.ProductID)

	// A checkout's custom_data (set in the browser) names nothing.
	txn = withCustomer(txnOf("txn_cd", line{price: "pri_s", product: shirt, quantity: 1}))
	txn["custom_data"] = map[string]any{"is_productid": "1"}
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_cd", "transaction.completed", txn))
	assert.Empty(t, reading.Requests)
	txn = withCustomer(txnOf("txn_cd", line{price: "pri_t", product: tool, quantity: 1, productData: toolData}))
	txn["custom_data"] = map[string]any{"is_features": "0:255", "is_quantity": "100"}
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_cd", "transaction.completed", txn))
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, 0, reading.Requests[0].Args.Quantity)
	assert.Equal(t, "0", reading.Requests[0].Args.Features.String(), "no features")
	assert.Contains(t, strings.Join(reading.Requests[0].Warnings, "\n"), "the transaction's is_* values are not read")
}

func TestBuyer(t *testing.T) {
	sale := func() map[string]any {
		return txnOf("txn_buyer",
			line{price: "pri_demo", product: demo, quantity: 1},
			line{price: "pri_tool", product: tool, quantity: 1, productData: toolData})
	}
	body := notice("evt_buyer", "transaction.completed", sale())

	t.Run("no API key: keyed, not mailed", func(t *testing.T) {
		p, _ := newProvider(t, "", false)
		reading := mustRead(t, p, "is_vendor=paddle", body)
		require.Len(t, reading.Requests, 2)
		for _, req := range reading.Requests {
			assert.Empty(t, req.Purchase.Email)
			require.Len(t, req.Warnings, 1)
			assert.Contains(t, req.Warnings[0], "customer ctm_01hbuyer without an email address")
			assert.Contains(t, req.Warnings[0], "the buyer is not emailed")
		}
	})
	t.Run("the API key reads the customer once", func(t *testing.T) {
		p, s := newProvider(t, "", true)
		require.NoError(t, s.AddTransaction(mustJSON(t, sale())))
		s.AddCustomer(paddletest.Customer{ID: "ctm_01hbuyer", Name: "Bo Käufer", Email: "bo@example.de", Locale: "de"})
		s.AddAddress(paddletest.Address{ID: "add_01haddr", City: "Köln", CountryCode: "DE"})
		reading := mustRead(t, p, "is_vendor=paddle", body)
		require.Len(t, reading.Requests, 2)
		for _, req := range reading.Requests {
			assert.Equal(t, "bo@example.de", req.Purchase.Email)
			assert.Equal(t, "Bo Käufer", req.Purchase.RegName)
			assert.Equal(t, "Köln", req.Purchase.City)
			assert.Empty(t, req.Warnings)
		}
		assert.Equal(t, []string{"/transactions/txn_buyer?include=customer%2Caddress%2Cbusiness"}, s.Calls())

		// A customer in the notification is not read again.
		mustRead(t, p, "is_vendor=paddle", notice("evt_buyer2", "transaction.completed", withCustomer(sale())))
		assert.Len(t, s.Calls(), 1)
		// Nor is one for a transaction that keys nothing.
		mustRead(t, p, "is_vendor=paddle", notice("evt_shirt", "transaction.completed", txnOf("txn_shirt", line{price: "pri_s", product: shirt, quantity: 1})))
		assert.Len(t, s.Calls(), 1)
	})
	t.Run("a customer without an email address", func(t *testing.T) {
		p, s := newProvider(t, "", true)
		require.NoError(t, s.AddTransaction(mustJSON(t, sale())))
		s.AddCustomer(paddletest.Customer{ID: "ctm_01hbuyer", Name: "No Mail"})
		reading := mustRead(t, p, "is_vendor=paddle", body)
		require.Len(t, reading.Requests, 2)
		assert.Contains(t, reading.Requests[0].Warnings[0], "Paddle's API gives no email address for customer ctm_01hbuyer")
	})
	t.Run("Paddle failing is for Paddle to send the event again", func(t *testing.T) {
		p, s := newProvider(t, "", true)
		require.NoError(t, s.AddTransaction(mustJSON(t, sale())))
		s.FailNext(1)
		_, err := call(t, p, post("is_vendor=paddle", body))
		require.Error(t, err)
		_, refused := err.(*qlm.BadRequestError)
		assert.False(t, refused, "%v", err)
		noSecrets(t, err.Error())
		mustRead(t, p, "is_vendor=paddle", body)
	})
	t.Run("a transaction Paddle does not know is refused", func(t *testing.T) {
		p, _ := newProvider(t, "", true)
		bad := mustRefuse(t, p, post("is_vendor=paddle", body))
		assert.Equal(t, http.StatusBadRequest, bad.Status)
		assert.Contains(t, bad.Reason(), "data.id: transaction txn_buyer is not found in Paddle with the provider's API key")
	})
	t.Run("a key Paddle refuses", func(t *testing.T) {
		p, s := newProvider(t, "", true)
		require.NoError(t, s.AddTransaction(mustJSON(t, sale())))
		t.Setenv(apiKeyEnv, "pdl_sdbx_apikey_other")
		other, err := config.Parse(mustYAML(t, p))
		require.NoError(t, err)
		po, _ := other.Provider("paddle")
		_, err = call(t, po, post("is_vendor=paddle", body))
		require.ErrorContains(t, err, "status 403")
	})
}

func TestSubscriptions(t *testing.T) {
	p, _ := newProvider(t, "", false)
	sub := map[string]any{"is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "is_licensemodel": "subscription",
		"is_emailtemplate": "1. New Order", "is_renewal_emailtemplate": "2. Renewal", "is_send_renewal_mail": "false"}
	period := func(from, to time.Time) map[string]any {
		return map[string]any{"starts_at": from.Format(time.RFC3339Nano), "ends_at": to.Format(time.RFC3339Nano)}
	}
	end := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)

	// The first transaction: the subscription's items start it, and run
	// to the end of the period paid for; a one-time add-on is its own.
	first := withCustomer(txnOf("txn_first",
		line{price: "pri_month", product: "pro_sub", quantity: 1, recurring: true, productData: sub},
		line{price: "pri_tool", product: tool, quantity: 1, productData: toolData}))
	first["subscription_id"] = "sub_01h"
	first["billing_period"] = period(billed, end)
	reading := mustRead(t, p, "is_vendor=paddle", notice("evt_first", "transaction.completed", first))
	require.Len(t, reading.Requests, 2)
	s, addon := reading.Requests[0], reading.Requests[1]
	assert.Equal(t, "getactivationkey", s.Method)
	assert.Equal(t, "sub_01h", s.Purchase.Subscription)
	assert.Equal(t, end, s.Args.ExpDate)
	assert.Equal(t, "1. New Order", s.Args.EmailTemplate)
	assert.True(t, s.Args.SendMail)
	assert.Equal(t, "getactivationkey", addon.Method)
	assert.Empty(t, addon.Purchase.Subscription)
	assert.True(t, addon.Args.ExpDate.IsZero())

	// A renewal renews the subscription's line to the period's end, with
	// the renewal's mail settings; a proration, and a one-time charge
	// billed with it, do not renew.
	next := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	renewal := withCustomer(txnOf("txn_renew",
		line{price: "pri_month", product: "pro_sub", quantity: 1, recurring: true, productData: sub},
		line{price: "pri_upgrade", product: "pro_sub", quantity: 1, recurring: true, proration: true, productData: sub},
		line{price: "pri_tool", product: tool, quantity: 1, productData: toolData}))
	renewal["origin"], renewal["subscription_id"] = "subscription_recurring", "sub_01h"
	renewal["billing_period"] = period(end, next)
	renewal["billed_at"] = end.Format(time.RFC3339Nano)
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_renew", "transaction.completed", renewal))
	require.Len(t, reading.Requests, 2)
	require.Len(t, reading.Skipped, 1)
	assert.Contains(t, reading.Skipped[0], "item 2: a proration")
	r, charge := reading.Requests[0], reading.Requests[1]
	assert.Equal(t, renewSubscription, r.Method)
	assert.Equal(t, "sub_01h", r.Purchase.Subscription)
	assert.Equal(t, "txn_renew", r.Purchase.PurchaseID)
	assert.Equal(t, "1", r.Purchase.RunningNo)
	assert.Equal(t, next, r.Purchase.ExpiryDate)
	assert.Equal(t, end, r.Purchase.PurchaseDate)
	assert.Equal(t, "2. Renewal", r.Args.EmailTemplate)
	assert.False(t, r.Args.SendMail)
	assert.Equal(t, "getactivationkey", charge.Method)
	assert.Equal(t, "3", charge.Purchase.RunningNo)
	assert.Empty(t, charge.Purchase.Subscription)

	// A subscription's change, and a change of payment method, key
	// nothing; nor does a transaction that is not completed.
	for origin, want := range map[string]string{"subscription_update": "bills a change to subscription sub_01h", "subscription_payment_method_change": "payment method"} {
		change := withCustomer(txnOf("txn_change", line{price: "pri_month", product: "pro_sub", quantity: 2, recurring: true, productData: sub}))
		change["origin"], change["subscription_id"] = origin, "sub_01h"
		reading = mustRead(t, p, "is_vendor=paddle", notice("evt_change", "transaction.completed", change))
		assert.Empty(t, reading.Requests)
		require.Len(t, reading.Skipped, 1)
		assert.Contains(t, reading.Skipped[0], want)
	}
	paid := withCustomer(txnOf("txn_paid", line{price: "pri_tool", product: tool, quantity: 1, productData: toolData}))
	paid["status"] = "paid"
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_paid", "transaction.completed", paid))
	assert.Empty(t, reading.Requests)

	// A subscription product without a billing period does not expire
	// until renewed, with a warning.
	first["billing_period"] = nil
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_first", "transaction.completed", first))
	assert.True(t, reading.Requests[0].Args.ExpDate.IsZero())
	assert.Contains(t, strings.Join(reading.Requests[0].Warnings, "\n"), "expiry: the transaction gives no billing period")

	// A subscription.canceled ends the subscription's line.
	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_cancel", "subscription.canceled", map[string]any{"id": "sub_01h", "status": "canceled"}))
	assert.Equal(t, []storefront.Revocation{{Kind: storefront.Cancel, Subscription: "sub_01h", Event: "evt_cancel", Reason: "Paddle subscription.canceled sub_01h"}}, reading.Revocations)
	assert.Empty(t, reading.Requests)
}

func TestOtherEvents(t *testing.T) {
	p, _ := newProvider(t, "", false)
	for _, typ := range []string{"transaction.paid", "transaction.created", "subscription.created", "customer.created", "subscription.updated"} {
		reading := mustRead(t, p, "is_vendor=paddle", notice("evt_other", typ, map[string]any{"id": "x_1"}))
		assert.Empty(t, reading.Requests)
		assert.Empty(t, reading.Revocations)
		assert.Equal(t, []string{"event evt_other (" + typ + "): not an event keysmith keys"}, reading.Skipped)
	}
}

// adjust is an adjustment entity of transaction txn, its items given as
// "<txnitm id>:<type>".
func adjust(id, action, status, typ, txn string, items ...string) map[string]any {
	var its []map[string]any
	for _, it := range items {
		itemID, itemType, _ := strings.Cut(it, ":")
		its = append(its, map[string]any{"id": "adjitm_" + itemID, "item_id": itemID, "type": itemType, "amount": "100"})
	}
	a := map[string]any{"id": id, "action": action, "status": status, "reason": "error", "transaction_id": txn,
		"subscription_id": nil, "customer_id": "ctm_01hbuyer", "currency_code": "EUR", "items": its}
	if typ != "" {
		a["type"] = typ
	}
	return a
}

func TestAdjustments(t *testing.T) {
	p, s := newProvider(t, "", true)
	// The items' lines come in another order than the items: an item is
	// placed by its price.
	sale := txnOf("txn_adj",
		line{price: "pri_demo", product: demo, quantity: 1},
		line{price: "pri_tool", product: tool, quantity: 1, productData: toolData},
		line{price: "pri_shirt", product: shirt, quantity: 1})
	details := sale["details"].(map[string]any)
	lines := details["line_items"].([]map[string]any)
	details["line_items"] = []map[string]any{lines[2], lines[0], lines[1]}
	require.NoError(t, s.AddTransaction(mustJSON(t, sale)))
	renewal := txnOf("txn_adj_renew", line{price: "pri_month", product: "pro_sub", quantity: 1, recurring: true})
	renewal["origin"], renewal["subscription_id"] = "subscription_recurring", "sub_01hadj"
	require.NoError(t, s.AddTransaction(mustJSON(t, renewal)))
	lineOf := func(txn, pos string) order.LineID {
		return order.LineID{Provider: "paddle", PurchaseID: txn, RunningNo: pos}
	}

	for _, tc := range []struct {
		name       string
		adjustment map[string]any
		want       []storefront.Revocation
		skipped    string
	}{
		{name: "an approved refund of one item", adjustment: adjust("adj_1", "refund", "approved", "partial", "txn_adj", "txnitm_txn_adj_2:full"),
			want: []storefront.Revocation{{Kind: storefront.Refund, Line: lineOf("txn_adj", "2")}}},
		{name: "a full refund: every item", adjustment: adjust("adj_2", "refund", "approved", "full", "txn_adj"),
			want: []storefront.Revocation{{Kind: storefront.Refund, Line: lineOf("txn_adj", "3")}, {Kind: storefront.Refund, Line: lineOf("txn_adj", "1")}, {Kind: storefront.Refund, Line: lineOf("txn_adj", "2")}}},
		{name: "a chargeback", adjustment: adjust("adj_3", "chargeback", "approved", "", "txn_adj", "txnitm_txn_adj_1:full", "txnitm_txn_adj_1:tax"),
			want: []storefront.Revocation{{Kind: storefront.Chargeback, Line: lineOf("txn_adj", "1")}}},
		{name: "a refund of a renewal revokes the subscription's line", adjustment: adjust("adj_4", "refund", "approved", "", "txn_adj_renew", "txnitm_txn_adj_renew_1:full"),
			want: []storefront.Revocation{{Kind: storefront.Refund, Subscription: "sub_01hadj"}}},
		{name: "a refund waiting for Paddle's approval", adjustment: adjust("adj_5", "refund", "pending_approval", "", "txn_adj", "txnitm_txn_adj_1:full"),
			skipped: `refund adj_5 is "pending_approval": its keys are revoked once Paddle approves it`},
		{name: "a rejected refund", adjustment: adjust("adj_6", "refund", "rejected", "", "txn_adj", "txnitm_txn_adj_1:full"), skipped: "rejected"},
		{name: "part of an amount", adjustment: adjust("adj_7", "refund", "approved", "partial", "txn_adj", "txnitm_txn_adj_1:partial"),
			skipped: "refund adj_7 refunds part of item txnitm_txn_adj_1's amount: its keys are kept"},
		{name: "a credit", adjustment: adjust("adj_8", "credit", "approved", "", "txn_adj", "txnitm_txn_adj_1:full"), skipped: `adjustment adj_8 ("credit") refunds no payment`},
		{name: "a chargeback warning", adjustment: adjust("adj_9", "chargeback_warning", "approved", "", "txn_adj", "txnitm_txn_adj_1:full"), skipped: "warns of a chargeback"},
		{name: "a chargeback reversed", adjustment: adjust("adj_10", "chargeback_reverse", "approved", "", "txn_adj", "txnitm_txn_adj_1:full"), skipped: "reverses a chargeback"},
		{name: "an item not in the transaction", adjustment: adjust("adj_11", "refund", "approved", "", "txn_adj", "txnitm_other:full"), skipped: "names item txnitm_other, which is not in transaction txn_adj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range []string{"adjustment.created", "adjustment.updated"} {
				reading := mustRead(t, p, "is_vendor=paddle", notice("evt_"+tc.adjustment["id"].(string), typ, tc.adjustment))
				assert.Empty(t, reading.Requests)
				for i := range tc.want {
					tc.want[i].Event = "evt_" + tc.adjustment["id"].(string)
					tc.want[i].Reason = "Paddle " + tc.adjustment["action"].(string) + " " + tc.adjustment["id"].(string) + " error"
				}
				if tc.want == nil {
					assert.Empty(t, reading.Revocations)
				} else {
					assert.Equal(t, tc.want, reading.Revocations)
				}
				if tc.skipped != "" {
					require.Len(t, reading.Skipped, 1)
					assert.Contains(t, reading.Skipped[0], tc.skipped)
				} else {
					assert.Empty(t, reading.Skipped)
				}
			}
		})
	}
	// Paddle's API is read only for what revokes.
	n := len(s.Calls())
	mustRead(t, p, "is_vendor=paddle", notice("evt_x", "adjustment.created", adjust("adj_x", "credit", "approved", "", "txn_adj", "txnitm_txn_adj_1:full")))
	assert.Len(t, s.Calls(), n)

	bad := mustRefuse(t, p, post("is_vendor=paddle", notice("evt_nf", "adjustment.updated", adjust("adj_nf", "refund", "approved", "", "txn_unknown", "txnitm_1:full"))))
	assert.Contains(t, bad.Reason(), "data.transaction_id: transaction txn_unknown is not found in Paddle")
	s.FailNext(1)
	_, err := call(t, p, post("is_vendor=paddle", notice("evt_1", "adjustment.updated", adjust("adj_1", "refund", "approved", "", "txn_adj", "txnitm_txn_adj_2:full"))))
	_, refused := err.(*qlm.BadRequestError)
	assert.True(t, err != nil && !refused, "%v", err)
}

// Without an API key only a full adjustment is placed: every item it
// names, by position, and its subscription.
func TestAdjustmentsWithoutAPI(t *testing.T) {
	p, _ := newProvider(t, "", false)
	full := adjust("adj_f", "refund", "approved", "full", "txn_f", "txnitm_a:full", "txnitm_b:full", "txnitm_a:tax")
	full["subscription_id"] = "sub_f"
	reading := mustRead(t, p, "is_vendor=paddle", notice("evt_f", "adjustment.updated", full))
	want := func(rv storefront.Revocation) storefront.Revocation {
		rv.Kind, rv.Event, rv.Reason = storefront.Refund, "evt_f", "Paddle refund adj_f error"
		return rv
	}
	assert.Equal(t, []storefront.Revocation{
		want(storefront.Revocation{Line: order.LineID{Provider: "paddle", PurchaseID: "txn_f", RunningNo: "1"}}),
		want(storefront.Revocation{Line: order.LineID{Provider: "paddle", PurchaseID: "txn_f", RunningNo: "2"}}),
		want(storefront.Revocation{Subscription: "sub_f"}),
	}, reading.Revocations)

	reading = mustRead(t, p, "is_vendor=paddle", notice("evt_p", "adjustment.updated", adjust("adj_p", "refund", "approved", "partial", "txn_f", "txnitm_a:full")))
	assert.Empty(t, reading.Revocations)
	require.Len(t, reading.Skipped, 1)
	assert.Contains(t, reading.Skipped[0], "the provider has no API key to place: nothing is revoked")
}

// The API's base URL: the sandbox's for a sandbox key, else the live
// one's, unless api_url says otherwise.
func TestAPIBase(t *testing.T) {
	assert.Nil(t, newAPI(&config.Provider{Name: "paddle", Kind: config.KindPaddle}), "no key, no client")
	for key, want := range map[string]string{"pdl_sdbx_apikey_1": sandboxAPI, "pdl_live_apikey_1": liveAPI, "0123456789abcdef": liveAPI} {
		t.Setenv("KS_PADDLE_BASE_KEY", key)
		for _, apiURL := range []string{"", "http://127.0.0.1:9/"} {
			c, err := config.Parse([]byte("providers:\n  - {name: paddle, kind: paddle, unauthenticated: true, api_key_env: KS_PADDLE_BASE_KEY, api_url: \"" + apiURL +
				"\"}\nmail: {from: keys@example.com}\n"))
			require.NoError(t, err)
			pp, _ := c.Provider("paddle")
			if apiURL != "" {
				want = "http://127.0.0.1:9"
			}
			assert.Equal(t, want, newAPI(pp).base, key)
		}
	}
}

// upperHex upper-cases a signature header's h1 values.
func upperHex(header string) string {
	parts := strings.Split(header, ";")
	for i, part := range parts {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "h1="); ok {
			parts[i] = "h1=" + strings.ToUpper(v)
		}
	}
	return strings.Join(parts, ";")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// mustYAML is the configuration of the provider alone, as a vendor's file
// would hold it.
func mustYAML(t *testing.T, p *config.Provider) []byte {
	t.Helper()
	return []byte(fmt.Sprintf("providers:\n  - {name: paddle, kind: paddle, webhook_secret_env: %s, api_key_env: %s, api_url: %q}\nproducts:\n  - {id: 1, name: Demo, major: 1, minor: 0}\n  - {id: 7, name: Tool, major: 3, minor: 1}\nmail: {from: keys@example.com}\n",
		p.WebhookSecretEnv, p.APIKeyEnv, p.APIURL))
}

// Paddle's settings in keysmith.yaml: the destination's secret key and
// the API key through environment variables, api_url; the API key and
// api_url are also Stripe's, and no other kind's.
func TestConfig(t *testing.T) {
	p, _ := newProvider(t, "", true)
	assert.Equal(t, config.KindPaddle, p.Kind)
	assert.Equal(t, webhookSecret, p.WebhookSecret())
	assert.Equal(t, apiKey, p.APIKey())

	doc := func(kind, extra string) []byte {
		return []byte("providers:\n  - name: x\n    kind: " + kind + "\n    unauthenticated: true\n" + extra + "mail: {from: keys@example.com}\n")
	}
	// The webhook secret alone authenticates a paddle provider.
	_, err := config.Parse([]byte("providers:\n  - {name: x, kind: paddle, webhook_secret_env: " + webhookSecretEnv + "}\nmail: {from: keys@example.com}\n"))
	assert.NoError(t, err)
	for kind, extra := range map[string]string{
		"shareit":    "    api_key_env: " + apiKeyEnv + "\n",
		"fastspring": "    api_url: https://api.paddle.com\n",
	} {
		_, err := config.Parse(doc(kind, extra))
		assert.ErrorContains(t, err, "only for a stripe provider or a paddle provider", kind)
	}
	_, err = config.Parse(doc("paddle", "    private_key_env: "+apiKeyEnv+"\n"))
	assert.ErrorContains(t, err, "private_key_env: only for a fastspring provider")
	_, err = config.Parse(doc("paddle", "    api_key_env: KEYSMITH_PADDLE_UNIT_UNSET\n"))
	assert.ErrorContains(t, err, "the environment variable KEYSMITH_PADDLE_UNIT_UNSET is not set")
	_, err = config.Parse(doc("paddle", "    api_url: \"https://u:p@api.paddle.com\"\n"))
	assert.ErrorContains(t, err, "api_url:")
	_, err = config.Parse(doc("shareit", "    webhook_secret_env: "+webhookSecretEnv+"\n"))
	assert.ErrorContains(t, err, "webhook_secret_env: only for a fastspring provider or a stripe provider or a paddle provider")
}
