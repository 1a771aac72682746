package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/storefront"
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
func notify(w http.ResponseWriter, r *http.Request, d Deps, p *config.Provider, ls lines) {
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
	for _, rv := range ls.revocations {
		if err := revoke(ctx, d, p, rv); err != nil {
			ls.failed[rv.Event] = true
			d.Log.Error("Notification: revoke", "provider", p.Name, "event", rv.Event, "line", rv.Line.Name(), "error", err)
		}
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
	if ls.answer != nil {
		_ = writePlain(w, http.StatusOK, ls.answer(handled))
		return
	}
	_ = writePlain(w, http.StatusOK, strings.Join(handled, "\n"))
}

// revoke applies a storefront's refund, chargeback or cancellation to its
// line, as the line's product says (on_refund, on_cancel): revoking starts
// RevokeLicense with the event as the actor, one per event (the same event
// twice revokes once); keeping, or letting a cancelled subscription run to
// the end of its period, is logged. A line keysmith never keyed is logged
// and answered as handled: the storefront would send it for ever.
func revoke(ctx context.Context, d Deps, p *config.Provider, rv storefront.Revocation) error {
	var (
		row *store.OrderRow
		err error
	)
	if rv.Line.PurchaseID != "" {
		row, err = d.Store.FindOrderLine(ctx, rv.Line)
	} else {
		row, err = d.Store.FindLineBySubscription(ctx, p.Name, rv.Subscription)
	}
	if errors.Is(err, store.ErrNotFound) {
		d.Log.Warn("Notification for a line keysmith never keyed: nothing to revoke; stored", "provider", p.Name,
			"event", rv.Event, "kind", rv.Kind, "line", rv.Line.Name(), "subscription", rv.Subscription)
		d.Metrics.Revocation(p.Name, rv.Kind, "unknown line")
		e := &store.StorefrontEvent{Provider: p.Name, EventID: rv.Event, Kind: rv.Kind, Subscription: rv.Subscription,
			Reason: rv.Reason, Problem: "no line keysmith keyed"}
		if rv.Line.PurchaseID != "" {
			e.Line = rv.Line.Name()
		}
		return d.Store.RecordEvent(ctx, e)
	}
	if err != nil {
		return err
	}
	line := row.LineID()
	policy := config.Revoke
	if prod, ok := d.Config.Product(row.ProductID, row.Major, row.Minor); ok {
		policy = prod.OnRefund
		if rv.Kind == storefront.Cancel {
			policy = prod.OnCancel
		}
	} else if rv.Kind == storefront.Cancel {
		policy = config.Expire
	}
	if rv.Quantity > 0 && rv.Quantity < row.Quantity {
		d.Log.Warn("A partial refund of a multi-seat line: the keys are kept (support may revoke them)", "line", line.Name(),
			"event", rv.Event, "refunded", rv.Quantity, "bought", row.Quantity)
		d.Metrics.Revocation(p.Name, rv.Kind, "partial")
		return nil
	}
	if policy != config.Revoke {
		d.Log.Info("Notification: keys kept, as the product says", "line", line.Name(), "event", rv.Event, "kind", rv.Kind, "policy", policy)
		d.Metrics.Revocation(p.Name, rv.Kind, policy)
		return nil
	}
	req := workflows.RevokeRequest{Line: line.Name(), Actor: p.Name + " event " + rv.Event, Reason: rv.Kind + ": " + rv.Reason}
	_, err = workflows.StartRevoke(ctx, d.Temporal, d.TaskQueue, req, "event-"+rv.Event)
	if err == nil {
		d.Metrics.Revocation(p.Name, rv.Kind, config.Revoke)
	}
	return err
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
