package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/storefront/paddle/paddletest"
	"github.com/keysmith/keysmith/workflows"
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
	keyed := 0
	revocations := map[string]bool{} // RevokeLicense workflows started
	for _, tc := range loadCorpus(t, path) {
		t.Run(tc.Name, func(t *testing.T) {
			var keysOf []string // each call's keys, a notification's first line's
			var lines [][]order.LineID
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
				lines = append(lines, ids)
				status, answer := s.do(http.MethodPost, target, body, paddleRequest(c, body))
				keysOf = append(keysOf, answer)
				if status != c.Want.Status {
					t.Fatalf("call %d: status %d %q, want %d", i, status, answer, c.Want.Status)
				}
				if status != http.StatusOK {
					if !strings.Contains(answer, c.Want.Reason) || strings.Contains(answer, password) {
						t.Errorf("call %d: reason %q, want it to hold %q", i, answer, c.Want.Reason)
					}
					continue
				}
				if want := fill(c.Want.Ack); answer != want {
					t.Errorf("call %d: answer %q, want %q", i, answer, want)
				}
				if c.Want.SameKeyAs == nil && !c.Want.Repeat {
					keyed += len(ids)
				}
				c.Want.EmailTo = fill(c.Want.EmailTo)
				for k, v := range c.Want.Fields {
					c.Want.Fields[k] = fill(v)
				}
				warnings := make([]string, len(c.Want.Warnings))
				for k, w := range c.Want.Warnings {
					warnings[k] = fill(w)
				}
				c.Want.Warnings = warnings
				for j, id := range ids {
					var original *order.Original
					if n := c.Want.Renews; n != nil {
						original = &order.Original{LineID: lines[*n][0]}
					}
					keys := s.keysOf(t, i, id, original) // keyed in the background
					if j == 0 {
						keysOf[i] = keys
					}
					if n := c.Want.SameKeyAs; n != nil && keys != keysOf[*n] {
						t.Errorf("call %d: key %q, want call %d's %q", i, keys, *n, keysOf[*n])
					}
					if n := c.Want.Renews; n != nil {
						checkSerials(t, i, s.ring, keys, keysOf[*n])
					}
					if c.Want.SameKeyAs == nil && !c.Want.Repeat {
						s.checkCorpusCall(t, i, id, keys, original, c.Want)
					}
					if c.Want.Revoked != nil {
						s.checkPaddleRevoked(t, i, id, keys, notice.EventID, *c.Want.Revoked, revocations)
					}
				}
			}
		})
	}
	// Refused calls started nothing: every workflow belongs to a keyed line
	// or revokes one.
	if want := int64(keyed + len(revocations)); s.countWorkflows("TaskQueue = '"+s.app.Env.TaskQueue+"'", want) != want {
		t.Errorf("workflows started: want one per keyed line (%d) and revocation (%d)", keyed, len(revocations))
	}
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

// checkPaddleRevoked checks what a notification's event did to a line's
// keys (want.revoked): revoked, by the RevokeLicense workflow of the line
// and the event (noted in revocations) having revoked each key, or kept,
// with no such workflow; and the store says so of each key.
func (s *stack) checkPaddleRevoked(t *testing.T, i int, id order.LineID, keys, event string, revoked bool, revocations map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wf := workflows.RevokeLicenseID(id.Name(), "event-"+event)
	ks := strings.Split(keys, "\n")
	if revoked {
		var n int
		if err := s.app.Temporal.GetWorkflow(ctx, wf, "").Get(ctx, &n); err != nil {
			t.Fatalf("call %d: %s: %v", i, wf, err)
		}
		if n != len(ks) {
			t.Errorf("call %d: %s revoked %d keys, want %d", i, wf, n, len(ks))
		}
		revocations[wf] = true
	} else if _, err := s.app.Temporal.DescribeWorkflow(ctx, wf, ""); err == nil {
		// Started before the answer, if at all.
		t.Errorf("call %d: %s started, want the keys kept", i, wf)
	}
	for _, k := range ks {
		if st, err := s.app.Store.KeyState(ctx, k); err != nil || st.Revoked != revoked {
			t.Errorf("call %d: key of %s: revoked %v (%v), want %v", i, id.Name(), st.Revoked, err, revoked)
		}
	}
}
