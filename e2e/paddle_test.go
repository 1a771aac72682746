package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/storefront/paddle/paddletest"
)

// TestPaddleCorpus sends every call of Paddle's corpus to the real stack,
// signed as Paddle signs them, with what a notification names by id read
// from the stack's stand-in of Paddle's API, and checks the answer, every
// key's claims, what was stored and what was revoked.
func TestPaddleCorpus(t *testing.T) {
	runPaddleCorpus(t, "../storefront/paddle/testdata/corpus.yaml")
}

// paddleNotice is what the runner reads of a corpus call's notification.
type paddleNotice struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Data      json.RawMessage `json:"data"`
}

// runPaddleCorpus is runCorpus for Paddle's calls (corpus_test.go signs a
// webhook as FastSpring does): the same format, each webhook signed with
// Paddle-Signature, each transaction.* event's data registered in the
// stack's stand-in of Paddle's API first (Paddle's API holds what it
// sends), and want.revoked checked as for Stripe's events: what an
// adjustment or a cancellation (repeat: it keys nothing) did to its lines'
// keys.
func runPaddleCorpus(t *testing.T, path string) {
	s := newStack(t)
	api := paddletest.NewServer(t, testenv.PaddleAPIKey)
	if p, ok := s.app.Config.Provider("paddle"); !ok || p.SetAPIURL(api.URL()) != nil {
		t.Fatal("the test configuration's paddle provider cannot read from the stand-in")
	}
	fill := strings.NewReplacer("{pwd}", url.QueryEscape(password), "{id}", s.prefix).Replace
	tally := newCorpusTally()
	for _, tc := range loadCorpus(t, path) {
		t.Run(tc.Name, func(t *testing.T) {
			run := &corpusRun{}
			for i, c := range tc.Calls {
				if c.Webhook == "" || c.Form != nil || c.Stripe != nil {
					t.Fatalf("call %d: a Paddle call is a webhook", i)
				}
				target, body := fill(c.URL), fill(c.Webhook)
				var notice paddleNotice
				_ = json.Unmarshal([]byte(body), &notice) // some calls' bodies are not JSON on purpose
				if strings.HasPrefix(notice.EventType, "transaction.") && len(notice.Data) > 0 {
					_ = api.AddTransaction(notice.Data) // not one with an id: Paddle has none
				}
				ids := c.lines(t, fill, target, body)
				status, answer := s.do(http.MethodPost, target, body, paddleRequest(c, body))
				if !run.answered(t, i, ids, status, answer, c.Want) {
					continue
				}
				if want := fill(c.Want.Ack); answer != want {
					t.Errorf("call %d: answer %q, want %q", i, answer, want)
				}
				s.checkLines(t, run, tally, i, answer, true, notice.EventID, c.Want.filled(fill))
			}
		})
	}
	s.checkStarted(t, tally)
}

// paddleRequest sets what a Paddle call adds to the request: its
// Content-Type and the signature of the tests' destination secret key.
func paddleRequest(c corpusCall, body string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
		now := time.Now()
		switch c.Signature {
		case "":
			r.Header.Set("Paddle-Signature", paddletest.Sign([]byte(body), now, testenv.PaddleWebhookSecret))
		case "wrong":
			r.Header.Set("Paddle-Signature", paddletest.Sign([]byte(body), now, "pdl_ntfset_not-the-destinations"))
		case "stale":
			r.Header.Set("Paddle-Signature", paddletest.Sign([]byte(body), now.Add(-10*time.Minute), testenv.PaddleWebhookSecret))
		case "rotated":
			r.Header.Set("Paddle-Signature", paddletest.Sign([]byte(body), now, "pdl_ntfset_the-old-secret", testenv.PaddleWebhookSecret))
		}
		if c.ContentType != "" {
			r.Header.Set("Content-Type", c.ContentType)
		}
	}
}
