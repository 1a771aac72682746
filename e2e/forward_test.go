package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// standInQLM answers GetActivationKey as QLM's License Server does for
// ShareIt (the key in plain text): a key made from the purchase, a 500 with
// QLM's reason for a purchase named "...fail...", and no answer in time for
// one named "...slow...". It checks that the call came as the storefront
// sent it: QLM's own arguments in the query, the order in the body.
func standInQLM(t *testing.T, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/qlmLicenseServer/qlmservice.asmx/GetActivationKey" || r.Method != http.MethodPost {
			http.Error(w, "no such method", http.StatusNotFound)
			return
		}
		// IIS takes a raw ';' (QLM's is_features), Go's parser does not.
		q, err := url.ParseQuery(strings.ReplaceAll(r.URL.RawQuery, ";", "%3B"))
		if err != nil || q.Get("is_user") != "shareit" || q.Get("is_pwd") != password || q.Get("is_features") != "0:3;1:1" {
			http.Error(w, "Invalid user or password", http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(b))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		purchase := form.Get("PURCHASE_ID")
		switch {
		case strings.Contains(purchase, "fail"):
			http.Error(w, "Error: product 1 has no available license", http.StatusInternalServerError)
			return
		case strings.Contains(purchase, "slow"):
			time.Sleep(3 * time.Second)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Q%s-%s-0GHJ-4B78\n", strings.ToUpper(purchase), form.Get("RUNNING_NO"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Forward mode: a provider naming its old QLM server as upstream has its
// calls keyed by QLM, as they came; the storefront gets QLM's answer and
// keysmith records the line with QLM's key as its legacy key (no email of
// its own); a repeat gets the same key without asking QLM again; QLM's
// failures and its silence are the storefront's, with nothing recorded;
// removing the upstream switches to keysmith's own keys.
func TestForwardMode(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	var hits atomic.Int64
	qlm := standInQLM(t, &hits)
	p, _ := s.app.Config.Provider("shareit")
	p.Upstream = &config.Upstream{URL: qlm.URL + "/qlmLicenseServer/qlmservice.asmx"}
	s.app.Env.KeyTimeout = time.Second
	s.restartAPI()

	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	want := fmt.Sprintf("Q%s-1-0GHJ-4B78", strings.ToUpper(s.purchase(1)))
	if status != http.StatusOK || key != want {
		t.Fatalf("forwarded call: %d %q, want QLM's %q", status, key, want)
	}
	line := order.Name("shareit", s.purchase(1), "1")
	id := workflows.ForwardLicenseWorkflow + ":" + line
	var res workflows.ImportResult
	if err := s.app.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatalf("the line's record: %v", err)
	}
	s.recordHistory(id, "forward_license.json")
	row, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || len(row.Keys) != 1 || row.Keys[0].LegacyText == nil || *row.Keys[0].LegacyText != want || row.EmailStatus != "skipped" {
		t.Fatalf("recorded line: %+v %v", row, err)
	}
	if status, body := s.activate(api.ActivateRequest{Key: want, ComputerID: "pc-1"}); status != http.StatusOK {
		t.Errorf("activate QLM's key: %d %s", status, body)
	}
	before := hits.Load()
	if status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != want {
		t.Errorf("repeat: %d %q, want %q", status, again, want)
	}
	if hits.Load() != before {
		t.Error("a repeat asked QLM again")
	}

	// QLM's failure passes through; nothing is recorded.
	status, body := s.post(getKey, qlmQuery, orderForm(s.purchase(2)+"fail", 1))
	if status != http.StatusInternalServerError || !strings.Contains(body, "no available license") {
		t.Errorf("QLM's failure: %d %q, want its 500 and reason", status, body)
	}
	// A QLM that does not answer within the key timeout is a 503.
	status, body = s.post(getKey, qlmQuery, orderForm(s.purchase(3)+"slow", 1))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "QLM License Server did not answer") {
		t.Errorf("a slow QLM: %d %q", status, body)
	}
	time.Sleep(500 * time.Millisecond)
	for _, purchase := range []string{s.purchase(2) + "fail", s.purchase(3) + "slow"} {
		if n, err := s.countOrderLines(ctx, purchase); err != nil || n != 0 {
			t.Errorf("%s: %d lines recorded (%v), want none", purchase, n, err)
		}
	}
	if len(s.resend.Delivered()) != 0 {
		t.Error("keysmith mailed in forward mode")
	}

	// The switch: without the upstream keysmith keys the next order itself,
	// and the earlier line still answers QLM's key.
	p.Upstream = nil
	s.restartAPI()
	status, own := s.post(getKey, qlmQuery, orderForm(s.purchase(4), 1))
	if status != http.StatusOK {
		t.Fatalf("after the switch: %d %s", status, own)
	}
	if _, err := s.ring.Verify(own); err != nil {
		t.Errorf("after the switch the key %q is not keysmith's: %v", own, err)
	}
	if status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != want {
		t.Errorf("the forwarded line after the switch: %d %q, want QLM's %q", status, again, want)
	}
}
