package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// notify answers a notification (a storefront's webhook): each line's
// workflow is started, or joined, with a report that the storefront
// completed the sale, which also releases a line the key generator's call
// left held; the keys are mailed. The answer lists the events handled
// (all but those with a line that could not be started), at once: the
// storefront does not wait for keys. A line keyed before, or whose
// workflow completed, starts nothing: a notification received twice keys
// once.
func notify(w http.ResponseWriter, r *http.Request, d Deps, ls lines) {
	ctx, cancel := context.WithTimeout(r.Context(), d.KeyTimeout)
	defer cancel()
	for _, l := range ls.lines {
		if err := startLine(ctx, d, l); err != nil {
			ls.failed[l.event] = true
			d.Log.Error("Notification: start the order line", "order", l.ID(), "event", l.event, "error", err)
			continue
		}
		d.Metrics.Keyed(l.Provider, l.Renews != nil, false)
	}
	var handled []string
	for _, e := range ls.events {
		if !ls.failed[e] {
			handled = append(handled, e)
		}
	}
	if len(handled) == 0 && len(ls.failed) > 0 {
		plainError(w, http.StatusServiceUnavailable, "key service temporarily unavailable; send the events again")
		return
	}
	_ = writePlain(w, http.StatusOK, strings.Join(handled, "\n"))
}

// startLine starts a notification's line, or tells its running workflow
// that the sale is complete.
func startLine(ctx context.Context, d Deps, l line) error {
	workflowType, id, options := startOptions(d, l.Line, time.Now().UTC())
	report := workflows.DeliveryReport{Delivered: true, Reason: "the storefront reported the sale complete (event " + l.event + ")"}
	lookup, cancel := context.WithTimeout(ctx, storedLookupTimeout)
	_, delivery, err := d.Store.LineKeys(lookup, l.LineID)
	cancel()
	switch {
	case err == nil && delivery == workflows.DeliveryUnconfirmed:
		// Held for want of the key generator's answer: the storefront's
		// own word releases it.
		err := d.Temporal.SignalWorkflow(ctx, id, "", workflows.DeliverySignal, report)
		if _, gone := errors.AsType[*serviceerror.NotFound](err); gone {
			return nil // settled meanwhile
		}
		return err
	case err == nil:
		return nil // keyed before
	case !errors.Is(err, store.ErrNotFound):
		d.Log.Warn("Look up stored order", "order", l.ID(), "error", err)
	}
	_, err = d.Temporal.SignalWithStartWorkflow(ctx, id, workflows.DeliverySignal, report, options, workflowType, l.Line)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil // completed: keyed and settled
	}
	return err
}
