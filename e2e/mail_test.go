package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// Resend answers 503 three times: the email is retried with backoff and
// sent once; the storefront had its key at once.
func TestMailOutageThenRecovery(t *testing.T) {
	s := newStack(t)
	s.resend.FailNext(3, http.StatusServiceUnavailable, "internal_server_error")
	start := time.Now()
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("key took %v: the mail outage sat in front of the answer", d)
	}
	res := s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))
	if res.EmailStatus != workflows.EmailSent {
		t.Errorf("email status %q", res.EmailStatus)
	}
	if got := s.resend.Attempts(); got != 4 {
		t.Errorf("%d attempts, want 4", got)
	}
	if m := s.resend.Delivered(); len(m) != 1 || !strings.Contains(m[0].Text, key) {
		t.Errorf("delivered %d emails, want 1 with the key", len(m))
	}
}

// Resend rejects the email for good: the workflow parks, visibly, until
// support staff send retry-email with a corrected address.
func TestPermanentMailFailureParkedUntilRetry(t *testing.T) {
	s := newStack(t)
	s.resend.FailNext(1, http.StatusUnprocessableEntity, "validation_error")
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	ctx := context.Background()
	s.waitParked(id)
	details := s.currentDetails(id)
	if !strings.HasPrefix(details, "email failed: resend: 422 validation_error") {
		t.Errorf("current details = %q", details)
	}
	o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || o.EmailStatus != "failed" {
		t.Errorf("stored email status = %v %v", o, err)
	}
	if n := s.countWorkflows("EmailStatus = 'failed' AND TaskQueue = '"+s.app.Env.TaskQueue+"'", 1); n != 1 {
		t.Errorf("search for parked emails found %d", n)
	}

	// A malformed address is refused by the validator; nothing is sent.
	if _, err := s.retryEmail(id, "not an address"); err == nil || !strings.Contains(err.Error(), "is not an email address") {
		t.Errorf("retry-email with a bad address: %v", err)
	}
	got, err := s.retryEmail(id, "fixed@example.com")
	if err != nil || got != "email sent" {
		t.Fatalf("retry-email = %q, %v", got, err)
	}
	res := s.waitWorkflow(id)
	if res.EmailStatus != workflows.EmailSent || res.Keys[0] != key {
		t.Errorf("result = %+v", res)
	}
	m := s.resend.Delivered()
	if len(m) != 1 || m[0].To[0] != "fixed@example.com" || !strings.Contains(m[0].Text, key) {
		t.Errorf("delivered = %+v", m)
	}
	// On the record, with who asked.
	actions, err := s.app.Store.SupportActions(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || len(actions) != 1 || actions[0].Actor != "Sam Support" || actions[0].Action != workflows.RetryEmailUpdate ||
		actions[0].EmailTo != "fixed@example.com" || actions[0].EmailID == nil {
		t.Errorf("support actions = %+v, %v", actions, err)
	}
	s.recordHistory(id, "issue_license_parked.json")
}

// A worker stopped in the middle of an order, and one that is down when
// the order arrives: the storefront gets an honest 503, and once a worker
// runs again every order completes with one key and one email.
func TestWorkerStoppedMidOrder(t *testing.T) {
	s := newStack(t)
	s.resend.Block()
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	eventually(t, 10*time.Second, "the email to be on its way", func() bool { return s.resend.Attempts() >= 1 })
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	if _, err := s.retryEmail(id, ""); err == nil || !strings.Contains(err.Error(), "no email is waiting") {
		t.Errorf("retry-email while sending: %v, want the validator's refusal", err)
	}

	s.stopWorkerNow()
	s.resend.Unblock()

	// No worker: a new order cannot be keyed in time.
	s.app.Env.KeyTimeout = 2 * time.Second
	s.restartAPI()
	status, reason := s.post(getKey, qlmQuery, orderForm(s.purchase(2), 1))
	if status != http.StatusServiceUnavailable || !strings.Contains(reason, "try again") {
		t.Errorf("order without a worker: %d %q, want 503", status, reason)
	}

	s.startWorker()
	res := s.waitWorkflow(id)
	if res.EmailStatus != workflows.EmailSent || res.Keys[0] != key {
		t.Errorf("first order after restart: %+v", res)
	}
	// ShareIt calls again for the second order and gets its key.
	status, key2 := s.post(getKey, qlmQuery, orderForm(s.purchase(2), 1))
	if _, err := s.ring.Verify(key2); status != http.StatusOK || err != nil {
		t.Fatalf("second order after restart: %d %q %v", status, key2, err)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(2), "1"))
	perKey := map[string]int{}
	for _, m := range s.resend.Delivered() {
		for _, k := range []string{key, key2} {
			if strings.Contains(m.Text, k) {
				perKey[k]++
			}
		}
	}
	if perKey[key] != 1 || perKey[key2] != 1 {
		t.Errorf("emails per key = %v, want one each", perKey)
	}
}

// waitParked waits until the workflow's email is parked (EmailStatus failed).
func (s *stack) waitParked(id string) {
	s.t.Helper()
	eventually(s.t, 20*time.Second, "the email parked", func() bool {
		d, err := s.app.Temporal.DescribeWorkflow(context.Background(), id, "")
		if err != nil {
			s.t.Fatal(err)
		}
		v, _ := d.TypedSearchAttributes.GetKeyword(workflows.EmailStatus)
		return v == workflows.EmailFailed
	})
}

func (s *stack) retryEmail(id, to string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := s.app.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		UpdateName:   workflows.RetryEmailUpdate,
		Args:         []any{workflows.RetryEmail{To: to, Actor: "Sam Support", Reason: "the buyer wrote a wrong address"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", err
	}
	var out string
	err = h.Get(ctx, &out)
	return out, err
}

// currentDetails reads what the Temporal UI shows as the workflow's
// current details.
func (s *stack) currentDetails(id string) string {
	s.t.Helper()
	v, err := s.app.Temporal.QueryWorkflow(context.Background(), id, "", "__temporal_workflow_metadata")
	if err != nil {
		s.t.Fatal(err)
	}
	var md sdk.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		s.t.Fatal(err)
	}
	return md.GetCurrentDetails()
}
