package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// A buyer lost a delivered email: support resends it to a corrected
// address, once however often the request is repeated, on the record (who
// and why, in the resend's history and in Postgres), and `support find`
// shows the order with its keys, deliveries and the support action.
func TestSupportResend(t *testing.T) {
	s := newStack(t)
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))
	line := order.Name("shareit", s.purchase(1), "1")

	req := workflows.ResendRequest{Line: line, To: "juergen.new@example.com", Actor: "Sam Support", Reason: "the first email was lost"}
	ctx := context.Background()
	res, id, err := s.app.Resend(ctx, req, "ticket-4711")
	if err != nil {
		t.Fatal(err)
	}
	again, againID, err := s.app.Resend(ctx, req, "ticket-4711") // the same request, repeated
	if err != nil || again != res || againID != id {
		t.Fatalf("repeated request: %+v %s %v, want %+v %s", again, againID, err, res, id)
	}
	if res.To != "juergen.new@example.com" || res.EmailID == "" {
		t.Errorf("result %+v", res)
	}
	s.recordHistory(id, "resend_email.json")
	to := 0
	for _, m := range s.resend.Delivered() {
		if len(m.To) == 1 && m.To[0] == "juergen.new@example.com" {
			to++
			if !strings.Contains(m.Text, key) {
				t.Error("the resent email lacks the key")
			}
		}
	}
	if to != 1 {
		t.Errorf("%d emails to the corrected address, want 1", to)
	}

	// Who and why, in the resend's history (the auditor's view).
	var input workflows.ResendRequest
	s.historyInput(id, &input)
	if input.Actor != "Sam Support" || input.Reason != "the first email was lost" {
		t.Errorf("history input %+v", input)
	}
	if n := s.countWorkflows("OrderLine = '"+line+"'", 2); n != 2 {
		t.Errorf("OrderLine finds %d workflows, want the order and the resend", n)
	}
	// What support and auditors filter by, without personal data.
	filter := "Provider = 'shareit' AND Product = '1 1.0' AND LicenseModel = 'permanent' AND " +
		"OrderDate >= '2026-11-26T00:00:00Z' AND OrderDate < '2026-11-27T00:00:00Z' AND TaskQueue = '" + s.app.Env.TaskQueue + "'"
	if n := s.countWorkflows(filter, 1); n != 1 {
		t.Errorf("%s finds %d workflows, want the order", filter, n)
	}

	var out bytes.Buffer
	if err := s.app.Find(ctx, &out, s.purchase(1), "", ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"order line " + line, key, "email     sent", "support", "resend-email by Sam Support (the first email was lost) to juergen.new@example.com, message " + res.EmailID, "/workflows/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("find output lacks %q:\n%s", want, out.String())
		}
	}
	for _, q := range [][3]string{{"", "JUERGEN@example.com", ""}, {"", "", strings.ToLower(key)}} {
		out.Reset()
		if err := s.app.Find(ctx, &out, q[0], q[1], q[2]); err != nil || !strings.Contains(out.String(), line) {
			t.Errorf("find %q: %v\n%s", q, err, out.String())
		}
	}

	// The auditor's text: the whole story, decoded through the codec.
	out.Reset()
	if err := s.app.Audit(ctx, &out, line); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IssueLicense " + workflows.IssueLicenseID("shareit", s.purchase(1), "1"), "ResendEmail " + id,
		"Jürgen Müller", "step SaveOrder", "step SendEmail done: \"" + res.EmailID + "\"", "update issue-key accepted", "local step GenerateKeys done: [{\"Key\":\"" + key,
		"step RecordSupportAction scheduled", "Sam Support", "the first email was lost", "completed:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit lacks %q:\n%s", want, out.String())
		}
	}
	if testing.Verbose() {
		t.Log(out.String())
	}

	// Refused requests fail with the reason and send nothing.
	before := len(s.resend.Delivered())
	if _, _, err := s.app.Resend(ctx, workflows.ResendRequest{Line: line}, ""); err == nil || !strings.Contains(err.Error(), "say who asks") {
		t.Errorf("resend without an actor: %v", err)
	}
	if _, _, err := s.app.Resend(ctx, workflows.ResendRequest{Line: "shareit:nope-1", Actor: "Sam"}, ""); err == nil || !strings.Contains(err.Error(), "no stored order line") {
		t.Errorf("resend of an unknown line: %v", err)
	}
	if len(s.resend.Delivered()) != before {
		t.Error("a refused resend sent an email")
	}
}
