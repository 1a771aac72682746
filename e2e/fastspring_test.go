package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

const (
	fastSpringKeyURL     = "/qlmservice.asmx/GetActivationKey?is_vendor=fastspring&is_productid=1&is_majorversion=1&is_minorversion=0&is_user=fastspring&is_pwd=" + password
	fastSpringWebhookURL = "/qlmservice.asmx/QlmWebHookHandler?is_vendor=fastspring&is_user=fastspring&is_pwd=" + password
)

// fastSpringForm is a remote license request's signed form.
func fastSpringForm(reference string) string {
	form := url.Values{"reference": {reference}, "product": {"demo-app"}, "name": {"Gil Held"}, "email": {"gil@example.com"}}
	form.Set("security_request_hash", testenv.FastSpringHash(form))
	return form.Encode()
}

// webhook posts a FastSpring webhook body, signed with signature ("" signs
// it right).
func (s *stack) webhook(body, signature string) (int, string) {
	s.t.Helper()
	return s.do(http.MethodPost, fastSpringWebhookURL, body, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
		if signature == "" {
			signature = testenv.FastSpringSignature([]byte(body))
		}
		r.Header.Set("X-FS-Signature", signature)
	})
}

// TestFastSpringWebhookReleasesAHeldLine: a remote request whose answer
// never reached FastSpring holds its line (no email, no activation); the
// webhook's order.completed for the purchase is FastSpring's word that the
// sale is complete, and releases it: the same key, mailed once.
func TestFastSpringWebhookReleasesAHeldLine(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	reference := s.purchase(1)
	id := order.LineID{Provider: "fastspring", PurchaseID: reference, RunningNo: "demo-app"}

	s.stopWorkerNow()
	s.app.Env.KeyTimeout = time.Second
	s.restartAPI()
	if status, body := s.do(http.MethodPost, fastSpringKeyURL, fastSpringForm(reference), nil); status != http.StatusServiceUnavailable {
		t.Fatalf("with no worker: %d %s, want 503", status, body)
	}
	s.app.Env.KeyTimeout = 10 * time.Second
	s.restartAPI()
	s.startWorker()
	var key, delivery string
	eventually(t, 30*time.Second, "the line saved on hold", func() bool {
		keys, d, _ := s.app.Store.LineKeys(ctx, id)
		if len(keys) > 0 {
			key, delivery = keys[0], d
		}
		return key != ""
	})
	if delivery != workflows.DeliveryUnconfirmed {
		t.Fatalf("delivery %q, want unconfirmed", delivery)
	}

	body := fmt.Sprintf(`{"events":[{"id":"evt-%[1]s","type":"order.completed","created":1796119200000,
		"data":{"id":"ord-%[1]s","reference":%[1]q,"completed":true,"customer":{"first":"Gil","last":"Held","email":"gil@example.com"},
		"items":[{"product":"demo-app","quantity":1,"attributes":{"webhook_action":"UpdateUserInformation"}}]}}]}`, reference)
	if status, answer := s.webhook(body, ""); status != http.StatusOK || answer != "evt-"+reference {
		t.Fatalf("webhook: %d %q", status, answer)
	}
	res := s.waitWorkflow(workflows.IssueLicenseID(id.Provider, id.PurchaseID, id.RunningNo))
	s.recordHistory(workflows.IssueLicenseID(id.Provider, id.PurchaseID, id.RunningNo), "issue_license_fastspring_released.json")
	if res.Delivery != workflows.DeliveryConfirmed || len(res.Keys) != 1 || res.Keys[0] != key {
		t.Errorf("workflow result %+v, want the held key %q confirmed", res, key)
	}
	row, err := s.app.Store.FindOrderLine(ctx, id)
	if err != nil || row.Delivery != workflows.DeliveryConfirmed || !strings.Contains(row.DeliveryReason, "the storefront reported the sale complete (event evt-"+reference+")") {
		t.Fatalf("stored line %+v %v", row, err)
	}
	mailed := 0
	eventually(t, 10*time.Second, "the key mailed", func() bool {
		mailed = 0
		for _, m := range s.resend.Delivered() {
			if strings.Contains(m.Text, key) {
				mailed++
			}
		}
		return mailed > 0
	})
	if status, answer := s.webhook(body, ""); status != http.StatusOK || answer != "evt-"+reference {
		t.Fatalf("webhook again: %d %q", status, answer)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(s.resend.Delivered()); mailed != 1 || n != 1 {
		t.Errorf("%d emails with the key (%d in all), want 1", mailed, n)
	}
}

// TestFastSpringLimits: wrong signatures are throttled as wrong passwords
// are, and a webhook body has the key generator's size cap; neither keys
// anything.
func TestFastSpringLimits(t *testing.T) {
	s := newStack(t)
	body := `{"events":[{"id":"evt-limit","type":"order.completed","data":{"reference":"` + s.purchase(1) + `","items":[{"product":"demo-app"}]}}]}`
	var status int
	var answer string
	for i := range 20 {
		if status, answer = s.webhook(body, "d3Jvbmc="); status == http.StatusTooManyRequests {
			if i < 10 {
				t.Fatalf("throttled after %d wrong signatures, want 10 to pass", i)
			}
			break
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong signature %d: %d %q", i, status, answer)
		}
	}
	if status != http.StatusTooManyRequests || !strings.Contains(answer, "too many wrong credentials") {
		t.Fatalf("after 20 wrong signatures: %d %q, want 429", status, answer)
	}

	big := `{"events":[],"padding":"` + strings.Repeat("x", 2<<20) + `"}`
	if status, answer := s.do(http.MethodPost, fastSpringWebhookURL, big, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
	}); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB webhook: %d %q, want 413", status, answer)
	}
	if _, _, err := s.app.Store.LineKeys(context.Background(), store.Line{Provider: "fastspring", PurchaseID: s.purchase(1), RunningNo: "demo-app"}); err != store.ErrNotFound {
		t.Errorf("a refused webhook stored its line: %v", err)
	}
}

// TestFastSpringRefundRevokes: a FastSpring return revokes the returned
// line's keys by itself, on the record with the event as the actor; the
// same event twice revokes once; a product that keeps its keys on a refund
// (on_refund: keep) keeps them; a return for a line keysmith never keyed
// is answered as handled.
func TestFastSpringRefundRevokes(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	ref := s.purchase(1)
	sale := fmt.Sprintf(`{"events":[{"id":"evt-o-%[1]s","type":"order.completed","created":1796119200000,
		"data":{"id":"ord-%[1]s","reference":%[1]q,"completed":true,"customer":{"first":"Rae","last":"Fund","email":"rae@example.com"},
		"items":[{"product":"demo-app","quantity":1},
		         {"product":"tool","quantity":1,"attributes":{"is_productid":"7","is_majorversion":"3","is_minorversion":"1"}}]}}]}`, ref)
	if status, answer := s.webhook(sale, ""); status != http.StatusOK {
		t.Fatalf("order: %d %q", status, answer)
	}
	app := fastSpringLine(ref, "demo-app")
	tool := fastSpringLine(ref, "tool")
	appKey := s.keysOf(t, 0, app, nil)
	toolKey := s.keysOf(t, 0, tool, nil)

	refund := fmt.Sprintf(`{"events":[{"id":"evt-r-%[1]s","type":"return.created","created":1796119300000,
		"data":{"return":"ret-%[1]s","reference":"RET-%[1]s","completed":true,"type":"RETURN","reason":"Product Not Received",
		"original":{"id":"ord-%[1]s","reference":%[1]q},
		"items":[{"product":"demo-app","quantity":1},{"product":"tool","quantity":1}]}},
		{"id":"evt-x-%[1]s","type":"return.created","data":{"return":"ret-x","completed":true,"original":{"reference":"never-%[1]s"},"items":[{"product":"demo-app"}]}}]}`, ref)
	for range 2 {
		if status, answer := s.webhook(refund, ""); status != http.StatusOK || answer != "evt-r-"+ref+"\nevt-x-"+ref {
			t.Fatalf("refund: %d %q", status, answer)
		}
	}
	revocation := workflows.RevokeLicenseID(app.Name(), "event-evt-r-"+ref)
	var n int
	if err := s.app.Temporal.GetWorkflow(ctx, revocation, "").Get(ctx, &n); err != nil || n != 1 {
		t.Fatalf("%s: %d keys revoked, %v", revocation, n, err)
	}
	s.recordHistory(workflows.IssueLicenseID(app.Provider, app.PurchaseID, app.RunningNo), "issue_license_fastspring_webhook.json")
	s.recordHistory(revocation, "revoke_license_refund_event.json")
	if st, err := s.app.Store.KeyState(ctx, appKey); err != nil || !st.Revoked {
		t.Errorf("the refunded line's key: %+v %v, want revoked", st, err)
	}
	if st, err := s.app.Store.KeyState(ctx, toolKey); err != nil || st.Revoked {
		t.Errorf("the key of a product with on_refund: keep: %+v %v, want kept", st, err)
	}
	actions, err := s.app.Store.SupportActions(ctx, app)
	if err != nil || len(actions) != 1 || actions[0].Action != "revoke" || actions[0].Actor != "fastspring event evt-r-"+ref ||
		!strings.Contains(actions[0].Reason, "refund: FastSpring return RET-"+ref+" Product Not Received") {
		t.Errorf("the line's record: %+v %v, want one revocation by the event", actions, err)
	}
	if n := s.countWorkflows("WorkflowType = 'RevokeLicense' AND TaskQueue = '"+s.app.Env.TaskQueue+"'", 1); n != 1 {
		t.Errorf("%d revocations for one event sent twice, want 1", n)
	}
	events, err := s.app.Store.Events(ctx, "fastspring")
	if err != nil || len(events) != 1 || events[0].EventID != "evt-x-"+ref || events[0].Line != fastSpringLine("never-"+ref, "demo-app").Name() || events[0].Kind != "refund" {
		t.Errorf("stored events %+v %v, want the return for a line never keyed, once", events, err)
	}
}

func fastSpringLine(ref, product string) order.LineID {
	return order.LineID{Provider: "fastspring", PurchaseID: ref, RunningNo: product}
}
