package stripetest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

// get calls the stand-in with key and decodes the JSON answer.
func get(t *testing.T, s *Server, key, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, v
}

func TestServer(t *testing.T) {
	s := NewServer(t, "sk_test_stand-in-key")
	s.AddProducts(Product{ID: "prod_1", Name: "App", Metadata: map[string]string{"is_productid": "1"}})
	cs := Session{ID: "cs_1", Created: 1796119200}
	for range 3 {
		cs.LineItems = append(cs.LineItems, LineItem{Product: "prod_1", Quantity: 2, UnitAmount: 100})
	}
	s.AddSession(cs)

	for key, want := range map[string]string{"": "You did not provide an API key", "sk_test_wrong-key-1234": "Invalid API Key provided: sk_test_*****1234"} {
		status, body := get(t, s, key, "/v1/checkout/sessions/cs_1")
		e, _ := body["error"].(map[string]any)
		if msg, _ := e["message"].(string); status != http.StatusUnauthorized || e["type"] != "invalid_request_error" || len(msg) < len(want) || msg[:len(want)] != want {
			t.Errorf("key %q: %d %v, want 401 invalid_request_error %q...", key, status, body, want)
		}
	}
	status, body := get(t, s, s.APIKey, "/v1/checkout/sessions/cs_nosuch")
	if e, _ := body["error"].(map[string]any); status != http.StatusNotFound || e["code"] != "resource_missing" || e["param"] != "session" {
		t.Errorf("unknown session: %d %v", status, body)
	}

	// Stripe's list envelope, paged, with the product expanded.
	status, body = get(t, s, s.APIKey, "/v1/checkout/sessions/cs_1/line_items?limit=2&expand[]=data.price.product")
	data, _ := body["data"].([]any)
	if status != http.StatusOK || body["object"] != "list" || body["has_more"] != true || len(data) != 2 || body["url"] != "/v1/checkout/sessions/cs_1/line_items" {
		t.Fatalf("first page: %d %v", status, body)
	}
	price := data[1].(map[string]any)["price"].(map[string]any)
	if product, _ := price["product"].(map[string]any); product["object"] != "product" || product["metadata"].(map[string]any)["is_productid"] != "1" {
		t.Errorf("price.product not expanded: %v", price)
	}
	_, body = get(t, s, s.APIKey, "/v1/checkout/sessions/cs_1/line_items?limit=2&starting_after=li_2")
	if data, _ := body["data"].([]any); body["has_more"] != false || len(data) != 1 || data[0].(map[string]any)["id"] != "li_3" ||
		data[0].(map[string]any)["price"].(map[string]any)["product"] != "prod_1" {
		t.Errorf("second page: %v", body)
	}

	s.FailNext(1, http.StatusInternalServerError)
	if status, body := get(t, s, s.APIKey, "/v1/products/prod_1"); status != 500 || body["error"].(map[string]any)["type"] != "api_error" {
		t.Errorf("scripted failure: %d %v", status, body)
	}
	if status, body := get(t, s, s.APIKey, "/v1/products/prod_1"); status != 200 || body["name"] != "App" {
		t.Errorf("product: %d %v", status, body)
	}
	if n := len(s.Requests()); n != 7 {
		t.Errorf("%d requests recorded, want 7", n)
	}
}

func TestSign(t *testing.T) {
	body := Event("evt_1", "checkout.session.completed", 1796119200, map[string]any{"id": "cs_1"})
	if _, err := webhook.ConstructEvent(body, Sign(body, "whsec_x", time.Now()), "whsec_x"); err != nil {
		t.Errorf("stripe-go does not accept the event: %v", err)
	}
}

// TestRevocationEndpoints: the lists and objects a refund or a dispute is
// read through, in Stripe's shapes.
func TestRevocationEndpoints(t *testing.T) {
	s := NewServer(t, "sk_test_stand-in-key")
	s.AddSession(Session{ID: "cs_1", PaymentIntent: "pi_1", Created: 1})
	s.AddSession(Session{ID: "cs_2", PaymentIntent: "pi_2", Created: 2})
	s.AddInvoice(Invoice{ID: "in_1", Subscription: "sub_1", PaymentIntent: "pi_3", Lines: []InvoiceLine{{Product: "prod_1", Amount: 700}}})
	s.AddCharge(Charge{ID: "ch_1", PaymentIntent: "pi_1", Amount: 1000, Refunds: []Refund{{Amount: 400, Reason: "duplicate"}, {}}})
	s.AddDispute(Dispute{ID: "dp_1", Charge: "ch_1", Status: "warning_needs_response"})

	_, body := get(t, s, s.APIKey, "/v1/checkout/sessions?payment_intent=pi_1")
	if data, _ := body["data"].([]any); body["object"] != "list" || len(data) != 1 || data[0].(map[string]any)["id"] != "cs_1" {
		t.Errorf("sessions of pi_1: %v", body)
	}
	_, body = get(t, s, s.APIKey, "/v1/checkout/sessions")
	if data, _ := body["data"].([]any); len(data) != 2 || data[0].(map[string]any)["id"] != "cs_2" {
		t.Errorf("all sessions, newest first: %v", body)
	}
	_, ch := get(t, s, s.APIKey, "/v1/charges/ch_1")
	if ch["object"] != "charge" || ch["amount_refunded"] != 1000.0 || ch["refunded"] != true || ch["payment_intent"] != "pi_1" || ch["refunds"] != nil {
		t.Errorf("charge: %v", ch)
	}
	_, body = get(t, s, s.APIKey, "/v1/refunds?charge=ch_1")
	data, _ := body["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["id"] != "re_ch_1_2" || data[0].(map[string]any)["amount"] != 600.0 ||
		data[1].(map[string]any)["reason"] != "duplicate" || data[0].(map[string]any)["reason"] != nil {
		t.Errorf("refunds, newest first: %v", body)
	}
	_, body = get(t, s, s.APIKey, "/v1/invoice_payments?payment%5Btype%5D=payment_intent&payment%5Bpayment_intent%5D=pi_3")
	data, _ = body["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["invoice"] != "in_1" || data[0].(map[string]any)["object"] != "invoice_payment" {
		t.Errorf("invoice payments of pi_3: %v", body)
	}
	if status, body := get(t, s, s.APIKey, "/v1/invoice_payments?payment%5Bpayment_intent%5D=pi_3"); status != http.StatusBadRequest {
		t.Errorf("invoice payments without payment[type]: %d %v", status, body)
	}
	_, dp := get(t, s, s.APIKey, "/v1/disputes/dp_1")
	if dp["charge"] != "ch_1" || dp["payment_intent"] != "pi_1" || dp["amount"] != 1000.0 || dp["reason"] != "general" || dp["status"] != "warning_needs_response" {
		t.Errorf("dispute: %v", dp)
	}
	if status, body := get(t, s, s.APIKey, "/v1/charges/ch_nosuch"); status != http.StatusNotFound || body["error"].(map[string]any)["code"] != "resource_missing" {
		t.Errorf("unknown charge: %d %v", status, body)
	}
}
