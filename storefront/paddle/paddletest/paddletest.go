// Package paddletest is a local stand-in for the part of Paddle's API the
// paddle kind reads, for tests: transactions (GET /transactions/{id}, with
// include=customer,address,business) and the customers, addresses and
// businesses they name. It answers in the shapes Paddle's API reference
// documents ({"data": ..., "meta": ...}, {"error": ...}), checks the API
// key as Paddle does (Authorization: Bearer), and can be told to fail. It
// also builds and signs the notifications Paddle would send.
package paddletest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sign is the Paddle-Signature header of body sent at t:
// ts=<Unix seconds>;h1=<hex HMAC SHA256 of "<ts>:<body>">, one h1 per
// secret (Paddle signs with both the old and the new secret while one is
// rotated).
func Sign(body []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	parts := []string{"ts=" + ts}
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts + ":"))
		mac.Write(body)
		parts = append(parts, "h1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, ";")
}

// Event is a notification's body: {"event_id", "event_type", "occurred_at",
// "notification_id", "data"}, data being the entity (raw JSON, or any value
// to marshal).
func Event(id, eventType string, occurred time.Time, data any) []byte {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			panic(err)
		}
	}
	b, err := json.Marshal(struct {
		EventID        string          `json:"event_id"`
		EventType      string          `json:"event_type"`
		OccurredAt     string          `json:"occurred_at"`
		NotificationID string          `json:"notification_id"`
		Data           json.RawMessage `json:"data"`
	}{id, eventType, occurred.UTC().Format(time.RFC3339Nano), "ntf_" + strings.ToLower(rand.Text()[:26]), raw})
	if err != nil {
		panic(err)
	}
	return b
}

// Customer is a customer entity.
type Customer struct {
	ID     string `json:"id" yaml:"id"`
	Name   string `json:"name" yaml:"name"`
	Email  string `json:"email" yaml:"email"`
	Locale string `json:"locale,omitempty" yaml:"locale"`
}

// Address is an address entity.
type Address struct {
	ID          string `json:"id" yaml:"id"`
	FirstLine   string `json:"first_line,omitempty" yaml:"first_line"`
	City        string `json:"city,omitempty" yaml:"city"`
	PostalCode  string `json:"postal_code,omitempty" yaml:"postal_code"`
	Region      string `json:"region,omitempty" yaml:"region"`
	CountryCode string `json:"country_code" yaml:"country_code"`
}

// Business is a business entity.
type Business struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
}

// Server is the stand-in. Its zero value is not usable; see NewServer.
type Server struct {
	srv *httptest.Server
	key string

	mu           sync.Mutex
	transactions map[string]json.RawMessage
	customers    map[string]Customer
	addresses    map[string]Address
	businesses   map[string]Business
	fail         int      // answer this many calls 500
	calls        []string // each call's path and query
}

// NewServer starts a stand-in that accepts apiKey, closed when the test
// ends.
func NewServer(t testing.TB, apiKey string) *Server {
	s := &Server{key: apiKey, transactions: map[string]json.RawMessage{}, customers: map[string]Customer{},
		addresses: map[string]Address{}, businesses: map[string]Business{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API's base URL, for the provider's api_url.
func (s *Server) URL() string { return s.srv.URL }

// AddTransaction registers a transaction entity (an event's data) under
// its id; a later one of the same id replaces it, as a transaction's
// events carry it as it is at each.
func (s *Server) AddTransaction(raw []byte) error {
	var t struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.ID == "" {
		return fmt.Errorf("paddletest: not a transaction with an id: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transactions[t.ID] = append(json.RawMessage(nil), raw...)
	return nil
}

// AddCustomer registers a customer, which a transaction read with
// include=customer carries by its customer_id (and an address or a
// business likewise, by address_id and business_id).
func (s *Server) AddCustomer(c Customer) { put(&s.mu, s.customers, c.ID, c) }

// AddAddress registers an address.
func (s *Server) AddAddress(a Address) { put(&s.mu, s.addresses, a.ID, a) }

// AddBusiness registers a business.
func (s *Server) AddBusiness(b Business) { put(&s.mu, s.businesses, b.ID, b) }

// FailNext answers the next n calls with a 500.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

// Calls are the paths (and queries) called so far.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.URL.RequestURI())
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || auth == "":
		writeError(w, http.StatusUnauthorized, "authentication_missing", "no API key")
		return
	case auth != s.key:
		writeError(w, http.StatusForbidden, "forbidden", "the API key is not this account's")
		return
	case s.fail > 0:
		s.fail--
		writeError(w, http.StatusInternalServerError, "internal_error", "told to fail")
		return
	case r.Method != http.MethodGet:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/transactions/")
	raw, found := s.transactions[id]
	if !ok || !found {
		writeError(w, http.StatusNotFound, "not_found", "entity "+id+" not found")
		return
	}
	var txn map[string]json.RawMessage
	if err := json.Unmarshal(raw, &txn); err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
		return
	}
	ref := func(field string) string {
		var v string
		_ = json.Unmarshal(txn[field], &v)
		return v
	}
	for inc := range strings.SplitSeq(r.URL.Query().Get("include"), ",") {
		var v any
		switch inc {
		case "customer":
			if c, ok := s.customers[ref("customer_id")]; ok {
				v = c
			}
		case "address":
			if a, ok := s.addresses[ref("address_id")]; ok {
				v = a
			}
		case "business":
			if b, ok := s.businesses[ref("business_id")]; ok {
				v = b
			}
		}
		if v != nil {
			txn[inc], _ = json.Marshal(v)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": txn, "meta": map[string]string{"request_id": requestID()}})
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]any{
		"error": map[string]string{"type": "request_error", "code": code, "detail": detail,
			"documentation_url": "https://developer.paddle.com/errors/shared/" + code},
		"meta": map[string]string{"request_id": requestID()},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func requestID() string { return strings.ToLower(rand.Text()[:8]) }

// put registers v under id, replacing what was there, under mu.
func put[T any](mu *sync.Mutex, m map[string]T, id string, v T) {
	mu.Lock()
	defer mu.Unlock()
	m[id] = v
}
