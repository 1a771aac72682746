package mail_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/mail"
	"github.com/keysmith/keysmith/mail/resendtest"
)

func newResend(t *testing.T, apiKey, baseURL string) *mail.Resend {
	t.Helper()
	r, err := mail.NewResend(apiKey, baseURL, nil)
	if err != nil {
		t.Fatalf("NewResend: %v", err)
	}
	return r
}

func testMessage(key string) mail.Message {
	return mail.Message{
		From:           "Vendor Sales <sales@vendor.example>",
		To:             "Jürgen Müller <juergen@buyer.example>",
		ReplyTo:        "support@vendor.example",
		Subject:        "Your license key for Tool 1.0",
		Text:           "Your key:\n\n    AAAA-BBBB\n",
		HTML:           "<p>Your key:</p><p>AAAA-BBBB</p>",
		IdempotencyKey: key,
		// Several tags, so that a random map order would change the body.
		Tags: map[string]string{"order": "42", "product": "1", "kind": "license", "shop": "shareit", "seats": "3"},
	}
}

// sendErr sends m and returns the *mail.Error it must fail with.
func sendErr(t *testing.T, s mail.Sender, m mail.Message) *mail.Error {
	t.Helper()
	id, err := s.Send(context.Background(), m)
	if err == nil {
		t.Fatalf("Send succeeded with id %q, want an error", id)
	}
	var me *mail.Error
	if !errors.As(err, &me) {
		t.Fatalf("Send error %T %q is not a *mail.Error", err, err)
	}
	return me
}

func TestResendDelivers(t *testing.T) {
	srv := resendtest.NewServer(t)
	// Without the trailing slash, to show NewResend adds it.
	r := newResend(t, srv.APIKey, strings.TrimSuffix(srv.URL(), "/"))

	m := testMessage("order-42-license")
	id, err := r.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Delivered()
	if len(got) != 1 {
		t.Fatalf("delivered %d emails, want 1", len(got))
	}
	e := got[0]
	if e.ID != id || e.From != m.From || len(e.To) != 1 || e.To[0] != m.To || e.Subject != m.Subject ||
		e.Text != m.Text || e.HTML != m.HTML || e.IdempotencyKey != m.IdempotencyKey {
		t.Errorf("delivered %+v, want %+v with id %q", e, m, id)
	}
	if len(e.ReplyTo) != 1 || e.ReplyTo[0] != m.ReplyTo {
		t.Errorf("reply-to %v, want %q", e.ReplyTo, m.ReplyTo)
	}
	if len(e.Tags) != len(m.Tags) || e.Tags["order"] != "42" {
		t.Errorf("tags %v, want %v", e.Tags, m.Tags)
	}
}

func TestResendIdempotentRepeatDeliversOnce(t *testing.T) {
	srv := resendtest.NewServer(t)
	r := newResend(t, srv.APIKey, srv.URL())

	var ids []string
	for range 3 {
		id, err := r.Send(context.Background(), testMessage("order-42-license"))
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ids = append(ids, id)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("ids %v, want the same id each time", ids)
	}
	if n := len(srv.Delivered()); n != 1 {
		t.Errorf("delivered %d emails, want 1", n)
	}
	if n := srv.Attempts(); n != 3 {
		t.Errorf("attempts %d, want 3", n)
	}
}

func TestResendErrors(t *testing.T) {
	tests := []struct {
		name          string
		setup         func(t *testing.T, srv *resendtest.Server, r *mail.Resend)
		wrongKey      bool
		wantStatus    int
		wantPermanent bool
		wantRetry     time.Duration
		wantReason    string // prefix
	}{
		{
			name:       "rate limited",
			setup:      func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) { srv.FailNext(1, 429, "") },
			wantStatus: 429, wantRetry: time.Second,
			wantReason: "resend: 429 rate_limit_exceeded: ",
		},
		{
			name:       "unavailable",
			setup:      func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) { srv.FailNext(1, 503, "") },
			wantStatus: 503,
			wantReason: "resend: 503 service_unavailable",
		},
		{
			name: "server error",
			setup: func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) {
				srv.FailNext(1, 500, "internal_server_error")
			},
			wantStatus: 500,
			wantReason: "resend: 500 internal_server_error: ",
		},
		{
			name:          "validation",
			setup:         func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) { srv.FailNext(1, 422, "validation_error") },
			wantStatus:    422,
			wantPermanent: true,
			wantReason:    "resend: 422 validation_error: ",
		},
		{
			name:          "wrong API key",
			wrongKey:      true,
			wantStatus:    401,
			wantPermanent: true,
			wantReason:    "resend: 401 invalid_api_key: API key is invalid.",
		},
		{
			name: "same key, different body",
			setup: func(t *testing.T, srv *resendtest.Server, r *mail.Resend) {
				m := testMessage("order-42-license")
				m.Subject = "an earlier subject"
				if _, err := r.Send(context.Background(), m); err != nil {
					t.Fatalf("first Send: %v", err)
				}
			},
			wantStatus:    409,
			wantPermanent: true,
			wantReason:    "resend: 409 invalid_idempotent_request: ",
		},
		{
			name: "first request still running",
			setup: func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) {
				srv.FailNext(1, 409, "concurrent_idempotent_requests")
			},
			wantStatus: 409,
			wantReason: "resend: 409 concurrent_idempotent_requests",
		},
		{
			name:       "network",
			setup:      func(t *testing.T, srv *resendtest.Server, _ *mail.Resend) { srv.Close() },
			wantStatus: 0,
			wantReason: "resend: no answer: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := resendtest.NewServer(t)
			key := srv.APIKey
			if tt.wrongKey {
				key = "re_wrong_key_0123456789"
			}
			r := newResend(t, key, srv.URL())
			if tt.setup != nil {
				tt.setup(t, srv, r)
			}

			e := sendErr(t, r, testMessage("order-42-license"))
			if e.Status != tt.wantStatus || e.Permanent != tt.wantPermanent || e.RetryAfter != tt.wantRetry {
				t.Errorf("got status %d permanent %v retry after %v, want %d %v %v",
					e.Status, e.Permanent, e.RetryAfter, tt.wantStatus, tt.wantPermanent, tt.wantRetry)
			}
			if !strings.HasPrefix(e.Error(), tt.wantReason) || strings.Contains(e.Error(), "\n") {
				t.Errorf("Error() = %q, want one line starting %q", e.Error(), tt.wantReason)
			}
			for _, k := range []string{srv.APIKey, key} {
				if strings.Contains(e.Error(), k) {
					t.Errorf("Error() %q contains the API key", e.Error())
				}
			}
		})
	}
}

func TestResendRejectsIncompleteMessageWithoutSending(t *testing.T) {
	srv := resendtest.NewServer(t)
	r := newResend(t, srv.APIKey, srv.URL())

	m := testMessage("")
	m.To = ""
	e := sendErr(t, r, m)
	if !e.Permanent || e.Status != 0 {
		t.Errorf("got %+v, want a permanent local error", e)
	}
	if want := "mail: message has no to, idempotency key"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if n := srv.Attempts(); n != 0 {
		t.Errorf("attempts %d, want 0", n)
	}
}

// A server (or proxy) that repeats the Authorization header in its error must
// not get the key into our error text.
func TestResendScrubsEchoedKey(t *testing.T) {
	const key = "re_secret_0123456789"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"statusCode":400,"name":"validation_error","message":"bad header ` + r.Header.Get("Authorization") + `"}`))
	}))
	defer echo.Close()

	e := sendErr(t, newResend(t, key, echo.URL), testMessage("k"))
	if strings.Contains(e.Error(), key) {
		t.Errorf("Error() %q contains the API key", e.Error())
	}
	if want := "resend: 400 validation_error: bad header Bearer [api key]"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

// Without retry-after, the time until the rate limit resets is the advice.
func TestResendRetryAfterFromRateLimitReset(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ratelimit-reset", "7")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer limited.Close()

	e := sendErr(t, newResend(t, "re_key", limited.URL), testMessage("k"))
	if e.Status != 429 || e.Permanent || e.RetryAfter != 7*time.Second {
		t.Errorf("got %+v, want transient 429 with RetryAfter 7s", e)
	}
	if want := "resend: 429 Too Many Requests"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

// An accepted request whose answer got lost is worth retrying: the
// idempotency key returns the first result.
func TestResendUnreadableSuccessIsTransient(t *testing.T) {
	garbled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":`))
	}))
	defer garbled.Close()

	e := sendErr(t, newResend(t, "re_key", garbled.URL), testMessage("k"))
	if e.Status != 200 || e.Permanent {
		t.Errorf("got %+v, want transient with status 200", e)
	}
}

// A worker stops while Resend is still working on its request; the next
// worker's retry with the same key must not email the buyer twice.
func TestResendRetryAfterInterruptedSendDeliversOnce(t *testing.T) {
	srv := resendtest.NewServer(t)
	r := newResend(t, srv.APIKey, srv.URL())
	m := testMessage("order-42-license")

	srv.Block()
	ctx, stopWorker := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := r.Send(ctx, m)
		firstErr <- err
	}()
	for srv.Attempts() < 1 {
		time.Sleep(time.Millisecond)
	}
	stopWorker()
	err := <-firstErr
	var me *mail.Error
	if !errors.As(err, &me) || me.Permanent || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Send: %v, want a transient error wrapping context.Canceled", err)
	}

	// Resend is still working on the first request.
	if e := sendErr(t, r, m); e.Status != 409 || e.Permanent {
		t.Errorf("retry while the first is running: %+v, want transient 409", e)
	}

	srv.Unblock()
	var id string
	for {
		id, err = r.Send(context.Background(), m)
		if !errors.As(err, &me) || me.Status != 409 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatalf("retry after release: %v", err)
	}
	got := srv.Delivered()
	if len(got) != 1 || got[0].ID != id {
		t.Errorf("delivered %+v, want one email with id %q", got, id)
	}
}

func TestNewResendChecksArguments(t *testing.T) {
	if _, err := mail.NewResend(" ", "", nil); err == nil {
		t.Error("NewResend accepted an empty API key")
	}
	if _, err := mail.NewResend("re_key", "api.resend.com", nil); err == nil {
		t.Error("NewResend accepted a base URL without scheme")
	}
}
