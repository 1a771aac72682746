package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/order"
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
	actions, err := s.app.Store.SupportActions(ctx, "shareit", s.purchase(1), "1")
	if err != nil || len(actions) != 1 || actions[0].Action != "revoke" || actions[0].Actor != "Rita Refunds" || actions[0].Reason != "refund #77" {
		t.Errorf("support actions %+v %v", actions, err)
	}
	if n := s.countWorkflows("OrderLine = '"+line+"' AND WorkflowType = '"+workflows.RevokeLicenseWorkflow+"'", 1); n != 1 {
		t.Errorf("the revocation is not in the order's story: %d", n)
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
