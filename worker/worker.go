// Package worker runs keysmith's workflows and activities.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/workflows"
)

// Options of a worker.
type Options struct {
	// StopTimeout is how long Stop lets running activities finish.
	StopTimeout time.Duration
	// OnFatal is called when the worker stops on an error it cannot
	// recover from (the namespace or task queue is gone).
	OnFatal func(error)
}

// New returns a worker for a task queue (workflows.TaskQueue in
// production); call Run or Start.
func New(c client.Client, taskQueue string, acts *activities.Activities, o Options) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{WorkerStopTimeout: o.StopTimeout, OnFatalError: o.OnFatal})
	w.RegisterWorkflow(workflows.IssueLicense)
	// A renewal is the same workflow under its own name, so that the UI
	// and history say what it is.
	w.RegisterWorkflowWithOptions(workflows.IssueLicense, workflow.RegisterOptions{Name: workflows.RenewLicense})
	w.RegisterWorkflowWithOptions(workflows.ResendEmail, workflow.RegisterOptions{Name: workflows.ResendEmailWorkflow})
	w.RegisterWorkflowWithOptions(workflows.RevokeLicense, workflow.RegisterOptions{Name: workflows.RevokeLicenseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.ImportLicense, workflow.RegisterOptions{Name: workflows.ImportLicenseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.ImportLicense, workflow.RegisterOptions{Name: workflows.ForwardLicenseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.ExchangeLegacyKey, workflow.RegisterOptions{Name: workflows.ExchangeLegacyKeyWorkflow})
	w.RegisterActivity(acts)
	return w
}

// EnsureSearchAttributes registers the search attributes the workflows set.
// A workflow that sets an unregistered attribute fails its task, so the
// worker checks this at start-up; a server that already has them is left
// alone.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if _, ok := have.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = enums.IndexedValueType(key.GetValueType())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}
