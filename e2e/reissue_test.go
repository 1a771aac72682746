package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/workflows"
)

// A line whose run failed (here: keys that cannot be signed, as a broken
// release would leave it) answers the waiting update with the reason, and
// ShareIt's next call for the line gets a key from a new run instead of an
// error until the retention ends.
func TestFailedLineReissued(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	bad := testenv.OrderLine(s.purchase(1))
	bad.Model = "lifetime" // no such model: GenerateKeys refuses it
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	start := s.app.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.app.Env.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, workflows.IssueLicense, bad)
	handle, err := s.app.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions:          client.UpdateWorkflowOptions{UpdateID: id, UpdateName: workflows.IssueKeyUpdate, WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = handle.Get(ctx, &keys)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != workflows.KeyGenerationFailed {
		t.Fatalf("issue-key update = %v, want a %s error", err, workflows.KeyGenerationFailed)
	}
	if err := s.app.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil); err == nil {
		t.Fatal("the bad run did not fail")
	}

	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("ShareIt's call after the failed run: %d %s", status, key)
	}
	if _, err := s.ring.Verify(key); err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	if res := s.waitWorkflow(id); len(res.Keys) != 1 || res.Keys[0] != key {
		t.Errorf("new run's result %+v, want key %q", res, key)
	}
	// And the line is settled: the same key again, from Postgres and, with
	// the database away, from the new run.
	if status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != key {
		t.Errorf("repeat: %d %q, want %q", status, again, key)
	}
	if err := testenv.AllowConnections(ctx, s.db, false); err != nil {
		t.Fatal(err)
	}
	defer testenv.AllowConnections(context.Background(), s.db, true) //nolint:errcheck // restored for cleanup
	if status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != key {
		t.Errorf("repeat without the database: %d %q, want %q", status, again, key)
	}
}
