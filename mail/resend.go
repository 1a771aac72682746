package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resend/resend-go/v2"
)

var _ Sender = (*Resend)(nil)

// Resend sends through the Resend API (https://resend.com).
type Resend struct {
	client *resend.Client
	apiKey string // kept only to scrub it from error text
}

// NewResend returns a Sender for Resend. baseURL "" means Resend's own API
// (or RESEND_BASE_URL, which resend-go reads at start-up); tests pass the URL
// of a resendtest.Server. httpClient nil means a client with a one-minute
// timeout; a given client is copied, not changed.
func NewResend(apiKey, baseURL string, httpClient *http.Client) (*Resend, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return nil, errors.New("mail: resend API key is empty")
	}

	hc := &http.Client{Timeout: time.Minute}
	if httpClient != nil {
		c := *httpClient
		hc = &c
	}
	hc.Transport = recordingTransport{next: hc.Transport}

	client := resend.NewCustomClient(hc, apiKey)
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("mail: resend base URL %q is not an absolute URL", baseURL)
		}
		// resend-go resolves "emails" against BaseURL: without the trailing
		// slash the last path segment would be replaced, not extended.
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		client.BaseURL = u
	}
	return &Resend{client: client, apiKey: apiKey}, nil
}

// Send delivers m through Resend and returns Resend's email id.
func (r *Resend) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	req := &resend.SendEmailRequest{
		From:    m.From,
		To:      []string{m.To},
		ReplyTo: m.ReplyTo,
		Subject: m.Subject,
		Text:    m.Text,
		Html:    m.HTML,
		Tags:    sortedTags(m.Tags),
	}

	answer := &httpAnswer{}
	ctx = context.WithValue(ctx, httpAnswerKey{}, answer)
	resp, err := r.client.Emails.SendWithOptions(ctx, req, &resend.SendEmailOptions{IdempotencyKey: m.IdempotencyKey})
	if err != nil {
		return "", r.classify(answer, err)
	}
	if resp.Id == "" {
		// Resend always names the email; without an id there is nothing to
		// record, and the idempotency key makes asking again safe.
		return "", &Error{Status: answer.status, Reason: "resend: answer without an email id"}
	}
	return resp.Id, nil
}

// sortedTags turns the map into Resend's list in a fixed order: Resend
// answers a retry whose body differs from the first attempt (even by tag
// order) with 409 invalid_idempotent_request, and Go's map order is random.
func sortedTags(tags map[string]string) []resend.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]resend.Tag, 0, len(tags))
	for name, value := range tags {
		out = append(out, resend.Tag{Name: name, Value: value})
	}
	slices.SortFunc(out, func(a, b resend.Tag) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// classify turns what resend-go returned, plus what the transport saw, into
// an *Error.
func (r *Resend) classify(a *httpAnswer, err error) *Error {
	if a.status == 0 {
		// No HTTP answer: connection refused, timeout, cancelled context.
		// Whether or not Resend got the request, the idempotency key makes
		// a retry safe.
		return &Error{Reason: r.scrub("resend: no answer: " + err.Error()), err: err}
	}

	if a.status < 300 {
		// A 2xx whose body resend-go could not read: the email may have been
		// accepted, and a retry with the same key returns its id.
		return &Error{Status: a.status, Reason: r.scrub(fmt.Sprintf("resend: %d but unreadable answer: %v", a.status, err))}
	}

	reason := a.name
	if reason == "" {
		reason = http.StatusText(a.status)
	}
	if a.message != "" {
		reason += ": " + a.message
	}
	e := &Error{Status: a.status, Reason: r.scrub(fmt.Sprintf("resend: %d %s", a.status, reason))}
	switch {
	case a.status == http.StatusTooManyRequests, a.status >= 500:
		e.RetryAfter = retryAfter(a.header)
	case a.status == http.StatusConflict && a.name == "concurrent_idempotent_requests":
		// The first request with this key is still running; asking again
		// later returns its result.
		e.RetryAfter = retryAfter(a.header)
	default:
		// Any other 4xx, including 409 invalid_idempotent_request (same key,
		// different body): resending the same request cannot succeed.
		e.Permanent = true
	}
	return e
}

// scrub removes the API key from text that comes from elsewhere (error
// messages of the server or of net/http), in case one ever echoes it.
func (r *Resend) scrub(s string) string {
	return oneLine(strings.ReplaceAll(s, r.apiKey, "[api key]"))
}

// retryAfter reads the provider's advice: Retry-After in seconds or as an
// HTTP date, else ratelimit-reset in seconds; 0 when there is none.
func retryAfter(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h.Get("Ratelimit-Reset"))); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// resend-go reports every failure except 429 as a plain string without the
// status code, so on its own it cannot tell "bad address" (permanent) from
// "server down" (transient). recordingTransport, installed under resend-go in
// the http.Client, writes each answer's status, headers and error body into an
// httpAnswer that Send puts into the request's context. The context is the
// only thing that travels from Send through resend-go to the transport, and a
// value per call keeps concurrent Sends on one client apart without locks:
// http.Client calls RoundTrip on the calling goroutine, so the answer is
// complete when SendWithOptions returns.
type httpAnswer struct {
	status  int
	header  http.Header
	name    string // Resend's error name, e.g. "validation_error"
	message string
}

type httpAnswerKey struct{}

type recordingTransport struct {
	next http.RoundTripper // nil = http.DefaultTransport
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	answer, ok := req.Context().Value(httpAnswerKey{}).(*httpAnswer)
	if err != nil || !ok {
		return resp, err
	}
	// After a redirect the last answer wins, which is the one resend-go sees.
	*answer = httpAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode < 400 {
		return resp, nil
	}

	// Peek at the error body and hand resend-go the whole body unchanged.
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}

	var body struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	if json.Unmarshal(peek, &body) == nil {
		answer.name, answer.message = body.Name, body.Message
	}
	return resp, nil
}
