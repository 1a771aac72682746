package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// A refund: the admin API revokes the order's keys through the
// RevokeLicense workflow, a step in the order's story with who and why;
// from then on activation is refused and validation says revoked (computer
// licenses learn it at their next check). Restoring undoes it.
func TestRevocation(t *testing.T) {
	s := newStack(t)
	key := s.savedKey(2)
	line := order.Name("shareit", s.purchase(1), "1")
	ctx := context.Background()
	c := &client.Client{BaseURL: s.api.URL, Keys: s.ring}
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-A"}); err != nil {
		t.Fatal(err)
	}

	revoke := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.api.URL+"/v1/admin/revoke", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimRight(string(b), "\n")
	}
	body := `{"line": "` + line + `", "reason": "refund #77", "request": "refund-77"}`
	if status, out := revoke("", body); status != http.StatusUnauthorized {
		t.Errorf("no token: %d %s", status, out)
	}
	if status, out := revoke("wrong-token", body); status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", status, out)
	}
	if status, out := revoke(testenv.AdminToken, `{"line": "shareit:nope-1", "reason": "x", "request": "r1"}`); status != http.StatusNotFound {
		t.Errorf("unknown line: %d %s", status, out)
	}
	status, out := revoke(testenv.AdminToken, body)
	if status != http.StatusOK || !strings.Contains(out, `"keys":1`) {
		t.Fatalf("revoke: %d %s", status, out)
	}
	if status, again := revoke(testenv.AdminToken, body); status != http.StatusOK || again != out {
		t.Errorf("the same request again: %d %s, want %s", status, again, out)
	}

	if v, err := c.Validate(ctx, key, "PC-A"); err != nil || v.Status != "revoked" {
		t.Errorf("validate after revocation: %+v %v", v, err)
	}
	var refused *client.Error
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-B"}); !errors.As(err, &refused) || refused.Status != http.StatusForbidden {
		t.Errorf("activate a revoked key: %v", err)
	}
	// On the record, in the order's story.
	actions, err := s.app.Store.SupportActions(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || len(actions) != 1 || actions[0].Action != "revoke" || actions[0].Actor != "Rita Refunds" || actions[0].Reason != "refund #77" {
		t.Errorf("support actions %+v %v", actions, err)
	}
	if n := s.countWorkflows("OrderLine = '"+line+"' AND WorkflowType = '"+workflows.RevokeLicenseWorkflow+"'", 1); n != 1 {
		t.Errorf("the revocation is not in the order's story: %d", n)
	}

	// The admin look-up finds the line by each handle, with its revoked key
	// and the computer holding a seat.
	for _, q := range []string{"purchase=" + s.purchase(1), "email=JUERGEN%40example.com", "key=" + url.QueryEscape(strings.ToLower(key)), "serial=" + fmt.Sprintf("%016x", mustSerial(t, s, key))} {
		req, _ := http.NewRequest(http.MethodGet, s.api.URL+"/v1/admin/lookup?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Lines []api.LookupLine }
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || len(got.Lines) != 1 || got.Lines[0].Line != line || len(got.Lines[0].Keys) != 1 ||
			!got.Lines[0].Keys[0].Revoked || len(got.Lines[0].Keys[0].Computers) != 1 || got.Lines[0].Keys[0].Computers[0] != "PC-A" {
			t.Errorf("lookup %s: %+v %v", q, got, err)
		}
	}
	if resp, err := http.Get(s.api.URL + "/v1/admin/lookup?purchase=" + s.purchase(1)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("lookup without a token: %v %v", resp, err)
	}

	// Restored (as the CLI does): valid again.
	if n, _, err := workflows.Revoke(ctx, s.app.Temporal, s.app.Env.TaskQueue,
		workflows.RevokeRequest{Line: line, Restore: true, Actor: "Rita Refunds", Reason: "refund cancelled"}, "restore-77"); err != nil || n != 1 {
		t.Fatalf("restore: %d %v", n, err)
	}
	if v, err := c.Validate(ctx, key, "PC-A"); err != nil || v.Status != "valid" {
		t.Errorf("validate after restoring: %+v %v", v, err)
	}
}

func mustSerial(t *testing.T, s *stack, key string) uint64 {
	t.Helper()
	c, err := s.ring.Verify(key)
	if err != nil {
		t.Fatal(err)
	}
	return c.Serial
}
