package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// StorefrontEvent is a storefront's event keysmith could not act on: a
// refund or cancellation of a line it never keyed.
type StorefrontEvent struct {
	bun.BaseModel `bun:"table:storefront_events"`

	ID           int64     `bun:"id,pk,autoincrement"`
	Provider     string    `bun:"provider"`
	EventID      string    `bun:"event_id"`
	Kind         string    `bun:"kind"`
	Line         string    `bun:"line"` // order.Name of the line it names, when it names one
	Subscription string    `bun:"subscription"`
	Reason       string    `bun:"reason"`
	Problem      string    `bun:"problem"`
	ReceivedAt   time.Time `bun:"received_at,nullzero,default:now()"`
}

// RecordEvent stores an event once: the same event for the same line
// again changes nothing.
func (s *Store) RecordEvent(ctx context.Context, e *StorefrontEvent) error {
	_, err := s.db.NewInsert().Model(e).On("CONFLICT (provider, event_id, line, subscription) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("record storefront event %s: %w", e.EventID, err)
	}
	return nil
}

// Events lists a provider's stored events, oldest first.
func (s *Store) Events(ctx context.Context, provider string) ([]StorefrontEvent, error) {
	var out []StorefrontEvent
	err := s.db.NewSelect().Model(&out).Where("provider = ?", provider).Order("id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("storefront events of %s: %w", provider, err)
	}
	return out, nil
}
