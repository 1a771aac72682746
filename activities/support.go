package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/orderline"
	"github.com/keysmith/keysmith/store"
)

// StoredLine is an order line as Postgres keeps it, ready to be mailed
// again: the line and its keys.
type StoredLine struct {
	Line order.Line
	Keys []order.Key
}

// LoadOrderLine reads a stored order line by its name ("shareit:123456-1")
// for a support action. A line that is not (yet) stored is a non-retryable
// error: support names a line that exists.
func (a *Activities) LoadOrderLine(ctx context.Context, name string) (StoredLine, error) {
	id, err := order.ParseName(name)
	if err != nil {
		return StoredLine{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	row, err := a.Store.FindOrderLine(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return StoredLine{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no stored order line %s", name), "NotFound", nil)
	}
	if err != nil {
		return StoredLine{}, err
	}
	var buyer *store.Customer
	if row.CustomerID != nil {
		if buyer, err = a.Store.FindCustomerByID(ctx, *row.CustomerID); err != nil {
			return StoredLine{}, err
		}
	}
	lines := orderline.Builder{Config: a.Config}
	if a.Templates != nil {
		lines.Templates = a.Templates
	}
	line, keys, err := lines.Stored(row, buyer)
	if err != nil {
		return StoredLine{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadLine", nil)
	}
	return StoredLine{Line: line, Keys: keys}, nil
}

// SupportRecord is a support action to store.
type SupportRecord struct {
	Line      string // order.Name of the line
	Action    string
	Actor     string
	Reason    string
	To        string // the address mailed, when the action mails
	EmailID   string // the mail service's message id, when sent
	RequestID string // the update or workflow that asked: recording again changes nothing
}

// RecordSupportAction stores who did what for an order line, and why.
func (a *Activities) RecordSupportAction(ctx context.Context, r SupportRecord) error {
	id, err := order.ParseName(r.Line)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	rec := &store.SupportAction{
		Provider: id.Provider, PurchaseID: id.PurchaseID, RunningNo: id.RunningNo,
		Action: r.Action, Actor: r.Actor, Reason: r.Reason, EmailTo: r.To,
		WorkflowID: activity.GetInfo(ctx).WorkflowExecution.ID, RequestID: r.RequestID,
	}
	if r.EmailID != "" {
		rec.EmailID = &r.EmailID
	}
	if err := a.Store.RecordSupportAction(ctx, rec); err != nil {
		return err
	}
	a.Metrics.SupportAction(r.Action)
	return nil
}

// RevokeRequest revokes or restores an order line's keys.
type RevokeRequest struct {
	Line    string // order.Name of the line
	Key     string // one key of the line; "" for all of them
	Restore bool   // restore instead of revoke
}

// SetRevoked revokes or restores the keys and returns how many changed.
func (a *Activities) SetRevoked(ctx context.Context, r RevokeRequest) (int, error) {
	id, err := order.ParseName(r.Line)
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	n, err := a.Store.SetRevoked(ctx, id, r.Key, !r.Restore)
	if errors.Is(err, store.ErrNotFound) {
		return 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no stored order line %s, or no such key in it", r.Line), "NotFound", nil)
	}
	return n, err
}
