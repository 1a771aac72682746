package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/keysmith/keysmith/order"
)

// RenewalRow is one stored renewal: a later purchase that extended an
// order line's subscription or maintenance plan.
type RenewalRow struct {
	bun.BaseModel `bun:"table:renewals"`

	ID      int64  `bun:"id,pk,autoincrement"`
	OrderID int64  `bun:"order_id"`
	Kind    string `bun:"kind"` // subscription or maintenance
	LineRecord

	Keys []*RenewalKey `bun:"rel:has-many,join:id=renewal_id"`
}

// RenewalKey is one re-signed key of a renewal.
type RenewalKey struct {
	bun.BaseModel `bun:"table:renewal_keys"`

	ID        int64     `bun:"id,pk,autoincrement"`
	RenewalID int64     `bun:"renewal_id"`
	Position  int       `bun:"position"`
	Key       string    `bun:"key"`
	Serial    string    `bun:"serial"`
	Seats     int       `bun:"seats"`
	CreatedAt time.Time `bun:"created_at,nullzero,default:now()"`
}

// SaveRenewal upserts the customer and stores the renewal with its keys,
// linked to the original order line (r.OrderID is looked up from
// original), in one transaction. Saving it again changes nothing.
func (s *Store) SaveRenewal(ctx context.Context, c *Customer, original Line, r *RenewalRow, keys []RenewalKey) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model((*OrderRow)(nil)).Column("id").
			Where("provider = ? AND purchase_id = ? AND running_no = ?", original.Provider, original.PurchaseID, original.RunningNo).
			Scan(ctx, &r.OrderID); err != nil {
			return fmt.Errorf("find renewed order %s: %w", original, err)
		}
		if id, err := upsertCustomer(ctx, tx, c); err != nil {
			return err
		} else if id != 0 {
			r.CustomerID = &id
		}
		res, err := tx.NewInsert().Model(r).
			On("CONFLICT (provider, purchase_id, running_no) DO NOTHING").
			Returning("id").
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("insert renewal: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // stored by an earlier attempt
		}
		for i := range keys {
			keys[i].RenewalID = r.ID
		}
		if len(keys) > 0 {
			if _, err := tx.NewInsert().Model(&keys).Exec(ctx); err != nil {
				return fmt.Errorf("insert renewal keys: %w", err)
			}
		}
		return nil
	})
}

// Line names an order line at its storefront.
type Line = order.LineID

// FindRenewalLine returns a stored renewal by its own line, keys in order.
func (s *Store) FindRenewalLine(ctx context.Context, l Line) (*RenewalRow, error) {
	r := new(RenewalRow)
	err := s.db.NewSelect().Model(r).
		Relation("Keys", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("position") }).
		Where("provider = ? AND purchase_id = ? AND running_no = ?", l.Provider, l.PurchaseID, l.RunningNo).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find renewal %s: %w", l, err)
	}
	return r, nil
}

// FindLineByKey returns the order line that issued key, directly or
// through one of its renewals, with its keys. Case, dashes and spaces do
// not matter, as people copy keys.
func (s *Store) FindLineByKey(ctx context.Context, key string) (*OrderRow, error) {
	k := normalizeKey(key)
	var orderID int64
	err := s.db.NewRaw(`
		SELECT order_id FROM license_keys WHERE upper(replace(replace(key, '-', ''), ' ', '')) = ?
		UNION ALL
		SELECT r.order_id FROM renewal_keys rk JOIN renewals r ON r.id = rk.renewal_id
		 WHERE upper(replace(replace(rk.key, '-', ''), ' ', '')) = ?
		UNION ALL
		SELECT order_id FROM license_keys WHERE legacy_key = ?
		LIMIT 1`, k, k, k).Scan(ctx, &orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find key: %w", err)
	}
	return s.findOrderByID(ctx, orderID)
}

func normalizeKey(key string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "", "\t", "", "\r", "", "\n", "").Replace(key))
}

// FindLatestLine returns the buyer's most recent order line for a product
// at a provider: what a maintenance plan bought on its own renews.
func (s *Store) FindLatestLine(ctx context.Context, provider, email string, productID uint32) (*OrderRow, error) {
	var orderID int64
	err := s.db.NewSelect().Model((*OrderRow)(nil)).Column("o.id").
		Join("JOIN customers AS c ON c.id = o.customer_id").
		Where("o.provider = ? AND lower(c.email) = lower(?) AND o.product_id = ?", provider, email, productID).
		Order("o.order_date DESC", "o.id DESC").Limit(1).
		Scan(ctx, &orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find latest line: %w", err)
	}
	return s.findOrderByID(ctx, orderID)
}

// FindLineBySubscription returns the latest order line of provider that
// started the storefront's subscription, keys in order.
func (s *Store) FindLineBySubscription(ctx context.Context, provider, subscription string) (*OrderRow, error) {
	o := new(OrderRow)
	err := s.db.NewSelect().Model(o).
		Relation("Keys", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("position") }).
		Where("o.provider = ? AND o.subscription = ?", provider, subscription).
		Order("o.order_date DESC", "o.id DESC").Limit(1).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find subscription %s of %s: %w", subscription, provider, err)
	}
	return o, nil
}

// Renewals lists an order line's renewals, oldest first, without keys.
func (s *Store) Renewals(ctx context.Context, orderID int64) ([]RenewalRow, error) {
	var rs []RenewalRow
	if err := s.db.NewSelect().Model(&rs).Where("order_id = ?", orderID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("renewals of order %d: %w", orderID, err)
	}
	return rs, nil
}

func (s *Store) findOrderByID(ctx context.Context, id int64) (*OrderRow, error) {
	o := new(OrderRow)
	err := s.db.NewSelect().Model(o).
		Relation("Keys", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("position") }).
		Where("o.id = ?", id).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find order %d: %w", id, err)
	}
	return o, nil
}

// LineKeys returns the keys stored for a line at its storefront, in order
// (an order line's or a renewal's: a line is one or the other; a line
// keyed by QLM, in forward mode or imported, answers QLM's keys), and the
// line's Delivery.
func (s *Store) LineKeys(ctx context.Context, l Line) (keys []string, delivery string, err error) {
	var rows []struct {
		Key      string `bun:"key"`
		Delivery string `bun:"delivery"`
	}
	err = s.db.NewRaw(`
		SELECT key, delivery FROM (
			SELECT coalesce(k.legacy_text, k.key) AS key, k.position, coalesce(o.delivery, '') AS delivery FROM license_keys k JOIN orders o ON o.id = k.order_id
			 WHERE o.provider = ? AND o.purchase_id = ? AND o.running_no = ?
			UNION ALL
			SELECT k.key, k.position, coalesce(r.delivery, '') FROM renewal_keys k JOIN renewals r ON r.id = k.renewal_id
			 WHERE r.provider = ? AND r.purchase_id = ? AND r.running_no = ?
		) AS line ORDER BY position`,
		l.Provider, l.PurchaseID, l.RunningNo, l.Provider, l.PurchaseID, l.RunningNo).Scan(ctx, &rows)
	if err != nil {
		return nil, "", fmt.Errorf("keys of %s: %w", l, err)
	}
	if len(rows) == 0 {
		return nil, "", ErrNotFound
	}
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	return keys, rows[0].Delivery, nil
}
