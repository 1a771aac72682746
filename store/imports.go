package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ImportRow records where an imported order line came from: the system,
// the file (by name and SHA-256), the row and who imported it.
type ImportRow struct {
	bun.BaseModel `bun:"table:imports"`

	ID         int64     `bun:"id,pk,autoincrement"`
	OrderID    int64     `bun:"order_id"`
	Source     string    `bun:"source"` // "qlm"
	FileName   string    `bun:"file_name"`
	FileSHA256 string    `bun:"file_sha256"`
	RowNumber  int       `bun:"row_number"`
	Actor      string    `bun:"actor"`
	CreatedAt  time.Time `bun:"created_at,nullzero,default:now()"`
}

// SaveImport stores an imported license as an order line: the customer,
// the line, its keys (each with its legacy key and revoked state), the
// computers that hold its seats and the import's record, in one
// transaction. Saving it again changes nothing: the first save wins.
func (s *Store) SaveImport(ctx context.Context, c *Customer, o *OrderRow, keys []LicenseKey, held []Activation, imp *ImportRow) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if inserted, err := insertLine(ctx, tx, c, o, keys); err != nil || !inserted {
			return err // nil: stored by an earlier attempt
		}
		if len(held) > 0 {
			if _, err := tx.NewInsert().Model(&held).Exec(ctx); err != nil {
				return fmt.Errorf("insert imported activations: %w", err)
			}
		}
		imp.OrderID = o.ID
		if _, err := tx.NewInsert().Model(imp).Exec(ctx); err != nil {
			return fmt.Errorf("insert import record: %w", err)
		}
		return nil
	})
}

// ImportedLegacyKeys returns, of the given legacy keys (normalized), those
// already stored, with the order line each belongs to.
func (s *Store) ImportedLegacyKeys(ctx context.Context, legacy []string) (map[string]Line, error) {
	out := map[string]Line{}
	if len(legacy) == 0 {
		return out, nil
	}
	var rows []struct {
		LegacyKey  string `bun:"legacy_key"`
		Provider   string `bun:"provider"`
		PurchaseID string `bun:"purchase_id"`
		RunningNo  string `bun:"running_no"`
	}
	err := s.db.NewRaw(`SELECT k.legacy_key, o.provider, o.purchase_id, o.running_no
		FROM license_keys k JOIN orders o ON o.id = k.order_id WHERE k.legacy_key IN (?)`, bun.List(legacy)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("imported legacy keys: %w", err)
	}
	for _, r := range rows {
		out[r.LegacyKey] = Line{Provider: r.Provider, PurchaseID: r.PurchaseID, RunningNo: r.RunningNo}
	}
	return out, nil
}

// ExistingLines returns which of a provider's lines (purchase IDs and
// running numbers) are stored already, as order lines or renewals.
func (s *Store) ExistingLines(ctx context.Context, provider string, lines []Line) (map[Line]bool, error) {
	out := map[Line]bool{}
	if len(lines) == 0 {
		return out, nil
	}
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.PurchaseID
	}
	var rows []Line
	err := s.db.NewRaw(`SELECT purchase_id, running_no FROM orders WHERE provider = ? AND purchase_id IN (?)
		UNION ALL SELECT purchase_id, running_no FROM renewals WHERE provider = ? AND purchase_id IN (?)`,
		provider, bun.List(ids), provider, bun.List(ids)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("existing lines: %w", err)
	}
	for _, r := range rows {
		out[Line{Provider: provider, PurchaseID: r.PurchaseID, RunningNo: r.RunningNo}] = true
	}
	return out, nil
}

// ImportOf returns the import record of an order line; ErrNotFound when the
// line was not imported.
func (s *Store) ImportOf(ctx context.Context, orderID int64) (*ImportRow, error) {
	var imp ImportRow
	err := s.db.NewSelect().Model(&imp).Where("order_id = ?", orderID).Limit(1).Scan(ctx)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("import of order %d: %w", orderID, err)
	}
	return &imp, nil
}

// LegacyKeys returns the legacy keys of a stored line as QLM gave them, in
// order;
// ErrNotFound when the line is not stored or has none.
func (s *Store) LegacyKeys(ctx context.Context, l Line) ([]string, error) {
	var keys []string
	err := s.db.NewRaw(`SELECT k.legacy_text FROM license_keys k JOIN orders o ON o.id = k.order_id
		WHERE o.provider = ? AND o.purchase_id = ? AND o.running_no = ? AND k.legacy_key IS NOT NULL ORDER BY k.position`,
		l.Provider, l.PurchaseID, l.RunningNo).Scan(ctx, &keys)
	if err != nil {
		return nil, fmt.Errorf("legacy keys of %s: %w", l, err)
	}
	if len(keys) == 0 {
		return nil, ErrNotFound
	}
	return keys, nil
}

// CurrentKey is the newest text of the key with this serial on an order
// line: the latest delivered renewal's, else the key as issued.
func (s *Store) CurrentKey(ctx context.Context, row *OrderRow, serial string) (string, error) {
	var keys []string
	err := s.db.NewRaw(`SELECT rk.key FROM renewal_keys rk JOIN renewals r ON r.id = rk.renewal_id
		WHERE r.order_id = ? AND rk.serial = ? AND coalesce(r.delivery, 'confirmed') = 'confirmed'
		ORDER BY r.id DESC LIMIT 1`, row.ID, serial).Scan(ctx, &keys)
	if err != nil {
		return "", fmt.Errorf("current key: %w", err)
	}
	if len(keys) > 0 {
		return keys[0], nil
	}
	for _, k := range row.Keys {
		if k.Serial == serial {
			return k.Key, nil
		}
	}
	return "", ErrNotFound
}

// NormalizeKey is a key as stored for look-ups: upper case, without dashes
// or spaces (QLM stores its keys the same way).
func NormalizeKey(key string) string { return normalizeKey(key) }
