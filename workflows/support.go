package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/activities"
)

// ResendEmailWorkflow mails an order line's keys again, for a buyer whose
// delivered email was lost, on the record. Support staff start it from the
// Temporal UI's start-workflow form (type ResendEmail, task queue keysmith,
// input a ResendRequest) or with `keysmith support resend`.
const ResendEmailWorkflow = "ResendEmail"

// supportRecordVersion marks histories whose support actions are recorded.
const supportRecordVersion = "support-record"

// ResendEmailID is the workflow ID of a resend request: under the line's
// name, so that it sorts with the order; request tells repeated requests
// (the same ID is the same resend, sent once) from new ones.
func ResendEmailID(line, request string) string {
	return ResendEmailWorkflow + ":" + line + "/" + request
}

// ResendRequest is the input of ResendEmail.
type ResendRequest struct {
	// Line is the order line: "shareit:123456-1" (its OrderLine).
	Line string
	// To, when set, replaces the address on record (a corrected one).
	To string
	// Actor is who asks (the staff member's name), Reason why.
	Actor, Reason string
}

// ResendResult is what ResendEmail returns.
type ResendResult struct {
	To      string // where the keys went
	EmailID string // the mail service's message id
}

var recordOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
	Summary:             "record the support action: who, what, why",
}

// ResendEmail loads the stored line, mails its keys to the address on
// record or the corrected one, and records who asked and why. The email's
// idempotency key is the workflow's ID: a retried send mails once.
func ResendEmail(ctx workflow.Context, req ResendRequest) (ResendResult, error) {
	var a *activities.Activities
	if err := checkResend(req); err != nil {
		return ResendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, OrderLine.ValueSet(req.Line)); err != nil {
		return ResendResult{}, err
	}
	var stored activities.StoredLine
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: 10},
		Summary:             "load the stored order line and its keys",
	})
	if err := workflow.ExecuteActivity(lctx, a.LoadOrderLine, req.Line).Get(ctx, &stored); err != nil {
		return ResendResult{}, fmt.Errorf("load %s: %w", req.Line, err)
	}
	to := req.To
	if to == "" {
		to = stored.Line.Customer.Email
	}
	if to == "" {
		return ResendResult{}, temporal.NewNonRetryableApplicationError("the order has no email address on record: give To", "BadRequest", nil)
	}

	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var emailID string
	sctx := workflow.WithActivityOptions(ctx, emailOptions)
	sendErr := workflow.ExecuteActivity(sctx, a.SendEmail, activities.EmailRequest{
		Line: stored.Line, Keys: stored.Keys, To: to, IdempotencyKey: id + "/email",
	}).Get(ctx, &emailID)

	rctx := workflow.WithActivityOptions(ctx, recordOptions)
	if err := workflow.ExecuteActivity(rctx, a.RecordSupportAction, activities.SupportRecord{
		Line: req.Line, Action: "resend-email", Actor: req.Actor, Reason: req.Reason,
		To: to, EmailID: emailID, RequestID: id,
	}).Get(ctx, nil); err != nil {
		return ResendResult{}, err
	}
	if sendErr != nil {
		return ResendResult{}, temporal.NewNonRetryableApplicationError("email failed: "+failureReason(sendErr), "EmailFailed", nil)
	}
	return ResendResult{To: to, EmailID: emailID}, nil
}

func checkResend(req ResendRequest) error {
	if strings.TrimSpace(req.Line) == "" {
		return errors.New(`give the order line: {"Line": "shareit:123456-1", "To": "", "Actor": "your name", "Reason": "why"}`)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return errors.New("say who asks: Actor")
	}
	if req.To != "" && !activities.ValidAddress(req.To) {
		return fmt.Errorf("%q is not an email address", req.To)
	}
	return nil
}

// recordSupport records a support action from an update handler.
func recordSupport(ctx workflow.Context, r activities.SupportRecord) error {
	var a *activities.Activities
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, recordOptions), a.RecordSupportAction, r).Get(ctx, nil)
}

// RevokeLicenseWorkflow revokes (or restores) an order line's keys, on the
// record and in the line's story (OrderLine): a refund or chargeback.
const RevokeLicenseWorkflow = "RevokeLicense"

// RevokeLicenseID is the workflow ID of a revocation request.
func RevokeLicenseID(line, request string) string {
	return RevokeLicenseWorkflow + ":" + line + "/" + request
}

// RevokeRequest is the input of RevokeLicense.
type RevokeRequest struct {
	Line    string // "shareit:123456-1"
	Key     string // one key of the line; "" for every key
	Restore bool   // restore revoked keys instead
	// Actor is who asks, Reason why (refund, chargeback).
	Actor, Reason string
}

// RevokeLicense marks the keys revoked (activation and validation refuse
// them from then on; computer licenses learn it at their next check) or
// restores them, and records who asked and why.
func RevokeLicense(ctx workflow.Context, req RevokeRequest) (int, error) {
	var a *activities.Activities
	if strings.TrimSpace(req.Line) == "" || strings.TrimSpace(req.Actor) == "" {
		return 0, temporal.NewNonRetryableApplicationError(`give the order line and who asks: {"Line": "shareit:123456-1", "Actor": "your name", "Reason": "refund"}`, "BadRequest", nil)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, OrderLine.ValueSet(req.Line)); err != nil {
		return 0, err
	}
	var n int
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: 10},
		Summary:             "mark the keys revoked or restored",
	})
	if err := workflow.ExecuteActivity(actx, a.SetRevoked, activities.RevokeRequest{Line: req.Line, Key: req.Key, Restore: req.Restore}).Get(ctx, &n); err != nil {
		return 0, err
	}
	action := "revoke"
	if req.Restore {
		action = "restore"
	}
	rctx := workflow.WithActivityOptions(ctx, recordOptions)
	if err := workflow.ExecuteActivity(rctx, a.RecordSupportAction, activities.SupportRecord{
		Line: req.Line, Action: action, Actor: req.Actor, Reason: req.Reason,
		RequestID: workflow.GetInfo(ctx).WorkflowExecution.ID,
	}).Get(ctx, nil); err != nil {
		return 0, err
	}
	return n, nil
}

// StartRevoke starts RevokeLicense for req without waiting for it (the
// same request id is the same revocation: one already started or done is
// not started again) and returns its ID.
func StartRevoke(ctx context.Context, c client.Client, taskQueue string, req RevokeRequest, request string) (string, error) {
	id := RevokeLicenseID(req.Line, request)
	_, err := c.ExecuteWorkflow(ctx, revokeOptions(id, taskQueue, req), RevokeLicenseWorkflow, req)
	if _, done := errors.AsType[*serviceerror.WorkflowExecutionAlreadyStarted](err); done {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("start %s: %w", id, err)
	}
	return id, nil
}

func revokeOptions(id, taskQueue string, req RevokeRequest) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(OrderLine.ValueSet(req.Line)),
		StaticSummary:            fmt.Sprintf("%s the keys of %s, asked by %s", map[bool]string{false: "revoke", true: "restore"}[req.Restore], req.Line, req.Actor),
	}
}

// Revoke runs RevokeLicense for req (the same request id is the same
// revocation) and returns how many keys changed and the workflow's ID.
func Revoke(ctx context.Context, c client.Client, taskQueue string, req RevokeRequest, request string) (int, string, error) {
	id := RevokeLicenseID(req.Line, request)
	run, err := c.ExecuteWorkflow(ctx, revokeOptions(id, taskQueue, req), RevokeLicenseWorkflow, req)
	if err != nil {
		return 0, id, fmt.Errorf("start %s: %w", id, err)
	}
	var n int
	if err := run.Get(ctx, &n); err != nil {
		return 0, id, err
	}
	return n, id, nil
}
