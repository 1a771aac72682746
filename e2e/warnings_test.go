package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// A doubtful but keyable call is keyed, and its warnings are where support
// and auditors look: stored with the order, in the workflow's input in its
// history, in its summary and details in the UI, and in the log.
func TestWarningsInHistory(t *testing.T) {
	s := newStack(t)
	logs := &testenv.LogBuffer{}
	s.app.Log = slog.New(slog.NewTextHandler(logs, nil))
	s.restartAPI()

	body := strings.NewReplacer("PURCHASE_DATE=26/11/2026", "PURCHASE_DATE=31/02/2026",
		"J%C3%BCrgen", "J%FCrgen", // not UTF-8 although ENCODING=UTF8
	).Replace(orderForm(s.purchase(1), 1))
	status, key := s.post(getKey, qlmQuery+"&is_emailtemplate=2.+Renewal", body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	want := []string{
		"ENCODING: the fields are not valid UTF-8; read as Windows-1252",
		`PURCHASE_DATE: "31/02/2026" is not a date; the order is dated the day it was received`,
		`is_emailtemplate: no template "2. Renewal"`,
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	s.waitWorkflow(id)
	s.recordHistory(id, "issue_license_warnings.json")

	ctx := context.Background()
	row, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.app.Temporal.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	summary, _ := desc.GetStaticSummary()
	details, _ := desc.GetStaticDetails()
	input := s.startInput(id)
	if !strings.Contains(summary, "(3 warnings)") {
		t.Errorf("summary %q does not count the warnings", summary)
	}
	for _, w := range want {
		if !contains(row.Warnings, w) {
			t.Errorf("stored warnings %q lack %q", row.Warnings, w)
		}
		if !strings.Contains(details, w) {
			t.Errorf("workflow details %q lack %q", details, w)
		}
		if !contains(input.Warnings, w) {
			t.Errorf("the workflow's input in its history lacks %q: %q", w, input.Warnings)
		}
		if field, _, _ := strings.Cut(w, ":"); !strings.Contains(logs.String(), field+":") {
			t.Errorf("log lacks the %s warning", field)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the log holds the password")
	}
}

func contains(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// startInput is the order line the workflow's history records as its input.
func (s *stack) startInput(id string) order.Line {
	s.t.Helper()
	var line order.Line
	s.historyInput(id, &line)
	return line
}

// historyInput decodes the input the workflow's history records.
func (s *stack) historyInput(id string, into any) {
	s.t.Helper()
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), id, "", false, 0)
	ev, err := it.Next()
	if err != nil {
		s.t.Fatal(err)
	}
	in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput()
	cdc, err := codec.New(testenv.CodecKeys)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cdc.DataConverter().FromPayloads(in, into); err != nil {
		s.t.Fatal(err)
	}
}
