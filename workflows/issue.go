// Package workflows holds keysmith's Temporal workflows.
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

const (
	// TaskQueue is where the worker listens (KEYSMITH_TASK_QUEUE).
	TaskQueue = "keysmith"
	// IssueKeyUpdate returns the order line's keys as soon as they exist.
	// It is sent with Update-With-Start, so the API can answer the
	// storefront before the order is saved and mailed.
	IssueKeyUpdate = "issue-key"
	// RetryEmailUpdate sends a parked email again, optionally to a
	// corrected address. Support staff send it from the Temporal UI.
	RetryEmailUpdate = "retry-email"
)

// RenewLicense is the name IssueLicense runs under for a renewal.
const RenewLicense = "RenewLicense"

// OrderLine is the search attribute that gathers an order line's
// workflows, its keys and every renewal: OrderLine = "shareit:123456-1"
// (order.Name of the line first sold; no personal data).
var OrderLine = temporal.NewSearchAttributeKeyKeyword("OrderLine")

// Search attributes support staff and auditors filter by, none personal:
// Provider = "shareit", Product = "1 1.0" (id, major.minor), OrderDate
// (a datetime), LicenseModel = "subscription_floating".
var (
	Provider     = temporal.NewSearchAttributeKeyKeyword("Provider")
	Product      = temporal.NewSearchAttributeKeyKeyword("Product")
	OrderDate    = temporal.NewSearchAttributeKeyTime("OrderDate")
	LicenseModel = temporal.NewSearchAttributeKeyKeyword("LicenseModel")
)

// SearchAttributes lists every search attribute keysmith sets, for
// registering them.
func SearchAttributes() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(EmailStatus.ValueSet(""), OrderLine.ValueSet(""), Provider.ValueSet(""),
		Product.ValueSet(""), OrderDate.ValueSet(time.Time{}), LicenseModel.ValueSet(""), Delivery.ValueSet(""))
}

// LineSearchAttributes are a line's search attributes when its workflow
// starts.
func LineSearchAttributes(line order.Line, orderLine string, orderDate time.Time) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		EmailStatus.ValueSet(EmailPending), OrderLine.ValueSet(orderLine), Provider.ValueSet(line.Provider),
		Product.ValueSet(fmt.Sprintf("%d %d.%d", line.Product.ID, line.Product.Major, line.Product.Minor)),
		OrderDate.ValueSet(orderDate), LicenseModel.ValueSet(line.Model))
}

// EmailStatus is the search attribute that lets support staff find orders
// whose email is parked: EmailStatus = "failed".
var EmailStatus = temporal.NewSearchAttributeKeyKeyword("EmailStatus")

// Values of EmailStatus.
const (
	EmailPending = "pending"
	EmailSent    = "sent"
	EmailFailed  = "failed"
	EmailSkipped = "skipped"
)

// IssueLicenseID is the workflow ID of an order line. Update-With-Start uses
// it with conflict policy USE_EXISTING and reuse policy
// ALLOW_DUPLICATE_FAILED_ONLY and the same string as update ID: a repeat
// call, while the workflow runs or after it completed (until the namespace
// retention deletes it), is answered with the first call's keys; a failed
// run is replaced. The API answers from Postgres after that.
func IssueLicenseID(provider, purchaseID, runningNo string) string {
	return "IssueLicense:" + order.Name(provider, purchaseID, runningNo)
}

// LineWorkflow returns the workflow type, ID and OrderLine of a line's
// keys: IssueLicense:<line>, or for a renewal RenewLicense:<original
// line>/<renewal line>, so that a renewal sorts and reads with the line it
// extends. The same string is the issue-key update's ID.
func LineWorkflow(line order.Line) (workflowType, id, orderLine string) {
	if o := line.Renews; o != nil {
		return RenewLicense, RenewLicense + ":" + o.Name() + "/" + line.ID(), o.Name()
	}
	return "IssueLicense", IssueLicenseID(line.Provider, line.PurchaseID, line.RunningNo), line.ID()
}

// KeyGenerationFailed is the error type of an IssueLicense run whose keys
// could not be signed: the issue-key update returns it, and the run fails,
// so that the storefront's next call starts a new one.
const KeyGenerationFailed = "KeyGenerationFailed"

// RetryEmail is the input of RetryEmailUpdate.
type RetryEmail struct {
	// To replaces the buyer's address when not empty.
	To string
	// Actor is who asks (the staff member's name), Reason why: both on
	// the order's record.
	Actor, Reason string
}

// Result is what the workflow returns.
type Result struct {
	Keys        []string
	EmailStatus string
	// Delivery is set when the line was held: DeliveryConfirmed or
	// DeliveryCancelled.
	Delivery string `json:",omitempty"`
}

// issue is the state of one IssueLicense run.
type issue struct {
	keys   []order.Key
	keyErr error // key generation failed

	parked   bool   // the email failed and waits for RetryEmailUpdate
	retried  bool   // RetryEmailUpdate came: send again
	retryTo  string // the address it asked for, "" for the same
	sends    int    // finished send attempts
	lastSend error  // the outcome of the latest one, for RetryEmailUpdate
	lastTo   string // the address of the latest one
	lastID   string // the mail service's message id of the latest sent one

	delivery delivery // the storefront's receipt, for a line with Confirm
}

// activity and key-generation options. Saving retries without limit: the
// database may be down for a while and the order must not be lost. Email
// retries transient failures for about an hour, then parks.
var (
	keyOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// Signing fails only on a bad line or a broken key: give up soon,
		// so that the storefront hears why while it still waits.
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Second, MaximumAttempts: 3},
	}
	saveOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
		Summary:             "save customer, order and keys",
	}
	// A line with a delivery report saves as a local activity, in the
	// workflow task the report starts, with its email after it: two
	// workflow tasks and no activity task per order. After ten minutes of
	// failures (Postgres down) it falls back to the activity above, which
	// retries for as long as it takes.
	saveLocalOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: time.Minute},
		Summary:                "save customer, order and keys",
	}
	emailRetry = &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
		MaximumAttempts:    activities.EmailAttempts,
	}
	// Histories from before emailLocalVersion send as an activity.
	emailOptions = workflow.ActivityOptions{
		// Resend answers in well under a second; a worker that died
		// mid-send is noticed after this long.
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         emailRetry,
		Summary:             "email the keys to the buyer",
	}
	// From emailLocalVersion on, the email is a local activity: it runs in
	// the workflow task that the save's completion starts, which spares the
	// server an activity dispatch and a workflow task per order. A worker
	// that dies mid-send is noticed when that workflow task times out;
	// another worker replays it and sends again, with the same idempotency
	// key.
	emailLocalOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// A local activity's attempts also end at this: room for all of
		// them (about an hour).
		ScheduleToCloseTimeout: 3 * time.Hour,
		RetryPolicy:            emailRetry,
		Summary:                "email the keys to the buyer",
	}
)

// emailLocalVersion marks histories whose emails are local activities.
const emailLocalVersion = "email-local-activity"

// IssueLicense turns one order line into license keys: it generates them
// (answering IssueKeyUpdate), saves customer, order and keys, and emails
// the buyer, parking on a permanent mail failure until RetryEmailUpdate.
func IssueLicense(ctx workflow.Context, line order.Line) (Result, error) {
	var a *activities.Activities
	s := &issue{}

	err := workflow.SetUpdateHandlerWithOptions(ctx, IssueKeyUpdate,
		func(ctx workflow.Context) ([]string, error) {
			if err := workflow.Await(ctx, func() bool { return s.keys != nil || s.keyErr != nil }); err != nil {
				return nil, err
			}
			if s.keyErr != nil {
				return nil, s.keyErr
			}
			return order.Keys(s.keys), nil
		},
		workflow.UpdateHandlerOptions{Description: "Return the order line's license keys once generated."})
	if err != nil {
		return Result{}, err
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, RetryEmailUpdate,
		func(ctx workflow.Context, req RetryEmail) (string, error) {
			// Histories from before support actions were recorded replay
			// without the record.
			record := workflow.GetVersion(ctx, supportRecordVersion, workflow.DefaultVersion, 1) >= 1
			s.parked, s.retried, s.retryTo = false, true, req.To
			sends := s.sends
			if err := workflow.Await(ctx, func() bool { return s.sends > sends }); err != nil {
				return "", err
			}
			if record {
				err := recordSupport(ctx, activities.SupportRecord{
					Line: line.ID(), Action: RetryEmailUpdate, Actor: req.Actor, Reason: req.Reason,
					To: s.lastTo, EmailID: s.lastID, RequestID: workflow.GetCurrentUpdateInfo(ctx).ID,
				})
				if err != nil {
					return "", err
				}
			}
			if s.lastSend != nil {
				return "", s.lastSend
			}
			return "email sent", nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req RetryEmail) error {
				if !s.parked {
					return errors.New("no email is waiting to be retried for this order")
				}
				if req.To != "" && !activities.ValidAddress(req.To) {
					return fmt.Errorf("%q is not an email address", req.To)
				}
				if strings.TrimSpace(req.Actor) == "" {
					return errors.New(`say who asks: {"To": "", "Actor": "your name", "Reason": "why"}`)
				}
				return nil
			},
			Description: `Send the parked email again, on the record. Input: {"To": "", "Actor": "your name", "Reason": "why"}; a "To" address corrects the buyer's.`,
		})
	if err != nil {
		return Result{}, err
	}

	// A line without Confirm (a provider that mails regardless, and every
	// history from before the hold) takes the path it always took: no
	// version marker is needed, the input decides.
	if line.Confirm != nil {
		s.delivery.listen(ctx)
		if err := s.delivery.decisionHandlers(ctx); err != nil {
			return Result{}, err
		}
	}

	if line.OrderDate.IsZero() {
		line.OrderDate = workflow.Now(ctx).UTC()
	}
	lctx := workflow.WithLocalActivityOptions(ctx, keyOptions)
	if err := workflow.ExecuteLocalActivity(lctx, a.GenerateKeys, line).Get(ctx, &s.keys); err != nil {
		s.keyErr = temporal.NewNonRetryableApplicationError(failureReason(err), KeyGenerationFailed, nil)
		// Let the waiting update answer before the run fails.
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return Result{}, err
		}
		return Result{}, s.keyErr
	}

	// The line is saved once the API has reported the answer, so that the
	// stored line says whether it is held.
	var held activities.Delivery
	if line.Confirm != nil {
		if held, err = s.delivery.awaitReport(ctx, line.Confirm); err != nil {
			return Result{}, err
		}
	}
	if err := save(ctx, line, s.keys, held); err != nil {
		return Result{}, fmt.Errorf("save order: %w", err)
	}
	if held.Status == DeliveryUnconfirmed {
		cancelled, err := s.delivery.hold(ctx, line)
		if err != nil {
			return Result{}, err
		}
		if cancelled {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return Result{}, err
			}
			return Result{Keys: order.Keys(s.keys), EmailStatus: EmailSkipped, Delivery: DeliveryCancelled}, nil
		}
	}

	status, err := s.email(ctx, line)
	if err != nil {
		return Result{}, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	return Result{Keys: order.Keys(s.keys), EmailStatus: status, Delivery: s.delivery.settled}, nil
}

// save stores the line: as a local activity for a line with a delivery
// report (falling back to an activity while Postgres stays down), as an
// activity for the others, as they always did.
func save(ctx workflow.Context, line order.Line, keys []order.Key, held activities.Delivery) error {
	var a *activities.Activities
	if line.Confirm != nil {
		lctx := workflow.WithLocalActivityOptions(ctx, saveLocalOptions)
		err := workflow.ExecuteLocalActivity(lctx, a.SaveOrder, line, keys, held).Get(ctx, nil)
		if err == nil {
			return nil
		}
		workflow.GetLogger(ctx).Warn("Saving as a local activity failed for ten minutes; saving as an activity", "error", err)
	}
	sctx := workflow.WithActivityOptions(ctx, saveOptions)
	return workflow.ExecuteActivity(sctx, a.SaveOrder, line, keys, held).Get(ctx, nil)
}

// email sends the keys to the buyer, parking on failure until support staff
// send RetryEmailUpdate.
func (s *issue) email(ctx workflow.Context, line order.Line) (string, error) {
	var a *activities.Activities
	to := line.Customer.Email
	if !line.Email.Send || to == "" {
		return EmailSkipped, setEmailStatus(ctx, EmailSkipped, "")
	}
	// Lines with a delivery report came after emailLocalVersion: they need
	// no marker.
	local := line.Confirm != nil || workflow.GetVersion(ctx, emailLocalVersion, workflow.DefaultVersion, 1) >= 1
	send := func(req activities.EmailRequest) workflow.Future {
		if local {
			return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, emailLocalOptions), a.SendEmail, req)
		}
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, emailOptions), a.SendEmail, req)
	}
	for attempt := 1; ; attempt++ {
		req := activities.EmailRequest{
			Line: line,
			Keys: s.keys,
			To:   to,
			// A new key per support retry: the address or the template may
			// have changed, and Resend rejects a reused key with another body.
			IdempotencyKey: fmt.Sprintf("%s/email/%d", workflow.GetInfo(ctx).WorkflowExecution.ID, attempt),
		}
		var id string
		err := send(req).Get(ctx, &id)
		s.sends++
		s.lastTo, s.lastID = to, id
		if err == nil {
			s.lastSend = nil
			return EmailSent, setEmailStatus(ctx, EmailSent, "")
		}
		failed := "email failed: " + failureReason(err)
		workflow.GetLogger(ctx).Warn("Email parked", "attempt", attempt, "reason", failed)
		s.lastSend = errors.New(failed)
		if err := setEmailStatus(ctx, EmailFailed, failed); err != nil {
			return "", err
		}
		s.parked = true
		if err := workflow.Await(ctx, func() bool { return s.retried }); err != nil {
			return "", err
		}
		s.retried = false
		if s.retryTo != "" {
			to = s.retryTo
		}
	}
}

// setEmailStatus shows the email's state in the search attribute and in the
// workflow's current details, both visible in the Temporal UI.
func setEmailStatus(ctx workflow.Context, status, details string) error {
	workflow.SetCurrentDetails(ctx, details)
	return workflow.UpsertTypedSearchAttributes(ctx, EmailStatus.ValueSet(status))
}

// failureReason is the plain reason of an activity failure.
func failureReason(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out"
	}
	return err.Error()
}
