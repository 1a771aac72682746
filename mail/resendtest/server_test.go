package resendtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysmith/keysmith/mail/resendtest"
)

const validBody = `{"from":"a@vendor.example","to":["b@buyer.example"],"subject":"Key","text":"AAAA"}`

type answer struct {
	status int
	header http.Header
	ID     string `json:"id"`
	Code   int    `json:"statusCode"`
	Name   string `json:"name"`
}

// post sends a raw request, as any HTTP client could, and reads the answer.
func post(t *testing.T, s *resendtest.Server, auth, key, body string) answer {
	t.Helper()
	a, err := tryPost(s, auth, key, body)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusOK && a.Code != a.status {
		t.Errorf("error body statusCode %d, HTTP status %d", a.Code, a.status)
	}
	return a
}

// tryPost is post for goroutines, which must not call t.Fatal.
func tryPost(s *resendtest.Server, auth, key, body string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL()+"emails", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return a, fmt.Errorf("answer is not JSON: %w", err)
	}
	return a, nil
}

func TestServerAnswers(t *testing.T) {
	tests := []struct {
		name       string
		auth, body string
		wantStatus int
		wantName   string
	}{
		{"delivered", "good", validBody, 200, ""},
		{"no key", "", validBody, 401, "missing_api_key"},
		{"wrong key", "Bearer re_wrong", validBody, 401, "invalid_api_key"},
		{"no from", "good", `{"to":"b@buyer.example","subject":"Key","text":"A"}`, 422, "validation_error"},
		{"no to", "good", `{"from":"a@vendor.example","subject":"Key","text":"A"}`, 422, "validation_error"},
		{"no subject", "good", `{"from":"a@vendor.example","to":"b@buyer.example","text":"A"}`, 422, "validation_error"},
		{"not JSON", "good", `{`, 400, "validation_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := resendtest.NewServer(t)
			auth := tt.auth
			if auth == "good" {
				auth = "Bearer " + s.APIKey
			}
			a := post(t, s, auth, "", tt.body)
			if a.status != tt.wantStatus || a.Name != tt.wantName {
				t.Errorf("got %d %q, want %d %q", a.status, a.Name, tt.wantStatus, tt.wantName)
			}
			wantDelivered := 0
			if tt.wantStatus == 200 {
				wantDelivered = 1
				if a.ID == "" {
					t.Error("no id in answer")
				}
			}
			if n := len(s.Delivered()); n != wantDelivered {
				t.Errorf("delivered %d, want %d", n, wantDelivered)
			}
			if n := s.Attempts(); n != 1 {
				t.Errorf("attempts %d, want 1", n)
			}
		})
	}
}

func TestServerIdempotencyKey(t *testing.T) {
	s := resendtest.NewServer(t)
	auth := "Bearer " + s.APIKey

	first := post(t, s, auth, "k1", validBody)
	// Same content, different spacing and key order: the same request.
	same := post(t, s, auth, "k1", `{"subject":"Key", "from":"a@vendor.example","to":["b@buyer.example"],"text":"AAAA"}`)
	if first.status != 200 || same.status != 200 || same.ID != first.ID {
		t.Errorf("repeat: %+v then %+v, want the first id again", first, same)
	}
	changed := post(t, s, auth, "k1", strings.Replace(validBody, "AAAA", "BBBB", 1))
	if changed.status != 409 || changed.Name != "invalid_idempotent_request" {
		t.Errorf("changed body: %d %q, want 409 invalid_idempotent_request", changed.status, changed.Name)
	}
	other := post(t, s, auth, "k2", validBody)
	if other.status != 200 || other.ID == first.ID {
		t.Errorf("other key: %+v, want a new id", other)
	}
	got := s.Delivered()
	if len(got) != 2 || got[0].IdempotencyKey != "k1" || got[1].IdempotencyKey != "k2" {
		t.Errorf("delivered %+v, want k1 and k2 once each", got)
	}
}

func TestServerFailNext(t *testing.T) {
	s := resendtest.NewServer(t)
	auth := "Bearer " + s.APIKey
	s.FailNext(2, 429, "")
	s.FailNext(1, 503, "")

	for range 2 {
		a := post(t, s, auth, "k", validBody)
		if a.status != 429 || a.Name != "rate_limit_exceeded" || a.header.Get("Retry-After") != "1" ||
			a.header.Get("Ratelimit-Remaining") != "0" || a.header.Get("Ratelimit-Reset") == "" {
			t.Errorf("got %d %q %v, want 429 with rate-limit headers", a.status, a.Name, a.header)
		}
	}
	if a := post(t, s, auth, "k", validBody); a.status != 503 {
		t.Errorf("got %d, want 503", a.status)
	}
	if a := post(t, s, auth, "k", validBody); a.status != 200 {
		t.Errorf("got %d, want 200 once the failures are used up", a.status)
	}
	if n, d := s.Attempts(), len(s.Delivered()); n != 4 || d != 1 {
		t.Errorf("attempts %d delivered %d, want 4 and 1", n, d)
	}
}

func TestServerBlock(t *testing.T) {
	s := resendtest.NewServer(t)
	auth := "Bearer " + s.APIKey
	s.Block()

	var wg sync.WaitGroup
	var held answer
	var heldErr error
	wg.Go(func() { held, heldErr = tryPost(s, auth, "k", validBody) })
	for s.Attempts() < 1 {
		time.Sleep(time.Millisecond) // until the request has arrived
	}
	if a := post(t, s, auth, "k", validBody); a.status != 409 || a.Name != "concurrent_idempotent_requests" {
		t.Errorf("while held: %d %q, want 409 concurrent_idempotent_requests", a.status, a.Name)
	}
	if n := len(s.Delivered()); n != 0 {
		t.Errorf("delivered %d while blocked, want 0", n)
	}

	s.Unblock()
	wg.Wait()
	if heldErr != nil {
		t.Fatal(heldErr)
	}
	if held.status != 200 || len(s.Delivered()) != 1 {
		t.Errorf("after Unblock: %+v, delivered %d, want 200 and 1", held, len(s.Delivered()))
	}
}
