// Package stripetest is a local stand-in for the part of Stripe's API the
// stripe kind reads, for tests that drive the real stripe-go client: the
// checkout sessions (each, their line items, and the list by
// payment_intent), the invoices, their lines and their payments, the
// products whose metadata carries QLM's arguments, and the charges,
// refunds and disputes a refund or a chargeback names. It answers in the
// shapes Stripe's API reference documents for the API version stripe-go
// pins (objects, the list envelope, expand[], errors), checks the secret
// key as Stripe does, and can be told to fail. It also builds and signs
// the events Stripe would send.
//
// The registered types carry yaml tags so that a corpus can write them.
package stripetest

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// Product is a Stripe product; QLM's guide puts its arguments in the
// metadata (is_productid, is_majorversion, ...).
type Product struct {
	ID       string            `yaml:"id"`
	Name     string            `yaml:"name"`
	Metadata map[string]string `yaml:"metadata"`
}

// Address is a buyer's address as Checkout collects it.
type Address struct {
	Line1      string `yaml:"line1"`
	Line2      string `yaml:"line2"`
	City       string `yaml:"city"`
	State      string `yaml:"state"`
	PostalCode string `yaml:"postal_code"`
	Country    string `yaml:"country"`
}

// Details are a checkout session's customer_details.
type Details struct {
	Email   string   `yaml:"email"`
	Name    string   `yaml:"name"`
	Phone   string   `yaml:"phone"`
	Address *Address `yaml:"address"`
}

// Session is a completed checkout session and its line items.
type Session struct {
	ID string `yaml:"id"`
	// Mode is payment (the default), subscription or setup;
	// PaymentStatus paid (the default), unpaid or no_payment_required.
	Mode          string `yaml:"mode"`
	PaymentStatus string `yaml:"payment_status"`
	Created       int64  `yaml:"created"`
	Livemode      bool   `yaml:"livemode"`
	Currency      string `yaml:"currency"` // usd by default
	Customer      string `yaml:"customer"`
	PaymentIntent string `yaml:"payment_intent"`
	// Subscription and Invoice are a subscription session's: the
	// subscription it started and its first invoice.
	Subscription string     `yaml:"subscription"`
	Invoice      string     `yaml:"invoice"`
	Details      Details    `yaml:"customer_details"`
	LineItems    []LineItem `yaml:"line_items"`
}

// LineItem is one line of a checkout session: a price of a product.
type LineItem struct {
	ID          string `yaml:"id"` // li_<n> by default
	Product     string `yaml:"product"`
	Price       string `yaml:"price"` // price_<product> by default
	Quantity    int64  `yaml:"quantity"`
	UnitAmount  int64  `yaml:"unit_amount"`
	Description string `yaml:"description"`
	// Interval makes the price recurring (month, year).
	Interval string `yaml:"interval"`
}

// Invoice is an invoice and its lines.
type Invoice struct {
	ID string `yaml:"id"`
	// BillingReason is subscription_cycle (a renewal),
	// subscription_create (a subscription's first), manual, ...
	BillingReason string `yaml:"billing_reason"`
	Status        string `yaml:"status"` // paid by default
	Created       int64  `yaml:"created"`
	Livemode      bool   `yaml:"livemode"`
	Currency      string `yaml:"currency"`
	Customer      string `yaml:"customer"`
	CustomerEmail string `yaml:"customer_email"`
	CustomerName  string `yaml:"customer_name"`
	Subscription  string `yaml:"subscription"`
	// PaymentIntent is the payment intent that paid it, listed as the
	// invoice's payment (GET /v1/invoice_payments).
	PaymentIntent string        `yaml:"payment_intent"`
	Lines         []InvoiceLine `yaml:"lines"`
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	ID          string `yaml:"id"`
	Product     string `yaml:"product"`
	Price       string `yaml:"price"`
	Quantity    int64  `yaml:"quantity"`
	Amount      int64  `yaml:"amount"`
	Description string `yaml:"description"`
	PeriodStart int64  `yaml:"period_start"`
	PeriodEnd   int64  `yaml:"period_end"`
	// Subscription is the invoice's by default; "-" makes the line a
	// one-off invoice item (a fee) rather than a subscription item's.
	Subscription string `yaml:"subscription"`
}

// Charge is a charge of a payment intent, and its refunds.
type Charge struct {
	ID            string `yaml:"id"`
	PaymentIntent string `yaml:"payment_intent"`
	Amount        int64  `yaml:"amount"`
	Currency      string `yaml:"currency"`
	Created       int64  `yaml:"created"`
	Livemode      bool   `yaml:"livemode"`
	Customer      string `yaml:"customer"`
	// Refunds are the charge's refunds: amount_refunded is their sum, and
	// the charge is refunded once they make up its amount.
	Refunds []Refund `yaml:"refunds"`
	// Disputed is set when a dispute names the charge.
	Disputed bool `yaml:"disputed"`
}

// Refund is one refund of a charge.
type Refund struct {
	ID string `yaml:"id"` // re_<charge>_<n> by default
	// Amount is what it refunds; 0, what the refunds before it left.
	Amount int64 `yaml:"amount"`
	// Reason is duplicate, fraudulent, requested_by_customer, or none.
	Reason  string `yaml:"reason"`
	Created int64  `yaml:"created"`
}

// Dispute is a dispute (a chargeback, or an inquiry) of a charge.
type Dispute struct {
	ID     string `yaml:"id"`
	Charge string `yaml:"charge"`
	Amount int64  `yaml:"amount"` // the charge's by default
	// Reason is Stripe's (fraudulent, product_not_received, ...; general
	// by default), Status needs_response by default (warning_needs_response
	// for an inquiry).
	Reason  string `yaml:"reason"`
	Status  string `yaml:"status"`
	Created int64  `yaml:"created"`
}

// Server is the stand-in. It is safe for concurrent use.
type Server struct {
	APIKey string // the only secret key it accepts

	srv *httptest.Server

	mu       sync.Mutex
	products map[string]Product
	sessions map[string]Session
	invoices map[string]Invoice
	charges  map[string]Charge
	disputes map[string]Dispute
	failures []int
	requests []string
}

// NewServer starts a stand-in accepting apiKey, closed when the test ends.
func NewServer(t testing.TB, apiKey string) *Server {
	t.Helper()
	s := &Server{
		APIKey:   apiKey,
		products: map[string]Product{},
		sessions: map[string]Session{},
		invoices: map[string]Invoice{},
		charges:  map[string]Charge{},
		disputes: map[string]Dispute{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL, as BackendConfig.URL (api_url) takes it.
func (s *Server) URL() string { return s.srv.URL }

// AddProducts registers products, replacing those of the same id.
func (s *Server) AddProducts(ps ...Product) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		s.products[p.ID] = p
	}
}

// AddSession registers a checkout session.
func (s *Server) AddSession(cs Session) { put(&s.mu, s.sessions, cs.ID, cs) }

// AddInvoice registers an invoice.
func (s *Server) AddInvoice(in Invoice) { put(&s.mu, s.invoices, in.ID, in) }

// AddCharge registers a charge, replacing one of the same id (a refund
// since is the charge again, with its refunds).
func (s *Server) AddCharge(ch Charge) { put(&s.mu, s.charges, ch.ID, ch) }

// AddDispute registers a dispute.
func (s *Server) AddDispute(dp Dispute) { put(&s.mu, s.disputes, dp.ID, dp) }

// FailNext makes the next n requests answer status (a 5xx is Stripe's
// api_error), before any other check.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Requests are the requests served so far, "GET /v1/..." with the query.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Object is the registered session, invoice, charge or dispute of the id
// as the API answers it, for an event's data.object; nil when none is
// registered.
func (s *Server) Object(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs, ok := s.sessions[id]; ok {
		return sessionJSON(cs)
	}
	if in, ok := s.invoices[id]; ok {
		return invoiceJSON(in)
	}
	if ch, ok := s.charges[id]; ok {
		return chargeJSON(ch, false)
	}
	if dp, ok := s.disputes[id]; ok {
		return s.disputeJSON(dp)
	}
	return nil
}

// Event is an event as Stripe posts it to a webhook endpoint of the API
// version stripe-go pins: data.object is the object (a map, or raw JSON).
func Event(id, eventType string, created int64, object any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": created,
		"data": map[string]any{"object": object}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": eventType,
	})
	if err != nil {
		panic(err) // maps of JSON values always marshal
	}
	return b
}

// Sign is the Stripe-Signature header Stripe sends with body, signed with
// the endpoint's secret at the time given.
func Sign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", "req_"+randomHex(7))
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		writeError(w, status, errorType(status), "", "An unknown error occurred", "")
		return
	}
	s.mu.Unlock()

	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", "")
		return
	case auth != "Bearer "+s.APIKey:
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided: "+masked(strings.TrimPrefix(auth, "Bearer ")), "")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "This stand-in serves GET only.", "")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	expand := expansions(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	switch {
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "checkout" && parts[2] == "sessions":
		// The list, newest first, by the filters Stripe documents.
		var found []Session
		for _, cs := range s.sessions {
			if match(q, "payment_intent", cs.PaymentIntent) && match(q, "subscription", cs.Subscription) && match(q, "customer", cs.Customer) {
				found = append(found, cs)
			}
		}
		slices.SortFunc(found, func(a, b Session) int { return cmp.Or(cmp.Compare(b.Created, a.Created), strings.Compare(a.ID, b.ID)) })
		var items []map[string]any
		for _, cs := range found {
			items = append(items, sessionJSON(cs))
		}
		writeJSON(w, http.StatusOK, page(r, items, r.URL.Path))
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "checkout" && parts[2] == "sessions":
		cs, ok := s.sessions[parts[3]]
		if !ok {
			missing(w, "checkout.session", parts[3], "session")
			return
		}
		writeJSON(w, http.StatusOK, sessionJSON(cs))
	case len(parts) == 5 && parts[0] == "v1" && parts[1] == "checkout" && parts[2] == "sessions" && parts[4] == "line_items":
		cs, ok := s.sessions[parts[3]]
		if !ok {
			missing(w, "checkout.session", parts[3], "session")
			return
		}
		var items []map[string]any
		for i, li := range cs.LineItems {
			item := lineItemJSON(cs, i, li)
			if slices.Contains(expand, "data.price.product") {
				if p, ok := s.products[li.Product]; ok {
					item["price"].(map[string]any)["product"] = productJSON(p)
				}
			}
			items = append(items, item)
		}
		writeJSON(w, http.StatusOK, page(r, items, r.URL.Path))
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "invoices":
		in, ok := s.invoices[parts[2]]
		if !ok {
			missing(w, "invoice", parts[2], "invoice")
			return
		}
		writeJSON(w, http.StatusOK, invoiceJSON(in))
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "invoices" && parts[3] == "lines":
		in, ok := s.invoices[parts[2]]
		if !ok {
			missing(w, "invoice", parts[2], "invoice")
			return
		}
		writeJSON(w, http.StatusOK, page(r, invoiceLinesJSON(in), r.URL.Path))
	case len(parts) == 2 && parts[0] == "v1" && parts[1] == "invoice_payments":
		// By the payment (payment[type] and payment[payment_intent]) or
		// the invoice, as the reference documents the filters.
		switch pt := q.Get("payment[type]"); {
		case q.Has("payment[payment_intent]") && pt == "":
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_missing", "Missing required param: payment[type].", "payment[type]")
			return
		case q.Has("payment[payment_intent]") && pt != "payment_intent":
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_string",
				"payment[type] must be payment_intent to filter by payment[payment_intent].", "payment[type]")
			return
		}
		var found []Invoice
		for _, in := range s.invoices {
			if in.PaymentIntent != "" && match(q, "payment[payment_intent]", in.PaymentIntent) && match(q, "invoice", in.ID) {
				found = append(found, in)
			}
		}
		slices.SortFunc(found, func(a, b Invoice) int { return cmp.Or(cmp.Compare(b.Created, a.Created), strings.Compare(a.ID, b.ID)) })
		var items []map[string]any
		for _, in := range found {
			items = append(items, invoicePaymentJSON(in))
		}
		writeJSON(w, http.StatusOK, page(r, items, r.URL.Path))
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "charges":
		ch, ok := s.charges[parts[2]]
		if !ok {
			missing(w, "charge", parts[2], "id")
			return
		}
		writeJSON(w, http.StatusOK, chargeJSON(ch, slices.Contains(expand, "refunds")))
	case len(parts) == 2 && parts[0] == "v1" && parts[1] == "refunds":
		var items []map[string]any
		for _, ch := range s.charges {
			if match(q, "charge", ch.ID) && match(q, "payment_intent", ch.PaymentIntent) {
				items = append(items, refundsJSON(ch)...)
			}
		}
		slices.SortFunc(items, func(a, b map[string]any) int {
			return cmp.Or(cmp.Compare(b["created"].(int64), a["created"].(int64)), strings.Compare(b["id"].(string), a["id"].(string)))
		})
		writeJSON(w, http.StatusOK, page(r, items, r.URL.Path))
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "disputes":
		dp, ok := s.disputes[parts[2]]
		if !ok {
			missing(w, "dispute", parts[2], "dispute")
			return
		}
		writeJSON(w, http.StatusOK, s.disputeJSON(dp))
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "products":
		p, ok := s.products[parts[2]]
		if !ok {
			missing(w, "product", parts[2], "id")
			return
		}
		writeJSON(w, http.StatusOK, productJSON(p))
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL (GET: "+r.URL.Path+"). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", "")
	}
}

// match says whether a list's filter, when given, names value.
func match(q url.Values, name, value string) bool {
	return !q.Has(name) || q.Get(name) == value
}

// expansions are the request's expand[] (stripe-go sends expand[0]=...).
func expansions(r *http.Request) []string {
	var out []string
	for k, vs := range r.URL.Query() {
		if k == "expand" || strings.HasPrefix(k, "expand[") {
			out = append(out, vs...)
		}
	}
	return out
}

// page is one page of a list, as Stripe pages them: limit (10 by default,
// 1 to 100) items after starting_after.
func page(r *http.Request, items []map[string]any, path string) map[string]any {
	limit := 10
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n >= 1 && n <= 100 {
		limit = n
	}
	if after := r.URL.Query().Get("starting_after"); after != "" {
		for i, it := range items {
			if it["id"] == after {
				items = items[i+1:]
				break
			}
		}
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	return list(items, more, path)
}

func list(items []map[string]any, more bool, path string) map[string]any {
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"object": "list", "data": items, "has_more": more, "url": path}
}

func productJSON(p Product) map[string]any {
	return map[string]any{
		"id": p.ID, "object": "product", "active": true, "created": 1700000000, "default_price": nil,
		"description": nil, "images": []string{}, "livemode": false, "marketing_features": []any{},
		"metadata": metadata(p.Metadata), "name": p.Name, "package_dimensions": nil, "shippable": nil,
		"statement_descriptor": nil, "tax_code": nil, "type": "service", "unit_label": nil,
		"updated": 1700000000, "url": nil,
	}
}

func sessionJSON(cs Session) map[string]any {
	var total int64
	for _, li := range cs.LineItems {
		total += quantity(li.Quantity) * li.UnitAmount
	}
	var address any
	if a := cs.Details.Address; a != nil {
		address = addressJSON(*a)
	}
	return map[string]any{
		"id": cs.ID, "object": "checkout.session", "amount_subtotal": total, "amount_total": total,
		"cancel_url": nil, "client_reference_id": nil, "created": cs.Created, "currency": currency(cs.Currency),
		"customer": null(cs.Customer), "customer_creation": "if_required",
		"customer_details": map[string]any{
			"address": address, "email": null(cs.Details.Email), "name": null(cs.Details.Name),
			"phone": null(cs.Details.Phone), "tax_exempt": "none", "tax_ids": []any{},
		},
		"customer_email": nil, "expires_at": cs.Created + 24*3600, "invoice": null(cs.Invoice),
		"livemode": cs.Livemode, "locale": nil, "metadata": map[string]string{}, "mode": or(cs.Mode, "payment"),
		"payment_intent": null(cs.PaymentIntent), "payment_status": or(cs.PaymentStatus, "paid"),
		"status": "complete", "subscription": null(cs.Subscription), "success_url": "https://example.com/success",
		"ui_mode": "hosted", "url": nil,
	}
}

func lineItemJSON(cs Session, i int, li LineItem) map[string]any {
	price := map[string]any{
		"id": or(li.Price, "price_"+li.Product), "object": "price", "active": true, "billing_scheme": "per_unit",
		"created": 1700000000, "currency": currency(cs.Currency), "livemode": cs.Livemode, "lookup_key": nil,
		"metadata": map[string]string{}, "nickname": nil, "product": li.Product, "recurring": nil,
		"tax_behavior": "unspecified", "type": "one_time", "unit_amount": li.UnitAmount,
		"unit_amount_decimal": strconv.FormatInt(li.UnitAmount, 10),
	}
	if li.Interval != "" {
		price["type"] = "recurring"
		price["recurring"] = map[string]any{"interval": li.Interval, "interval_count": 1, "usage_type": "licensed", "meter": nil}
	}
	amount := quantity(li.Quantity) * li.UnitAmount
	return map[string]any{
		"id": or(li.ID, fmt.Sprintf("li_%d", i+1)), "object": "item", "amount_discount": 0,
		"amount_subtotal": amount, "amount_tax": 0, "amount_total": amount, "currency": currency(cs.Currency),
		"description": li.Description, "price": price, "quantity": quantity(li.Quantity),
	}
}

// invoiceJSON is an invoice with its first ten lines, as the API embeds
// them.
func invoiceJSON(in Invoice) map[string]any {
	lines := invoiceLinesJSON(in)
	var total int64
	for _, l := range in.Lines {
		total += l.Amount
	}
	var parent any
	if in.Subscription != "" {
		parent = map[string]any{
			"quote_details": nil, "type": "subscription_details",
			"subscription_details": map[string]any{"metadata": map[string]string{}, "subscription": in.Subscription},
		}
	}
	embedded := lines
	if len(embedded) > 10 {
		embedded = embedded[:10]
	}
	return map[string]any{
		"id": in.ID, "object": "invoice", "amount_due": total, "amount_paid": total, "amount_remaining": 0,
		"attempt_count": 1, "attempted": true, "billing_reason": or(in.BillingReason, "manual"),
		"collection_method": "charge_automatically", "created": in.Created, "currency": currency(in.Currency),
		"customer": null(in.Customer), "customer_address": nil, "customer_email": null(in.CustomerEmail),
		"customer_name": null(in.CustomerName), "customer_phone": nil, "livemode": in.Livemode,
		"lines":    list(embedded, len(lines) > 10, "/v1/invoices/"+in.ID+"/lines"),
		"metadata": map[string]string{}, "parent": parent,
		// The invoice's own period is its usage before the lines' period
		// (Stripe bills a cycle in advance): here, none.
		"period_end": in.Created, "period_start": in.Created,
		"status": or(in.Status, "paid"), "subtotal": total, "total": total,
	}
}

func invoiceLinesJSON(in Invoice) []map[string]any {
	var out []map[string]any
	for i, l := range in.Lines {
		var parent map[string]any
		if sub := or(l.Subscription, in.Subscription); sub != "-" {
			parent = map[string]any{
				"invoice_item_details": nil, "type": "subscription_item_details",
				"subscription_item_details": map[string]any{
					"invoice_item": nil, "proration": false, "proration_details": map[string]any{"credited_items": nil},
					"subscription": null(sub), "subscription_item": fmt.Sprintf("si_%s_%d", l.Product, i+1),
				},
			}
		} else {
			// A one-off invoice item (a fee) on the invoice.
			parent = map[string]any{
				"subscription_item_details": nil, "type": "invoice_item_details",
				"invoice_item_details": map[string]any{
					"invoice_item": fmt.Sprintf("ii_%s_%d", in.ID, i+1), "proration": false,
					"proration_details": map[string]any{"credited_items": nil}, "subscription": null(in.Subscription),
				},
			}
		}
		out = append(out, map[string]any{
			"id": or(l.ID, fmt.Sprintf("il_%s_%d", in.ID, i+1)), "object": "line_item", "amount": l.Amount,
			"currency": currency(in.Currency), "description": null(l.Description), "discount_amounts": []any{},
			"discountable": true, "discounts": []any{}, "invoice": in.ID, "livemode": in.Livemode,
			"metadata": map[string]string{}, "parent": parent,
			"period":                map[string]any{"end": l.PeriodEnd, "start": l.PeriodStart},
			"pretax_credit_amounts": []any{},
			"pricing": map[string]any{
				"price_details": map[string]any{"price": or(l.Price, "price_"+l.Product), "product": l.Product},
				"type":          "price_details", "unit_amount_decimal": strconv.FormatInt(l.Amount/quantity(l.Quantity), 10),
			},
			"quantity": quantity(l.Quantity), "taxes": []any{},
		})
	}
	return out
}

// chargeJSON is a charge of the API version stripe-go pins (basil): no
// invoice, and its refunds only when expanded.
func chargeJSON(ch Charge, withRefunds bool) map[string]any {
	refunds := refundsJSON(ch)
	var refunded int64
	for _, r := range refunds {
		refunded += r["amount"].(int64)
	}
	out := map[string]any{
		"id": ch.ID, "object": "charge", "amount": ch.Amount, "amount_captured": ch.Amount, "amount_refunded": refunded,
		"application": nil, "application_fee": nil, "application_fee_amount": nil, "balance_transaction": nil,
		"billing_details": map[string]any{"address": nil, "email": nil, "name": nil, "phone": nil},
		"captured":        true, "created": ch.Created, "currency": currency(ch.Currency), "customer": null(ch.Customer),
		"description": nil, "disputed": ch.Disputed, "failure_code": nil, "failure_message": nil, "fraud_details": map[string]any{},
		"livemode": ch.Livemode, "metadata": map[string]string{}, "on_behalf_of": nil, "outcome": nil, "paid": true,
		"payment_intent": null(ch.PaymentIntent), "payment_method": "pm_" + ch.ID, "receipt_email": nil, "receipt_number": nil,
		"refunded": ch.Amount > 0 && refunded >= ch.Amount, "review": nil, "shipping": nil, "source_transfer": nil,
		"statement_descriptor": nil, "statement_descriptor_suffix": nil, "status": "succeeded",
		"transfer_data": nil, "transfer_group": nil,
	}
	if withRefunds {
		slices.Reverse(refunds) // newest first
		out["refunds"] = list(refunds, false, "/v1/charges/"+ch.ID+"/refunds")
	}
	return out
}

// refundsJSON are a charge's refunds, oldest first.
func refundsJSON(ch Charge) []map[string]any {
	var out []map[string]any
	left := ch.Amount
	for i, r := range ch.Refunds {
		amount := r.Amount
		if amount == 0 {
			amount = left
		}
		left -= amount
		var reason any
		if r.Reason != "" {
			reason = r.Reason
		}
		out = append(out, map[string]any{
			"id": or(r.ID, fmt.Sprintf("re_%s_%d", ch.ID, i+1)), "object": "refund", "amount": amount,
			"balance_transaction": nil, "charge": ch.ID, "created": max(r.Created, ch.Created), "currency": currency(ch.Currency),
			"destination_details": nil, "metadata": map[string]string{}, "payment_intent": null(ch.PaymentIntent),
			"reason": reason, "receipt_number": nil, "source_transfer_reversal": nil, "status": "succeeded",
			"transfer_reversal": nil,
		})
	}
	return out
}

// disputeJSON is a dispute, with its charge's payment intent.
func (s *Server) disputeJSON(dp Dispute) map[string]any {
	ch := s.charges[dp.Charge]
	amount := dp.Amount
	if amount == 0 {
		amount = ch.Amount
	}
	status := or(dp.Status, "needs_response")
	caseType := "chargeback"
	if strings.HasPrefix(status, "warning_") {
		caseType = "inquiry"
	}
	return map[string]any{
		"id": dp.ID, "object": "dispute", "amount": amount, "balance_transactions": []any{}, "charge": dp.Charge,
		"created": dp.Created, "currency": currency(ch.Currency), "enhanced_eligibility_types": []any{},
		"evidence": map[string]any{"customer_email_address": nil, "customer_name": nil, "product_description": nil, "receipt": nil,
			"refund_policy": nil, "service_date": nil, "uncategorized_text": nil},
		"evidence_details": map[string]any{"due_by": dp.Created + 14*24*3600, "enhanced_eligibility": map[string]any{},
			"has_evidence": false, "past_due": false, "submission_count": 0},
		"is_charge_refundable": false, "livemode": ch.Livemode, "metadata": map[string]string{},
		"network_reason_code": nil, "payment_intent": null(ch.PaymentIntent),
		"payment_method_details": map[string]any{"type": "card", "card": map[string]any{"brand": "visa", "case_type": caseType, "network_reason_code": nil}},
		"reason":                 or(dp.Reason, "general"), "status": status,
	}
}

// invoicePaymentJSON is an invoice's payment by its payment intent.
func invoicePaymentJSON(in Invoice) map[string]any {
	var total int64
	for _, l := range in.Lines {
		total += l.Amount
	}
	return map[string]any{
		"id": "inpay_" + in.ID, "object": "invoice_payment", "amount_paid": total, "amount_requested": total,
		"created": in.Created, "currency": currency(in.Currency), "invoice": in.ID, "is_default": true,
		"livemode": in.Livemode, "payment": map[string]any{"type": "payment_intent", "payment_intent": in.PaymentIntent},
		"status": "paid", "status_transitions": map[string]any{"canceled_at": nil, "paid_at": in.Created},
	}
}

func addressJSON(a Address) map[string]any {
	return map[string]any{
		"city": null(a.City), "country": null(a.Country), "line1": null(a.Line1), "line2": null(a.Line2),
		"postal_code": null(a.PostalCode), "state": null(a.State),
	}
}

// missing is Stripe's answer for an id it does not know.
func missing(w http.ResponseWriter, object, id, param string) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing",
		fmt.Sprintf("No such %s: '%s'", object, id), param)
}

// writeError writes Stripe's error shape: {"error": {type, code, message,
// param, doc_url, request_log_url}}.
func writeError(w http.ResponseWriter, status int, typ, code, message, param string) {
	e := map[string]any{"type": typ, "message": message}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	if param != "" {
		e["param"] = param
	}
	e["request_log_url"] = "https://dashboard.stripe.com/test/logs/" + w.Header().Get("Request-Id")
	writeJSON(w, status, map[string]any{"error": e})
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "invalid_request_error" // rate_limit code, as Stripe sends it
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// masked is a key as Stripe's error shows it: its prefix and last four.
func masked(key string) string {
	if len(key) <= 12 {
		return "****"
	}
	return key[:8] + "*****" + key[len(key)-4:]
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func currency(c string) string { return or(c, "usd") }

func quantity(n int64) int64 { return max(n, 1) }

func metadata(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// put registers v under id, replacing what was there, under mu.
func put[T any](mu *sync.Mutex, m map[string]T, id string, v T) {
	mu.Lock()
	defer mu.Unlock()
	m[id] = v
}
