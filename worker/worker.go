// Package worker runs keysmith's workflows and activities.
package worker

import (
	"context"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/workflows"
)

// New returns a worker for a task queue (workflows.TaskQueue in
// production); call Run or Start.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	w.RegisterWorkflow(workflows.IssueLicense)
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
	name := workflows.EmailStatus.GetName()
	if _, ok := have.GetCustomAttributes()[name]; ok {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: map[string]enums.IndexedValueType{name: enums.INDEXED_VALUE_TYPE_KEYWORD},
	})
	if err != nil {
		return fmt.Errorf("add search attribute %s: %w", name, err)
	}
	return nil
}
