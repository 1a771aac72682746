package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// storedLookupTimeout bounds the fast path's look-up of a line already in
// Postgres: a hung database must not use up the storefront's wait, since
// the workflow can answer without it.
const storedLookupTimeout = 500 * time.Millisecond

// keyGenerator answers the storefront's call to one of QLM's methods with
// the order line's key(s), one per line.
func keyGenerator(d Deps, auth *authenticator, method string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line, refused := decodeLine(d, auth, r, method)
		if refused != nil {
			if refused.retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(refused.retryAfter.Seconds())))
			}
			if refused.status == http.StatusUnauthorized && strings.HasPrefix(refused.reason, "wrong or missing basic auth") {
				w.Header().Set("WWW-Authenticate", `Basic realm="keysmith"`)
			}
			plainError(w, refused.status, refused.reason)
			return
		}
		if len(line.Warnings) > 0 {
			d.Log.Warn("Order line accepted with warnings", "order", line.ID(), "warnings", line.Warnings)
		}

		ctx, cancel := context.WithTimeout(r.Context(), d.KeyTimeout)
		defer cancel()
		keys, stored, err := issue(ctx, d, line)
		if err != nil {
			status, reason := issueFailure(ctx, err)
			d.Log.Error("Issue keys", "order", line.ID(), "status", status, "error", err)
			plainError(w, status, reason)
			return
		}
		d.Metrics.Keyed(line.Provider, line.Renews != nil, stored)
		writePlain(w, http.StatusOK, strings.Join(keys, "\n"))
	})
}

// issue returns the order line's keys: from Postgres when the line was
// saved before, else from the IssueLicense workflow, started or joined with
// Update-With-Start. The update returns as soon as the keys are signed.
// stored says the keys came from Postgres (a repeat).
func issue(ctx context.Context, d Deps, line order.Line) (keys []string, stored bool, err error) {
	if keys, err := storedKeys(ctx, d, line); err == nil {
		return keys, true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		// The workflow can still answer; the database may be back by the
		// time it saves.
		d.Log.Warn("Look up stored order", "order", line.ID(), "error", err)
	}

	workflowType, id, orderLine := workflows.LineWorkflow(line)
	summary := fmt.Sprintf("%s order %s line %s: %s %d.%d", line.Provider, line.PurchaseID, line.RunningNo,
		line.Product.Name, line.Product.Major, line.Product.Minor)
	if o := line.Renews; o != nil {
		summary = fmt.Sprintf("%s renewal of order %s line %s by order %s line %s", o.Kind, o.PurchaseID, o.RunningNo, line.PurchaseID, line.RunningNo)
	}
	if n := len(line.Warnings); n > 0 {
		summary += fmt.Sprintf(" (%d warnings)", n)
	}
	asked := time.Now().UTC()
	options := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                d.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A line whose run failed (a bug, a bad signing key) is keyed anew
		// once the cause is fixed; a completed one answers with its keys.
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes: workflows.LineSearchAttributes(line, orderLine, cmp.Or(line.OrderDate, asked)),
		StaticSummary:         summary,
		StaticDetails:         strings.Join(line.Warnings, "\n"),
	}
	keys, err = updateWithStart(ctx, d, options, workflowType, line, id)
	if err == nil {
		return keys, false, nil
	}
	// The server answers an update ID from the run that saw it, even a
	// failed one, and refuses an unseen one on a completed run. So a run
	// that failed before this call (its cause may be fixed since) is
	// replaced under an update ID derived from the failed run, and a run
	// that completed under such an ID answers with its result.
	latest, derr := d.Temporal.DescribeWorkflow(ctx, id, "")
	if derr != nil {
		return nil, false, err
	}
	info := latest.RawResponse.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == workflows.KeyGenerationFailed && info.GetCloseTime().AsTime().Before(asked) {
			keys, err = updateWithStart(ctx, d, options, workflowType, line, id+"/after/"+info.GetExecution().GetRunId())
			return keys, false, err
		}
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.Result
		if rerr := d.Temporal.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &res); rerr == nil && len(res.Keys) > 0 {
			return res.Keys, false, nil
		}
	}
	return nil, false, err
}

// updateWithStart starts or joins the line's workflow and waits for its
// issue-key update.
func updateWithStart(ctx context.Context, d Deps, options client.StartWorkflowOptions, workflowType string, line order.Line, updateID string) ([]string, error) {
	start := d.Temporal.NewWithStartWorkflowOperation(options, workflowType, line)
	handle, err := d.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   workflows.IssueKeyUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("update-with-start %s: %w", updateID, err)
	}
	var keys []string
	if err := handle.Get(ctx, &keys); err != nil {
		return nil, fmt.Errorf("issue-key update %s: %w", updateID, err)
	}
	return keys, nil
}

func storedKeys(ctx context.Context, d Deps, line order.Line) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, storedLookupTimeout)
	defer cancel()
	return d.Store.LineKeys(ctx, line.Provider, line.PurchaseID, line.RunningNo)
}

// issueFailure turns a failure to get keys into a status and a plain reason
// for the storefront; the cause goes to the log only. Timeouts and an
// unreachable or overloaded Temporal are worth a retry: 503.
func issueFailure(ctx context.Context, err error) (int, string) {
	var (
		waiting     *client.WorkflowUpdateServiceTimeoutOrCanceledError
		deadline    *serviceerror.DeadlineExceeded
		canceled    *serviceerror.Canceled
		unavailable *serviceerror.Unavailable
		exhausted   *serviceerror.ResourceExhausted
		app         *temporal.ApplicationError
	)
	switch {
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &waiting),
		errors.As(err, &deadline), errors.As(err, &canceled):
		return http.StatusServiceUnavailable, errTimeout.Error()
	case errors.As(err, &unavailable), errors.As(err, &exhausted):
		return http.StatusServiceUnavailable, "key service temporarily unavailable; try again"
	case errors.As(err, &app) && app.Type() == workflows.KeyGenerationFailed:
		// The workflow said why: a configuration problem support must fix.
		// Its run has failed, so the storefront's retry keys it anew.
		return http.StatusServiceUnavailable, "key generation failed: " + app.Message()
	default:
		return http.StatusInternalServerError, "internal error; the order was not keyed"
	}
}
