package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// SupportAction is one thing support staff did for an order line.
type SupportAction struct {
	bun.BaseModel `bun:"table:support_actions"`

	ID         int64     `bun:"id,pk,autoincrement"`
	Provider   string    `bun:"provider"`
	PurchaseID string    `bun:"purchase_id"`
	RunningNo  string    `bun:"running_no"`
	Action     string    `bun:"action"` // resend-email, retry-email
	Actor      string    `bun:"actor"`
	Reason     string    `bun:"reason"`
	EmailTo    string    `bun:"email_to"`
	EmailID    *string   `bun:"email_id"`
	WorkflowID string    `bun:"workflow_id"`
	RequestID  string    `bun:"request_id"` // the request's own id: recording it again changes nothing
	CreatedAt  time.Time `bun:"created_at,nullzero,default:now()"`
}

// RecordSupportAction stores a support action once per request id.
func (s *Store) RecordSupportAction(ctx context.Context, a *SupportAction) error {
	_, err := s.db.NewInsert().Model(a).On("CONFLICT (request_id) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("record support action: %w", err)
	}
	return nil
}

// SupportActions lists an order line's support actions, oldest first.
func (s *Store) SupportActions(ctx context.Context, l Line) ([]SupportAction, error) {
	var as []SupportAction
	err := s.db.NewSelect().Model(&as).
		Where("provider = ? AND purchase_id = ? AND running_no = ?", l.Provider, l.PurchaseID, l.RunningNo).
		Order("id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("support actions: %w", err)
	}
	return as, nil
}

// FindOrderLines finds stored order lines by purchase ID (any provider)
// or by the buyer's email address, newest first, with their keys.
func (s *Store) FindOrderLines(ctx context.Context, purchaseID, email string) ([]*OrderRow, error) {
	var rows []*OrderRow
	q := s.db.NewSelect().Model(&rows).
		Relation("Keys", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("position") }).
		Order("o.order_date DESC", "o.id DESC").Limit(100)
	switch {
	case purchaseID != "":
		q = q.Where("o.purchase_id = ?", purchaseID)
	case email != "":
		q = q.Where("o.customer_id IN (SELECT id FROM customers WHERE lower(email) = lower(?))", email)
	default:
		return nil, nil
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("find order lines: %w", err)
	}
	return rows, nil
}
