package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/shareit"
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
	provider, purchaseID, runningNo, err := order.ParseName(name)
	if err != nil {
		return StoredLine{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	row, err := a.Store.FindOrderLine(ctx, provider, purchaseID, runningNo)
	if errors.Is(err, store.ErrNotFound) {
		return StoredLine{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no stored order line %s", name), "NotFound", nil)
	}
	if err != nil {
		return StoredLine{}, err
	}
	features, err := shareit.ParseFeatures(row.Features)
	if err != nil {
		return StoredLine{}, temporal.NewNonRetryableApplicationError("stored features: "+err.Error(), "BadLine", nil)
	}
	line := order.Line{
		Provider: row.Provider, PurchaseID: row.PurchaseID, RunningNo: row.RunningNo, OrderDate: row.OrderDate,
		Product:  order.Product{ID: row.ProductID, Major: row.Major, Minor: row.Minor, Name: row.ProductName},
		Features: features, Quantity: row.Quantity, KeyCount: len(row.Keys), Model: row.LicenseModel,
		Email: order.Email{Send: true, Template: "default"},
	}
	if row.ExpiresAt != nil {
		line.Expires = *row.ExpiresAt
	}
	if row.Maintenance != nil {
		line.Maintenance = *row.Maintenance
	}
	if a.Config != nil {
		if prod, ok := a.Config.Product(row.ProductID, row.Major, row.Minor); ok {
			line.Product.FeatureNames = prod.FeatureNames(features)
			line.Email.Template = prod.EmailTemplate
		}
	}
	if row.CustomerID != nil {
		c, err := a.Store.FindCustomerByID(ctx, *row.CustomerID)
		if err != nil {
			return StoredLine{}, err
		}
		line.Customer = order.Customer{Email: c.Email, Name: c.Name, Company: c.Company}
	}
	keys := make([]order.Key, len(row.Keys))
	for i, k := range row.Keys {
		keys[i] = order.Key{Key: k.Key, Serial: k.Serial, Seats: k.Seats}
		line.Seats = k.Seats
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
	provider, purchaseID, runningNo, err := order.ParseName(r.Line)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	rec := &store.SupportAction{
		Provider: provider, PurchaseID: purchaseID, RunningNo: runningNo,
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
	provider, purchaseID, runningNo, err := order.ParseName(r.Line)
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	n, err := a.Store.SetRevoked(ctx, provider, purchaseID, runningNo, r.Key, !r.Restore)
	if errors.Is(err, store.ErrNotFound) {
		return 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no stored order line %s, or no such key in it", r.Line), "NotFound", nil)
	}
	return n, err
}
