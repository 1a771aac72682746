package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// heldLine is the test line as the API sends it for a provider that holds
// lines whose keys the storefront did not receive.
func heldLine() order.Line {
	line := testenv.OrderLine("548712391")
	line.Confirm = &order.Confirm{ReportWithin: time.Minute, CancelAfterDays: 14}
	return line
}

// heldRun is a line with a delivery report, its activities mocked: what was
// saved, mailed and settled.
type heldRun struct {
	*fixture
	line   order.Line
	save   *calls[saveCall]
	email  *calls[emailCall]
	settle *calls[activities.DeliveryChange]
}

func newHeldRun(t *testing.T) heldRun {
	f := newFixture(t)
	f.mockKeys(testKeys(1))
	return heldRun{fixture: f, line: heldLine(), save: f.mockSave(0), email: f.mockEmail(0, emailOK), settle: f.mockSetDelivery()}
}

// mockSetDelivery records how held lines are settled.
func (f *fixture) mockSetDelivery() *calls[activities.DeliveryChange] {
	c := &calls[activities.DeliveryChange]{}
	f.env.OnActivity(f.acts.SetDelivery, mock.Anything, mock.Anything).
		Return(func(_ context.Context, ch activities.DeliveryChange) error {
			c.add(ch)
			return nil
		}).Maybe()
	return c
}

// report sends the API's report at delay d of workflow time.
func (f *fixture) report(d time.Duration, delivered bool, reason string) {
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(workflows.DeliverySignal, workflows.DeliveryReport{Delivered: delivered, Reason: reason})
	}, d)
}

func (f *fixture) deliveryValues() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deliveries...)
}

// The API reports the answer delivered: the line is saved as confirmed and
// mailed, with no hold and no Delivery attribute.
func TestDeliveredLineIsMailed(t *testing.T) {
	f := newHeldRun(t)
	line, save, email, settle := f.line, f.save, f.email, f.settle
	upd := f.issueKey()
	f.report(time.Millisecond, true, "answered 200 with the keys")

	f.run(line)

	requireKeys(t, upd, testKeys(1))
	assert.Equal(t, []saveCall{{line: line, keys: testKeys(1), delivery: activities.Delivery{Status: "confirmed", Reason: "answered 200 with the keys"}}}, save.all())
	assert.Len(t, email.all(), 1)
	assert.Empty(t, settle.all())
	assert.Empty(t, f.deliveryValues())
	assert.Equal(t, workflows.Result{Keys: order.Keys(testKeys(1)), EmailStatus: workflows.EmailSent}, f.result())
}

// The API answered an error (its wait ran out) before the keys existed:
// the line is saved on hold, nothing is mailed, until the storefront's next
// call gets the keys; then the line is confirmed and mailed.
func TestUndeliveredLineHeldUntilNextCall(t *testing.T) {
	f := newHeldRun(t)
	line, save, email, settle := f.line, f.save, f.email, f.settle
	f.report(0, false, "answered 503: key generation is taking too long; try again")
	upd := f.issueKey()
	var heldEmails int
	var heldDetails string
	f.env.RegisterDelayedCallback(func() {
		heldEmails = len(email.all())
		heldDetails = f.currentDetails()
	}, time.Hour)
	f.report(2*time.Hour, true, "answered 200 with the keys")

	f.run(line)

	requireKeys(t, upd, testKeys(1))
	require.Len(t, save.all(), 1)
	assert.Equal(t, activities.Delivery{Status: "unconfirmed", Reason: "answered 503: key generation is taking too long; try again"}, save.all()[0].delivery)
	assert.Zero(t, heldEmails, "mailed while held")
	assert.Contains(t, heldDetails, "held, not mailed and not activating: answered 503")
	assert.Equal(t, []activities.DeliveryChange{{Line: line.ID(), Status: "confirmed",
		Reason: "the storefront called again and received the keys (answered 200 with the keys)"}}, settle.all())
	assert.Len(t, email.all(), 1)
	assert.Equal(t, []string{workflows.DeliveryUnconfirmed, workflows.DeliveryConfirmed}, f.deliveryValues())
	assert.Equal(t, workflows.Result{Keys: order.Keys(testKeys(1)), EmailStatus: workflows.EmailSent, Delivery: workflows.DeliveryConfirmed}, f.result())
	assert.Empty(t, f.records(), "no support action")
}

// No report comes (the API died after answering): the line is held after
// ReportWithin; support staff confirm it, on the record, and it is mailed.
func TestUnreportedLineConfirmedBySupport(t *testing.T) {
	f := newHeldRun(t)
	line, save, email, settle := f.line, f.save, f.email, f.settle
	f.issueKey()
	early := f.sendUpdate(30*time.Second, workflows.ConfirmPurchaseUpdate, "too-early", workflows.Decision{Actor: "Sam", Reason: "paid"})
	noReason := f.sendUpdate(2*time.Minute, workflows.ConfirmPurchaseUpdate, "no-reason", workflows.Decision{Actor: "Sam"})
	confirm := f.sendUpdate(time.Hour, workflows.ConfirmPurchaseUpdate, "ticket-1", workflows.Decision{Actor: "Sam Support", Reason: "paid, seen in the control panel"})

	f.run(line)

	assert.ErrorContains(t, early.get().rejected, "not held for confirmation", "before the line is held")
	assert.ErrorContains(t, noReason.get().rejected, "say who decides and why")
	got := confirm.get()
	require.True(t, got.accepted, "confirm rejected: %v", got.rejected)
	assert.Equal(t, "purchase confirmed", got.value)
	assert.Equal(t, "unconfirmed", save.all()[0].delivery.Status)
	assert.Contains(t, save.all()[0].delivery.Reason, "no report within 1m0s")
	assert.Equal(t, []activities.DeliveryChange{{Line: line.ID(), Status: "confirmed", Reason: "confirmed by Sam Support: paid, seen in the control panel"}}, settle.all())
	assert.Equal(t, []activities.SupportRecord{{Line: line.ID(), Action: workflows.ConfirmPurchaseUpdate, Actor: "Sam Support",
		Reason: "paid, seen in the control panel", RequestID: "ticket-1"}}, f.records())
	assert.Len(t, email.all(), 1)
	assert.Equal(t, workflows.DeliveryConfirmed, f.result().Delivery)
}

// Support staff cancel a held line: its keys are revoked, nothing is mailed.
func TestHeldLineCancelledBySupport(t *testing.T) {
	f := newHeldRun(t)
	line, email, settle := f.line, f.email, f.settle
	f.issueKey()
	f.report(0, false, "the caller was gone before the keys were ready")
	cancel := f.sendUpdate(time.Hour, workflows.CancelPurchaseUpdate, "ticket-3", workflows.Decision{Actor: "Sam Support", Reason: "no such purchase at MyCommerce"})

	f.run(line)

	assert.Equal(t, "purchase cancelled", cancel.get().value)
	assert.Equal(t, []activities.DeliveryChange{{Line: line.ID(), Status: "cancelled", Reason: "cancelled by Sam Support: no such purchase at MyCommerce"}}, settle.all())
	assert.Equal(t, workflows.CancelPurchaseUpdate, f.records()[0].Action)
	assert.Empty(t, email.all())
	assert.Equal(t, []string{workflows.DeliveryUnconfirmed, workflows.DeliveryCancelled}, f.deliveryValues())
	assert.Equal(t, workflows.EmailSkipped, f.lastEmailStatus())
	assert.Equal(t, workflows.Result{Keys: order.Keys(testKeys(1)), EmailStatus: workflows.EmailSkipped, Delivery: workflows.DeliveryCancelled}, f.result())
}

// A held line nobody settles is cancelled after the provider's days.
func TestHeldLineCancelledAfterDays(t *testing.T) {
	f := newHeldRun(t)
	line, email, settle := f.line, f.email, f.settle
	line.Confirm.CancelAfterDays = 3
	f.issueKey()
	f.report(0, false, "answered 503: key service temporarily unavailable; try again")
	var before []activities.DeliveryChange
	f.env.RegisterDelayedCallback(func() { before = settle.all() }, 3*24*time.Hour-time.Minute)

	f.run(line)

	assert.Empty(t, before, "cancelled before its days")
	assert.Equal(t, []activities.DeliveryChange{{Line: line.ID(), Status: "cancelled", Reason: "cancelled: not confirmed within 3 days"}}, settle.all())
	assert.Empty(t, email.all())
	assert.Empty(t, f.records(), "no person decided")
	assert.Equal(t, workflows.DeliveryCancelled, f.result().Delivery)
}

// A delivered report wins over an undelivered one, whatever their order:
// two concurrent calls, one of which timed out.
func TestDeliveredReportWins(t *testing.T) {
	f := newHeldRun(t)
	line, save, email := f.line, f.save, f.email
	f.issueKey()
	f.report(0, true, "answered 200 with the keys")
	f.report(0, false, "answered 503: key generation is taking too long; try again")

	f.run(line)

	assert.Equal(t, "confirmed", save.all()[0].delivery.Status)
	assert.Len(t, email.all(), 1)
}

// A line with a delivery report is two workflow tasks and no activity task:
// the keys in the first, the save and the email (local activities) in the
// one the report starts.
func TestDeliveredLineTaskKinds(t *testing.T) {
	f := newFixture(t)
	f.mockKeys(testKeys(1))
	f.mockSave(0)
	f.mockEmail(0, emailOK)
	f.issueKey()
	f.report(time.Millisecond, true, "answered 200 with the keys")
	var local, remote []string
	f.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		local = append(local, info.ActivityType.Name)
	})
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		remote = append(remote, info.ActivityType.Name)
	})

	f.run(heldLine())

	assert.Equal(t, []string{"GenerateKeys", "SaveOrder", "SendEmail"}, local, "local activities")
	assert.Empty(t, remote, "activity tasks")
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}

// Postgres down for longer than the local save's ten minutes: the save
// goes on as an activity, and the order is saved and mailed once it is back.
func TestSaveFallsBackToActivity(t *testing.T) {
	f := newFixture(t)
	f.mockKeys(testKeys(1))
	email := f.mockEmail(0, emailOK)
	var mu sync.Mutex
	var localTries, activityTries int
	f.env.OnActivity(f.acts.SaveOrder, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, _ order.Line, _ []order.Key, _ activities.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			if activity.GetInfo(ctx).IsLocalActivity {
				localTries++
				return errors.New("connection refused")
			}
			activityTries++
			if activityTries < 3 {
				return errors.New("connection refused")
			}
			return nil
		})
	f.issueKey()
	f.report(time.Millisecond, true, "answered 200 with the keys")

	f.run(heldLine())

	assert.Greater(t, localTries, 1, "local tries")
	assert.Equal(t, 3, activityTries, "activity tries")
	assert.Len(t, email.all(), 1)
	assert.Equal(t, workflows.EmailSent, f.result().EmailStatus)
}
