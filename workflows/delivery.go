package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/order"
)

// No key without a sale. MyCommerce does not complete a purchase whose key
// generator failed or timed out, and does not call again: it shows the
// buyer an error page and emails the vendor the purchase's reference. So
// the API reports each answer to the line's workflow (DeliverySignal); a
// line whose keys did not reach the storefront is saved on hold: no email,
// its keys do not activate, Delivery = "unconfirmed". The storefront's
// next call for the line releases it (and gets the same keys); support
// staff confirm it (ConfirmPurchaseUpdate) or cancel it
// (CancelPurchaseUpdate, which revokes its keys) after checking the
// storefront; unsettled, it is cancelled after the provider's days.

// DeliverySignal is the API's report of one answer to the storefront.
const DeliverySignal = "key-delivery"

// Support staff's updates for a held line, from the Temporal UI.
const (
	ConfirmPurchaseUpdate = "confirm-purchase"
	CancelPurchaseUpdate  = "cancel-purchase"
)

// Delivery is the search attribute of a line held for its storefront's
// confirmation: Delivery = "unconfirmed" finds the lines to settle. A line
// delivered at once has none.
var Delivery = temporal.NewSearchAttributeKeyKeyword("Delivery")

// Values of Delivery, also stored on the line in Postgres.
const (
	DeliveryUnconfirmed = "unconfirmed"
	DeliveryConfirmed   = "confirmed"
	DeliveryCancelled   = "cancelled"
)

// DeliveryReport is the input of DeliverySignal.
type DeliveryReport struct {
	// Delivered says the answer with the keys was written to the
	// storefront; false says it was not.
	Delivered bool
	// Reason says what happened, for the line's story: "answered 200",
	// "answered 503 after 10s: key generation is taking too long".
	Reason string
}

// Decision is the input of ConfirmPurchaseUpdate and CancelPurchaseUpdate.
type Decision struct {
	// Actor is who decides (the staff member's name), Reason why: "paid,
	// checked in the MyCommerce control panel, order 123456".
	Actor, Reason string
}

// delivery is what the workflow knows of the storefront's receipt.
type delivery struct {
	delivered   bool      // a report said the keys were written
	deliveredBy string    // that report's reason
	undelivered string    // the first report that they were not, or why none came
	held        bool      // saved on hold, waiting for a decision
	confirm     *Decision // support confirmed
	cancel      *Decision // support cancelled
	decisionID  string    // the update that decided
	settled     string    // DeliveryConfirmed or DeliveryCancelled once done
}

// listen applies the API's reports as they come. A delivered report wins
// over any other: once the storefront has the keys, the sale is complete.
func (d *delivery) listen(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, DeliverySignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var r DeliveryReport
			ch.Receive(ctx, &r)
			switch {
			case r.Delivered && !d.delivered:
				d.delivered, d.deliveredBy = true, r.Reason
			case !r.Delivered && d.undelivered == "":
				d.undelivered = r.Reason
			}
		}
	})
}

// awaitReport waits, once the keys exist, for the API's report, and says
// whether the line is to be saved on hold.
func (d *delivery) awaitReport(ctx workflow.Context, c *order.Confirm) (activities.Delivery, error) {
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      c.ReportWithin,
		TimerOptions: workflow.TimerOptions{Summary: "wait for the API's report that the storefront has the keys"},
	}, func() bool { return d.delivered || d.undelivered != "" })
	if err != nil {
		return activities.Delivery{}, err
	}
	if !ok {
		d.undelivered = fmt.Sprintf("no report within %s that the storefront received the keys (the API may have stopped after answering)", c.ReportWithin)
	}
	if d.delivered {
		return activities.Delivery{Status: DeliveryConfirmed, Reason: d.deliveredBy}, nil
	}
	return activities.Delivery{Status: DeliveryUnconfirmed, Reason: d.undelivered}, nil
}

// hold keeps a saved line from its buyer until the storefront calls again,
// support decides, or the provider's days pass. It returns true when the
// line was cancelled (its keys revoked).
func (d *delivery) hold(ctx workflow.Context, line order.Line) (cancelled bool, err error) {
	d.held = true
	workflow.GetLogger(ctx).Warn("Order line held: the storefront did not receive its keys", "reason", d.undelivered)
	workflow.SetCurrentDetails(ctx, "held, not mailed and not activating: "+d.undelivered+
		". Check the purchase at the storefront, then send "+ConfirmPurchaseUpdate+" or "+CancelPurchaseUpdate+".")
	if err := workflow.UpsertTypedSearchAttributes(ctx, Delivery.ValueSet(DeliveryUnconfirmed)); err != nil {
		return false, err
	}
	days := line.Confirm.CancelAfterDays
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      time.Duration(days) * 24 * time.Hour,
		TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("cancel after %d days unconfirmed", days)},
	}, func() bool { return d.delivered || d.confirm != nil || d.cancel != nil })
	if err != nil {
		return false, err
	}
	change := activities.DeliveryChange{Line: line.ID(), Renewal: line.Renews != nil}
	// A decision by support staff counts before the storefront's report.
	var decision *Decision
	switch {
	case d.confirm != nil:
		decision = d.confirm
		change.Status, change.Reason = DeliveryConfirmed, "confirmed by "+d.confirm.Actor+": "+d.confirm.Reason
	case d.cancel != nil:
		decision = d.cancel
		change.Status, change.Reason = DeliveryCancelled, "cancelled by "+d.cancel.Actor+": "+d.cancel.Reason
	case d.delivered:
		change.Status, change.Reason = DeliveryConfirmed, "the storefront called again and received the keys ("+d.deliveredBy+")"
	case !ok:
		change.Status, change.Reason = DeliveryCancelled, fmt.Sprintf("cancelled: not confirmed within %d days", days)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
		Summary:             "record the purchase " + change.Status,
	})
	var a *activities.Activities
	if err := workflow.ExecuteActivity(actx, a.SetDelivery, change).Get(ctx, nil); err != nil {
		return false, err
	}
	if decision != nil {
		action := ConfirmPurchaseUpdate
		if change.Status == DeliveryCancelled {
			action = CancelPurchaseUpdate
		}
		if err := recordSupport(ctx, activities.SupportRecord{
			Line: line.ID(), Action: action, Actor: decision.Actor, Reason: decision.Reason,
			RequestID: d.decisionID,
		}); err != nil {
			return false, err
		}
	}
	workflow.SetCurrentDetails(ctx, change.Reason)
	attrs := []temporal.SearchAttributeUpdate{Delivery.ValueSet(change.Status)}
	if change.Status == DeliveryCancelled {
		attrs = append(attrs, EmailStatus.ValueSet(EmailSkipped))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return false, err
	}
	d.settled = change.Status
	return change.Status == DeliveryCancelled, nil
}

// decisionHandlers registers support's two updates on a held line. Each
// answers once the decision is on the record.
func (d *delivery) decisionHandlers(ctx workflow.Context) error {
	for _, name := range []string{ConfirmPurchaseUpdate, CancelPurchaseUpdate} {
		confirm := name == ConfirmPurchaseUpdate
		description := `Confirm that the storefront completed this purchase: the buyer is mailed and the keys activate. Input: {"Actor": "your name", "Reason": "how you checked"}`
		if !confirm {
			description = `Cancel this purchase: the storefront did not complete it; its keys are revoked and nothing is mailed. Input: {"Actor": "your name", "Reason": "how you checked"}`
		}
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, req Decision) (string, error) {
				d.decisionID = workflow.GetCurrentUpdateInfo(ctx).ID
				if confirm {
					d.confirm = &req
				} else {
					d.cancel = &req
				}
				if err := workflow.Await(ctx, func() bool { return d.settled != "" }); err != nil {
					return "", err
				}
				return "purchase " + d.settled, nil
			},
			workflow.UpdateHandlerOptions{
				Validator: func(ctx workflow.Context, req Decision) error {
					if !d.held || d.confirm != nil || d.cancel != nil || d.settled != "" {
						return errors.New("this order line is not held for confirmation")
					}
					if strings.TrimSpace(req.Actor) == "" || strings.TrimSpace(req.Reason) == "" {
						return errors.New(`say who decides and why: {"Actor": "your name", "Reason": "how you checked"}`)
					}
					return nil
				},
				Description: description,
			})
		if err != nil {
			return err
		}
	}
	return nil
}
