package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// No key without a sale: a call whose answer the storefront never got (the
// API's wait for the key forced short, the worker away meanwhile) is held:
// no email, its key does not activate, Delivery = "unconfirmed" in Temporal
// and Postgres, the reason in its story. Then it is released by the
// storefront's next call (the same key), confirmed by support, or
// cancelled by support (its key revoked); a caller that hung up is held
// the same way.
func TestNoKeyWithoutSale(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()

	// hold makes purchase n a held line, the storefront having been
	// answered 503 (or having hung up, when gone), and returns its key.
	hold := func(n int, gone bool) (id, key string) {
		t.Helper()
		s.stopWorkerNow()
		if gone {
			client := &http.Client{Timeout: time.Second}
			req, _ := http.NewRequest(http.MethodPost, s.api.URL+getKey+"?"+qlmQuery, strings.NewReader(orderForm(s.purchase(n), 1)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("the call was answered %d while no worker ran", resp.StatusCode)
			}
		} else {
			s.app.Env.KeyTimeout = time.Second
			s.restartAPI()
			if status, body := s.post(getKey, qlmQuery, orderForm(s.purchase(n), 1)); status != http.StatusServiceUnavailable {
				t.Fatalf("with no worker: %d %s, want 503", status, body)
			}
			s.app.Env.KeyTimeout = 10 * time.Second
			s.restartAPI()
		}
		s.startWorker()
		var delivery string
		eventually(t, 30*time.Second, "the line saved on hold", func() bool {
			var keys []string
			keys, delivery, _ = s.app.Store.LineKeys(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(n), RunningNo: "1"})
			if len(keys) > 0 {
				key = keys[0]
			}
			return key != ""
		})
		if delivery != workflows.DeliveryUnconfirmed {
			t.Fatalf("stored delivery %q, want unconfirmed", delivery)
		}
		return workflows.IssueLicenseID("shareit", s.purchase(n), "1"), key
	}
	mailed := func(key string) int {
		n := 0
		for _, m := range s.resend.Delivered() {
			if strings.Contains(m.Text, key) {
				n++
			}
		}
		return n
	}
	activate := func(key, computer string) (int, string) {
		status, body := s.activate(api.ActivateRequest{Key: key, ComputerID: computer, ComputerName: computer})
		return status, string(body)
	}
	checkHeld := func(n int, id, key, reason string) {
		t.Helper()
		if n := mailed(key); n != 0 {
			t.Errorf("%d emails with a held key", n)
		}
		if status, body := activate(key, "pc-held"); status != http.StatusForbidden || !strings.Contains(body, "on hold") {
			t.Errorf("activation of a held key: %d %s", status, body)
		}
		if details := s.currentDetails(id); !strings.Contains(details, reason) {
			t.Errorf("details %q lack %q", details, reason)
		}
		row, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(n), RunningNo: "1"})
		if err != nil || !row.Held() || !strings.Contains(row.DeliveryReason, reason) {
			t.Errorf("stored line: %v %+v", err, row)
		}
	}

	// 1. The storefront was answered 503; its next call gets the same key
	// and releases the line.
	id1, key1 := hold(1, false)
	checkHeld(1, id1, key1, "answered 503: key generation is taking too long")
	if n := s.countWorkflows(`Delivery = "unconfirmed" AND TaskQueue = "`+s.app.Env.TaskQueue+`"`, 1); n != 1 {
		t.Errorf("Delivery = unconfirmed finds %d workflows, want 1", n)
	}
	if v := s.metrics()["keysmith_order_lines_held"]; v != 1 {
		t.Errorf("keysmith_order_lines_held %v, want 1", v)
	}
	status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK || again != key1 {
		t.Fatalf("the next call: %d %q, want the held key %q", status, again, key1)
	}
	if r := s.waitWorkflow(id1); r.Delivery != workflows.DeliveryConfirmed || r.EmailStatus != workflows.EmailSent {
		t.Errorf("released line: %+v", r)
	}
	if n := mailed(key1); n != 1 {
		t.Errorf("%d emails with the released key, want 1", n)
	}
	if status, body := activate(key1, "pc-1"); status != http.StatusOK {
		t.Errorf("activation of the released key: %d %s", status, body)
	}
	s.recordHistory(id1, "issue_license_held.json")

	// 2. The caller hung up; support confirms after checking the storefront.
	id2, key2 := hold(2, true)
	checkHeld(2, id2, key2, "the caller was gone")
	if _, err := s.decide(id2, workflows.ConfirmPurchaseUpdate, workflows.Decision{Actor: "Sam Support"}); err == nil || !strings.Contains(err.Error(), "say who decides and why") {
		t.Errorf("a decision without a reason: %v", err)
	}
	answer, err := s.decide(id2, workflows.ConfirmPurchaseUpdate, workflows.Decision{Actor: "Sam Support", Reason: "paid: MyCommerce order 2 is complete"})
	if err != nil || answer != "purchase confirmed" {
		t.Fatalf("confirm: %q %v", answer, err)
	}
	if r := s.waitWorkflow(id2); r.Delivery != workflows.DeliveryConfirmed || r.EmailStatus != workflows.EmailSent {
		t.Errorf("confirmed line: %+v", r)
	}
	if n := mailed(key2); n != 1 {
		t.Errorf("%d emails with the confirmed key, want 1", n)
	}
	if status, body := activate(key2, "pc-2"); status != http.StatusOK {
		t.Errorf("activation of the confirmed key: %d %s", status, body)
	}
	s.recordHistory(id2, "issue_license_confirmed.json")
	var out bytes.Buffer
	if err := s.app.Find(ctx, &out, s.purchase(2), "", ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"delivery  confirmed: confirmed by Sam Support: paid: MyCommerce order 2 is complete",
		"confirm-purchase by Sam Support (paid: MyCommerce order 2 is complete)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("find lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := s.app.Audit(ctx, &out, order.Name("shareit", s.purchase(2), "1")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"signal key-delivery", "the caller was gone before the keys were ready", "Delivery=\"unconfirmed\"",
		"update confirm-purchase accepted", "Sam Support", "step SetDelivery", "Delivery=\"confirmed\"", "step SendEmail"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit lacks %q:\n%s", want, out.String())
		}
	}

	// 3. Support cancels: the key is revoked and nothing is mailed.
	id3, key3 := hold(3, false)
	// keysmith support cancel's path: the line by name.
	answer, _, err = s.app.Decide(ctx, order.Name("shareit", s.purchase(3), "1"), workflows.CancelPurchaseUpdate,
		workflows.Decision{Actor: "Sam Support", Reason: "MyCommerce shows purchase 3 failed"})
	if err != nil || answer != "purchase cancelled" {
		t.Fatalf("cancel: %q %v", answer, err)
	}
	if r := s.waitWorkflow(id3); r.Delivery != workflows.DeliveryCancelled || r.EmailStatus != workflows.EmailSkipped {
		t.Errorf("cancelled line: %+v", r)
	}
	if status, body := activate(key3, "pc-3"); status != http.StatusForbidden || !strings.Contains(body, "revoked") {
		t.Errorf("activation of a cancelled key: %d %s", status, body)
	}
	if n := mailed(key3); n != 0 {
		t.Errorf("%d emails with a cancelled key", n)
	}
	s.recordHistory(id3, "issue_license_cancelled.json")
	if v := s.metrics()["keysmith_order_lines_held"]; v != 0 {
		t.Errorf("keysmith_order_lines_held %v after all were settled, want 0", v)
	}
	if _, err := s.decide(id3, workflows.ConfirmPurchaseUpdate, workflows.Decision{Actor: "Sam", Reason: "x"}); err == nil {
		t.Error("a decision on a settled line was accepted")
	}
}

// decide sends support's decision on a held line, as the Temporal UI's
// update form does.
func (s *stack) decide(id, update string, d workflows.Decision) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := s.app.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: update, Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", err
	}
	var answer string
	err = h.Get(ctx, &answer)
	return answer, err
}
