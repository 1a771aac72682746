package e2e

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// A product configured with key_format: short gets keys a person can type,
// issued by the same pipeline, answered and mailed the same way, and valid
// only through the server: activation and validation read their claims
// from Postgres; a mistyped one is unknown; a renewal keeps the text and
// extends the expiry the server reports.
func TestShortKeys(t *testing.T) {
	s := newStack(t)
	query := subscriptionQuery(9, 365) + "&is_quantity=3&is_features=0:1"
	status, key := s.post(withExpiry, query, orderForm(s.purchase(1), 1))
	// Four groups of four, the last character a Crockford check symbol.
	if status != http.StatusOK || !regexp.MustCompile(`^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}-[0-9A-Z]{3}[0-9A-Z*~$=]$`).MatchString(key) {
		t.Fatalf("short key: %d %q", status, key)
	}
	if status, again := s.post(withExpiry, query, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != key {
		t.Errorf("repeat: %d %q, want %q", status, again, key)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1")) // saved and mailed
	mailed := false
	for _, m := range s.resend.Delivered() {
		mailed = mailed || strings.Contains(m.Text, key)
	}
	if !mailed {
		t.Error("the short key was not mailed")
	}

	ctx := context.Background()
	c := &client.Client{BaseURL: s.api.URL, Keys: s.ring}
	typed := strings.ToLower(strings.ReplaceAll(key, "-", " "))
	lic, _, err := c.Activate(ctx, client.ActivateRequest{Key: typed, ComputerID: "PC-A"})
	if err != nil || lic.Key.Product != 9 || lic.Key.Seats != 3 || lic.Key.Features.String() != "0:1" || lic.Key.Expires.IsZero() {
		t.Fatalf("activate: %+v %v", lic, err)
	}
	v, err := c.Validate(ctx, key, "PC-A")
	if err != nil || v.Status != "valid" || v.Seat != 1 || v.Seats != 3 || v.Model != "subscription" || v.Expires != "2027-11-26" {
		t.Errorf("validate: %+v %v", v, err)
	}
	mistyped := []byte(key)
	if mistyped[0] == 'A' {
		mistyped[0] = 'B'
	} else {
		mistyped[0] = 'A'
	}
	if v, err := c.Validate(ctx, string(mistyped), "PC-A"); err != nil || v.Status != "unknown" {
		t.Errorf("a mistyped short key: %+v %v", v, err)
	}

	// Renewed: the same text, a later expiry on the server.
	rebill := orderForm(s.purchase(2), 1, "ORIGINAL_KEY="+url.QueryEscape(key))
	rebill = strings.Replace(rebill, "PURCHASE_DATE=26/11/2026", "PURCHASE_DATE=26/11/2027", 1)
	if status, renewed := s.post(withExpiry, query, rebill); status != http.StatusOK || renewed != key {
		t.Fatalf("renewal: %d %q, want the same short key", status, renewed)
	}
	eventually(t, 20*time.Second, "the renewal saved", func() bool {
		_, err := s.app.Store.FindRenewalLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: s.purchase(2), RunningNo: "1"})
		return err == nil
	})
	if v, err := c.Validate(ctx, key, "PC-A"); err != nil || v.Expires != "2028-11-25" {
		t.Errorf("validate after renewal: %+v %v", v, err)
	}
}
