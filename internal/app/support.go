package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// Resend starts (or joins: the same request is the same resend) the
// ResendEmail workflow for an order line and waits for its outcome.
// request names the request; "" makes a new one.
func (a *App) Resend(ctx context.Context, req workflows.ResendRequest, request string) (workflows.ResendResult, string, error) {
	if _, err := order.ParseName(req.Line); err != nil {
		return workflows.ResendResult{}, "", err
	}
	if request == "" {
		request = strings.ToLower(rand.Text()[:12])
	}
	id := workflows.ResendEmailID(req.Line, request)
	run, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                a.Env.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.OrderLine.ValueSet(req.Line)),
		StaticSummary:            fmt.Sprintf("resend the keys of %s, asked by %s", req.Line, req.Actor),
	}, workflows.ResendEmailWorkflow, req)
	if err != nil {
		return workflows.ResendResult{}, id, fmt.Errorf("start %s: %w", id, err)
	}
	var res workflows.ResendResult
	if err := run.Get(ctx, &res); err != nil {
		return workflows.ResendResult{}, id, err
	}
	return res, id, nil
}

// Decide settles a held order line (its name, "shareit:123456-1") as
// support staff do from the Temporal UI: update is
// workflows.ConfirmPurchaseUpdate or CancelPurchaseUpdate. It returns the
// workflow's answer and ID.
func (a *App) Decide(ctx context.Context, line, update string, d workflows.Decision) (string, string, error) {
	name, err := order.ParseName(line)
	if err != nil {
		return "", "", err
	}
	id, err := a.Store.WorkflowOf(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("no stored order line %s", line)
	}
	if err != nil {
		return "", "", err
	}
	h, err := a.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: update, Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", id, err
	}
	var answer string
	if err := h.Get(ctx, &answer); err != nil {
		return "", id, err
	}
	return answer, id, nil
}

// Find prints the stored order lines that match a purchase ID, a buyer's
// email address or a license key: keys, email deliveries, renewals,
// support actions and the link to each workflow in the Temporal UI.
func (a *App) Find(ctx context.Context, w io.Writer, purchaseID, email, key string) error {
	var rows []*store.OrderRow
	switch {
	case key != "":
		row, err := a.Store.FindLineByKey(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			break
		} else if err != nil {
			return err
		}
		rows = append(rows, row)
	default:
		var err error
		if rows, err = a.Store.FindOrderLines(ctx, purchaseID, email); err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no order line found")
		return nil
	}
	for _, o := range rows {
		if err := a.printLine(ctx, w, o); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) printLine(ctx context.Context, w io.Writer, o *store.OrderRow) error {
	name := order.Name(o.Provider, o.PurchaseID, o.RunningNo)
	fmt.Fprintf(w, "order line %s  (%s %d.%d, %s, quantity %d, ordered %s)\n", name,
		o.ProductName, o.Major, o.Minor, o.LicenseModel, o.Quantity, o.OrderDate.Format(time.DateOnly))
	if o.CustomerID != nil {
		if c, err := a.Store.FindCustomerByID(ctx, *o.CustomerID); err == nil {
			fmt.Fprintf(w, "  buyer     %s <%s> %s\n", c.Name, c.Email, c.Company)
		}
	}
	if o.ExpiresAt != nil {
		fmt.Fprintf(w, "  expires   %s\n", o.ExpiresAt.Format(time.DateOnly))
	}
	for _, k := range o.Keys {
		fmt.Fprintf(w, "  key %d     %s  (serial %s, %d seats)\n", k.Position, k.Key, k.Serial, k.Seats)
		if k.LegacyKey != nil {
			fmt.Fprintf(w, "  legacy    %s  (the QLM key, checked as this key)\n", *k.LegacyKey)
		}
	}
	if imp, err := a.Store.ImportOf(ctx, o.ID); err == nil {
		fmt.Fprintf(w, "  imported  from %s, file %s (sha256 %.12s) row %d, by %s on %s\n", strings.ToUpper(imp.Source),
			imp.FileName, imp.FileSHA256, imp.RowNumber, imp.Actor, imp.CreatedAt.Format(time.DateOnly))
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	fmt.Fprintf(w, "  email     %s", o.EmailStatus)
	if o.EmailID != nil && o.EmailedAt != nil {
		fmt.Fprintf(w, ", message %s at %s", *o.EmailID, o.EmailedAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if o.Delivery != "" {
		fmt.Fprintf(w, "  delivery  %s: %s\n", o.Delivery, o.DeliveryReason)
	}
	for _, warning := range o.Warnings {
		fmt.Fprintf(w, "  warning   %s\n", warning)
	}
	renewals, err := a.Store.Renewals(ctx, o.ID)
	if err != nil {
		return err
	}
	for _, r := range renewals {
		exp := "-"
		if r.ExpiresAt != nil {
			exp = r.ExpiresAt.Format(time.DateOnly)
		}
		fmt.Fprintf(w, "  renewal   %s by %s-%s, expires %s, email %s\n", r.Kind, r.PurchaseID, r.RunningNo, exp, r.EmailStatus)
	}
	actions, err := a.Store.SupportActions(ctx, o.LineID())
	if err != nil {
		return err
	}
	for _, s := range actions {
		fmt.Fprintf(w, "  support   %s %s by %s", s.CreatedAt.Format(time.RFC3339), s.Action, s.Actor)
		if s.Reason != "" {
			fmt.Fprintf(w, " (%s)", s.Reason)
		}
		if s.EmailTo != "" {
			fmt.Fprintf(w, " to %s", s.EmailTo)
		}
		if s.EmailID != nil {
			fmt.Fprintf(w, ", message %s", *s.EmailID)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  history   %s\n\n", a.WorkflowURL(o.WorkflowID))
	return nil
}

// WorkflowURL is a workflow's page in the Temporal UI (KEYSMITH_UI_URL).
func (a *App) WorkflowURL(id string) string {
	return strings.TrimRight(a.Env.UIURL, "/") + "/namespaces/" + url.PathEscape(a.Namespace) + "/workflows/" + url.PathEscape(id)
}
