package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// A subscription renewed by MyCommerce's rebilling call: the renewal is its
// own RenewLicense workflow, found with the original by the OrderLine search
// attribute, stored linked to the original line, mailed as a renewal, and a
// repeated call gets the same renewed key, from Postgres once it is saved.
func TestRenewalAuditTrail(t *testing.T) {
	s := newStack(t)
	query := subscriptionQuery(1, 30)
	status, original := s.post(withExpiry, query, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("order: %d %s", status, original)
	}
	originalLine := order.Name("shareit", s.purchase(1), "1")
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))

	rebill := strings.Replace(orderForm(s.purchase(2), 1), "PURCHASE_DATE=26/11/2026", "PURCHASE_DATE=26/12/2026", 1) +
		"&ORIGINAL_KEY=" + url.QueryEscape(original)
	status, renewed := s.post(withExpiry, query, rebill)
	if status != http.StatusOK {
		t.Fatalf("renewal: %d %s", status, renewed)
	}
	c, err := s.ring.Verify(renewed)
	if err != nil || !c.Expires.Equal(time.Date(2027, 1, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("renewed claims %+v, %v; want expiry 2027-01-25", c, err)
	}
	renewal := order.Line{LineID: order.LineID{Provider: "shareit", PurchaseID: s.purchase(2), RunningNo: "1"},
		Renews: &order.Original{LineID: order.LineID{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"}}}
	kind, id, line := workflows.LineWorkflow(renewal)
	if kind != workflows.RenewLicense || line != originalLine {
		t.Errorf("LineWorkflow = %s, %s, %s", kind, id, line)
	}
	res := s.waitWorkflow(id)
	s.recordHistory(id, "renew_license.json")
	if res.EmailStatus != workflows.EmailSent || len(res.Keys) != 1 || res.Keys[0] != renewed {
		t.Errorf("renewal result %+v", res)
	}

	// The auditor's filter finds the line's whole story.
	query2 := fmt.Sprintf("OrderLine = '%s'", originalLine)
	if n := s.countWorkflows(query2, 2); n != 2 {
		t.Errorf("%s finds %d workflows, want the order and its renewal", query2, n)
	}
	ctx := context.Background()
	row, err := s.app.Store.FindRenewalLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(2), RunningNo: "1"})
	if err != nil || row.Kind != order.RenewSubscription || len(row.Keys) != 1 || row.Keys[0].Key != renewed || row.EmailStatus != "sent" {
		t.Fatalf("stored renewal %+v, %v", row, err)
	}
	o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || row.OrderID != o.ID || row.Keys[0].Serial != o.Keys[0].Serial {
		t.Errorf("renewal not linked to the original line: %+v %+v %v", row, o, err)
	}
	found := false
	for _, m := range s.resend.Delivered() {
		found = found || (strings.Contains(m.Subject, "renewed") && strings.Contains(m.Text, renewed) && strings.Contains(m.Text, "renewing"))
	}
	if !found {
		for _, m := range s.resend.Delivered() {
			t.Logf("mail %q: %s", m.Subject, m.Text)
		}
		t.Error("no renewal email with the renewed key")
	}

	// Repeated, with Temporal out of the picture: the same renewed key.
	s.stopWorkerNow()
	status, again := s.post(withExpiry, query, rebill)
	if status != http.StatusOK || again != renewed {
		t.Errorf("repeated renewal: %d %q, want %q", status, again, renewed)
	}
}
