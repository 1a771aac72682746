package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/workflows"
)

// TestReplay replays histories recorded from real runs: the current ones
// (make history) and, in dated folders, those of earlier releases, so that
// a change to IssueLicense that would break running workflows fails here.
func TestReplay(t *testing.T) {
	current, err := filepath.Glob("testdata/*.json")
	if err != nil || len(current) == 0 {
		t.Fatalf("no histories in testdata: %v", err)
	}
	older, err := filepath.Glob("testdata/*/*.json")
	if err != nil || len(older) == 0 {
		t.Fatalf("no earlier releases' histories in testdata: %v", err)
	}
	files := append(current, older...)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			// Recorded encrypted, with the tests' codec key; older ones in clear.
			cdc, err := codec.New(testenv.CodecKeys)
			if err != nil {
				t.Fatal(err)
			}
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				DataConverter: cdc.DataConverter(), FailureConverter: cdc.FailureConverter(),
			})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflow(workflows.IssueLicense)
			r.RegisterWorkflowWithOptions(workflows.IssueLicense, workflow.RegisterOptions{Name: workflows.RenewLicense})
			r.RegisterWorkflowWithOptions(workflows.ResendEmail, workflow.RegisterOptions{Name: workflows.ResendEmailWorkflow})
			r.RegisterWorkflowWithOptions(workflows.RevokeLicense, workflow.RegisterOptions{Name: workflows.RevokeLicenseWorkflow})
			r.RegisterWorkflowWithOptions(workflows.ImportLicense, workflow.RegisterOptions{Name: workflows.ImportLicenseWorkflow})
			r.RegisterWorkflowWithOptions(workflows.ImportLicense, workflow.RegisterOptions{Name: workflows.ForwardLicenseWorkflow})
			r.RegisterWorkflowWithOptions(workflows.ExchangeLegacyKey, workflow.RegisterOptions{Name: workflows.ExchangeLegacyKeyWorkflow})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
