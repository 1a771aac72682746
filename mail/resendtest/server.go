// Package resendtest is a fake Resend API for tests: it answers POST /emails
// the way Resend does (authentication, validation, idempotency keys, error
// bodies and rate-limit headers), records what it delivered, and can be told
// to fail or to hold requests.
package resendtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Email is one delivered email, as the fake received it.
type Email struct {
	ID             string
	From           string
	To             []string
	ReplyTo        []string
	Subject        string
	Text           string
	HTML           string
	Tags           map[string]string
	IdempotencyKey string
}

// Server is the fake Resend API. It is safe for concurrent use.
type Server struct {
	APIKey string // the only key it accepts

	srv *httptest.Server

	mu        sync.Mutex
	attempts  int
	delivered []Email
	failures  []failure              // scripted answers for the next POSTs, in order
	requests  map[string]*idempotent // by Idempotency-Key
	gate      chan struct{}          // non-nil while blocked; closed to release
}

type failure struct {
	status int
	name   string
}

// idempotent remembers what Resend remembers about a key: the body it came
// with and, once done, the id it answered.
type idempotent struct {
	body string
	id   string // "" while the first request is still running
}

// NewServer starts a fake Resend API that is closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		APIKey:   "re_test_" + randomHex(12),
		requests: map[string]*idempotent{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL is the server's base URL with the trailing slash resend-go needs.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Close releases held requests and stops the server; later requests fail
// with a network error.
func (s *Server) Close() {
	s.Unblock()
	s.srv.Close()
}

// FailNext makes the next n POSTs answer status with error name (a default
// name for the status when ""), before any other check. Calls queue up.
// A 429 carries retry-after: 1 and the ratelimit-* headers.
func (s *Server) FailNext(n int, status int, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, name: name})
	}
}

// Block holds every request that would deliver an email, until Unblock.
// A second request with the same Idempotency-Key as a held one gets 409
// concurrent_idempotent_requests, as with Resend. A held request is delivered
// when released even if its client has gone away, because Resend, too,
// finishes what it has received.
func (s *Server) Block() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Unblock releases held requests.
func (s *Server) Unblock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// Delivered returns the emails delivered so far, in order.
func (s *Server) Delivered() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Email, len(s.delivered))
	copy(out, s.delivered)
	return out
}

// Attempts counts every POST /emails, failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// request is the JSON body of POST /emails. to and reply_to may be a string
// or a list.
type request struct {
	From    string     `json:"from"`
	To      stringList `json:"to"`
	ReplyTo stringList `json:"reply_to"`
	Subject string     `json:"subject"`
	HTML    string     `json:"html"`
	Text    string     `json:"text"`
	Tags    []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"tags"`
}

type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = stringList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/emails" {
		writeError(w, http.StatusNotFound, "not_found", "The requested endpoint does not exist.")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method is not allowed for the requested path.")
		return
	}

	body, readErr := io.ReadAll(r.Body)
	req, rejected := s.check(r, body, readErr)
	key := r.Header.Get("Idempotency-Key")

	// Counting, scripted failures and the idempotency decision happen in one
	// critical section, so that once Attempts() has counted a request, a
	// later request with the same key sees it.
	s.mu.Lock()
	s.attempts++
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		writeScripted(w, f)
		return
	}
	if rejected != nil {
		s.mu.Unlock()
		writeError(w, rejected.status, rejected.name, rejected.message)
		return
	}
	if key != "" {
		canonical := canonicalJSON(body)
		if prev, ok := s.requests[key]; ok {
			prevBody, prevID := prev.body, prev.id
			s.mu.Unlock()
			switch {
			case prevBody != canonical:
				writeError(w, http.StatusConflict, "invalid_idempotent_request",
					"Same idempotency key used with a different request payload. Change your idempotency key or payload.")
			case prevID == "":
				writeError(w, http.StatusConflict, "concurrent_idempotent_requests",
					"Same idempotency key used while original request is still in progress. Try the request again later.")
			default:
				writeJSON(w, http.StatusOK, map[string]string{"id": prevID})
			}
			return
		}
		s.requests[key] = &idempotent{body: canonical}
	}
	gate := s.gate
	s.mu.Unlock()

	if gate != nil {
		<-gate
	}

	email := Email{
		ID:             newID(),
		From:           req.From,
		To:             req.To,
		ReplyTo:        req.ReplyTo,
		Subject:        req.Subject,
		Text:           req.Text,
		HTML:           req.HTML,
		IdempotencyKey: key,
	}
	if len(req.Tags) > 0 {
		email.Tags = map[string]string{}
		for _, tag := range req.Tags {
			email.Tags[tag.Name] = tag.Value
		}
	}
	s.mu.Lock()
	s.delivered = append(s.delivered, email)
	if key != "" {
		s.requests[key].id = email.ID
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": email.ID})
}

type rejection struct {
	status        int
	name, message string
}

// check does what Resend checks before looking at the idempotency key:
// the API key, the JSON and the required fields.
func (s *Server) check(r *http.Request, body []byte, readErr error) (request, *rejection) {
	var req request
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		return req, &rejection{http.StatusUnauthorized, "missing_api_key", "Missing API key in the authorization header."}
	case auth != "Bearer "+s.APIKey:
		return req, &rejection{http.StatusUnauthorized, "invalid_api_key", "API key is invalid."}
	}
	if readErr != nil {
		return req, &rejection{http.StatusBadRequest, "validation_error", "Could not read the request body."}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, &rejection{http.StatusBadRequest, "validation_error", "Invalid JSON: " + err.Error()}
	}
	if msg := validate(req); msg != "" {
		return req, &rejection{http.StatusUnprocessableEntity, "validation_error", msg}
	}
	if len(r.Header.Get("Idempotency-Key")) > 256 {
		return req, &rejection{http.StatusBadRequest, "invalid_idempotency_key", "The key must be between 1-256 chars."}
	}
	return req, nil
}

func validate(req request) string {
	switch {
	case req.From == "":
		return "Missing `from` field."
	case len(req.To) == 0 || req.To[0] == "":
		return "Missing `to` field."
	case req.Subject == "":
		return "Missing `subject` field."
	case req.HTML == "" && req.Text == "":
		return "Missing `html` or `text` field."
	}
	return ""
}

// canonicalJSON compares bodies by content, not by spacing or key order.
func canonicalJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func writeScripted(w http.ResponseWriter, f failure) {
	name, message := f.name, http.StatusText(f.status)
	switch f.status {
	case http.StatusTooManyRequests:
		if name == "" {
			name = "rate_limit_exceeded"
		}
		message = "Too many requests. You can only make 2 requests per second."
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Ratelimit-Limit", "2")
		w.Header().Set("Ratelimit-Remaining", "0")
		w.Header().Set("Ratelimit-Reset", "1")
	case http.StatusInternalServerError:
		message = "An unexpected error occurred."
	}
	if name == "" {
		name = strings.ReplaceAll(strings.ToLower(http.StatusText(f.status)), " ", "_")
	}
	writeError(w, f.status, name, message)
}

func writeError(w http.ResponseWriter, status int, name, message string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "name": name, "message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a random UUID (version 4), the shape of Resend's ids.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
