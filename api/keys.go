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
		raw := keepBody(d, r)
		ls, p, refused := readLines(d, auth, r, method)
		if refused == nil && !ls.notify && len(ls.lines) != 1 {
			refused = &refusal{status: http.StatusBadRequest, reason: "the call names no order line"}
		}
		var line order.Line
		if refused == nil && !ls.notify {
			line = ls.lines[0].Line
		}
		if p != nil && p.Upstream != nil && raw != nil && !ls.notify && (refused == nil || refused.status == http.StatusBadRequest) {
			forward(w, r, d, p, method, raw, line, refused == nil)
			return
		}
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
		if ls.notify {
			notify(w, r, d, p, ls)
			return
		}
		if len(line.Warnings) > 0 {
			d.Log.Warn("Order line accepted with warnings", "order", line.ID(), "warnings", line.Warnings)
		}

		ctx, cancel := context.WithTimeout(r.Context(), d.KeyTimeout)
		defer cancel()
		keys, delivery, err := issue(ctx, d, line)
		if err != nil {
			status, reason := issueFailure(ctx, err)
			d.Log.Error("Issue keys", "order", line.ID(), "status", status, "error", err)
			why := fmt.Sprintf("answered %d: %s", status, reason)
			if r.Context().Err() != nil { // before the answer: after it, the caller may go
				why = "the caller was gone before the keys were ready"
			}
			plainError(w, status, reason)
			if !keyGenerationFailed(err) { // a failed run keys nothing
				// The workflow may have started, and key the line later: it
				// must not mail keys the storefront never had.
				_ = http.NewResponseController(w).Flush() // the storefront does not wait for the report
				report(r.Context(), d, line, false, why)
			}
			return
		}
		d.Metrics.Keyed(line.Provider, line.Renews != nil, delivery != deliveryWorkflow)
		werr := writeKeys(w, r, keys)
		switch delivery {
		case deliveryWorkflow, workflows.DeliveryUnconfirmed:
			// The workflow waits for this report before it saves the line,
			// or holds the line until a call gets the keys.
			if werr != nil {
				report(r.Context(), d, line, false, "the answer with the keys was not delivered: "+werr.Error())
			} else {
				report(r.Context(), d, line, true, "answered 200 with the keys")
			}
		case workflows.DeliveryCancelled:
			d.Log.Warn("A call for an order line support cancelled: answered with its revoked keys", "order", line.ID())
		}
	})
}

// deliveryWorkflow is issue's delivery for keys that came from the
// workflow rather than Postgres.
const deliveryWorkflow = "workflow"

// writeKeys answers with the keys and says whether the answer left: it is
// flushed whole (with its length, so the storefront has all of it before
// the report is sent), and fails when the caller has gone.
func writeKeys(w http.ResponseWriter, r *http.Request, keys []string) error {
	if err := r.Context().Err(); err != nil {
		return errors.New("the caller was gone before the answer was written")
	}
	if err := writePlain(w, http.StatusOK, strings.Join(keys, "\n")); err != nil {
		return fmt.Errorf("writing the answer: %w", err)
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return fmt.Errorf("sending the answer: %w", err)
	}
	return nil
}

// reportTimeout bounds the report of an answer to the line's workflow;
// the Temporal client retries within it while the server is unreachable.
const reportTimeout = 20 * time.Second

// report tells the line's workflow whether the storefront received the
// keys, for a line that waits for it (order.Line.Confirm). A report that
// cannot be sent is logged: the workflow holds the line when none comes.
func report(ctx context.Context, d Deps, line order.Line, delivered bool, reason string) {
	if line.Confirm == nil {
		return
	}
	if !delivered {
		d.Metrics.Delivery("undelivered")
		d.Log.Warn("The storefront did not receive the keys; the line will be held", "order", line.ID(), "reason", reason)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	_, id, _ := workflows.LineWorkflow(line)
	err := d.Temporal.SignalWorkflow(ctx, id, "", workflows.DeliverySignal, workflows.DeliveryReport{Delivered: delivered, Reason: reason})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		// Never started (nothing to hold), or finished (a line settled).
	case err != nil:
		d.Log.Error("Report the answer to the line's workflow", "order", line.ID(), "delivered", delivered, "error", err)
	}
}

func keyGenerationFailed(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == workflows.KeyGenerationFailed
}

// issue returns the order line's keys: from Postgres when the line was
// saved before, else from the IssueLicense workflow, started or joined with
// Update-With-Start. The update returns as soon as the keys are signed.
// delivery is deliveryWorkflow for keys from the workflow, else the stored
// line's Delivery (a repeat).
func issue(ctx context.Context, d Deps, line order.Line) (keys []string, delivery string, err error) {
	if keys, delivery, err := storedKeys(ctx, d, line); err == nil {
		return keys, delivery, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		// The workflow can still answer; the database may be back by the
		// time it saves.
		d.Log.Warn("Look up stored order", "order", line.ID(), "error", err)
	}

	asked := time.Now().UTC()
	workflowType, id, options := startOptions(d, line, asked)
	keys, err = updateWithStart(ctx, d, options, workflowType, line, id)
	if err == nil {
		return keys, deliveryWorkflow, nil
	}
	// The server answers an update ID from the run that saw it, even a
	// failed one, and refuses an unseen one on a completed run. So a run
	// that failed before this call (its cause may be fixed since) is
	// replaced under an update ID derived from the failed run, and a run
	// that completed under such an ID answers with its result.
	latest, derr := d.Temporal.DescribeWorkflow(ctx, id, "")
	if derr != nil {
		return nil, "", err
	}
	info := latest.RawResponse.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == workflows.KeyGenerationFailed && info.GetCloseTime().AsTime().Before(asked) {
			keys, err = updateWithStart(ctx, d, options, workflowType, line, id+"/after/"+info.GetExecution().GetRunId())
			return keys, deliveryWorkflow, err
		}
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.Result
		if rerr := d.Temporal.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &res); rerr == nil && len(res.Keys) > 0 {
			// Completed and so settled: nothing to report.
			return res.Keys, res.Delivery, nil
		}
	}
	return nil, "", err
}

// startOptions are how a line's workflow starts: its type and ID (see
// workflows.LineWorkflow), its search attributes, and a summary for the UI.
func startOptions(d Deps, line order.Line, asked time.Time) (workflowType, id string, options client.StartWorkflowOptions) {
	workflowType, id, orderLine := workflows.LineWorkflow(line)
	summary := fmt.Sprintf("%s order %s line %s: %s %d.%d", line.Provider, line.PurchaseID, line.RunningNo,
		line.Product.Name, line.Product.Major, line.Product.Minor)
	if o := line.Renews; o != nil {
		summary = fmt.Sprintf("%s renewal of order %s line %s by order %s line %s", o.Kind, o.PurchaseID, o.RunningNo, line.PurchaseID, line.RunningNo)
	}
	if n := len(line.Warnings); n > 0 {
		summary += fmt.Sprintf(" (%d warnings)", n)
	}
	return workflowType, id, client.StartWorkflowOptions{
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

func storedKeys(ctx context.Context, d Deps, line order.Line) ([]string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, storedLookupTimeout)
	defer cancel()
	return d.Store.LineKeys(ctx, line.LineID)
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
