package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ErrNoSeat is returned by Activate when every seat of the key is taken.
var ErrNoSeat = errors.New("no seat left")

// Activation is one computer holding one seat of a key.
type Activation struct {
	bun.BaseModel `bun:"table:activations"`

	ID           int64      `bun:"id,pk,autoincrement"`
	Serial       string     `bun:"serial"`
	ComputerID   string     `bun:"computer_id"`
	ComputerName string     `bun:"computer_name"`
	AppVersion   string     `bun:"app_version"`
	Seat         int        `bun:"seat"`
	ActivatedAt  time.Time  `bun:"activated_at,nullzero,default:now()"`
	ReleasedAt   *time.Time `bun:"released_at"`
}

// Activate gives the computer a seat of the key with this serial and
// seats: the seat it holds already (reused), else the lowest free one, else
// ErrNoSeat. Activations of one key are serialized by a transaction-scoped
// advisory lock on the serial, so that concurrent requests cannot take more
// seats than the key has.
func (s *Store) Activate(ctx context.Context, a *Activation, seats int) (reused bool, err error) {
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "activation/"+a.Serial); err != nil {
			return fmt.Errorf("lock key: %w", err)
		}
		var held Activation
		err := tx.NewSelect().Model(&held).Where("serial = ? AND computer_id = ? AND released_at IS NULL", a.Serial, a.ComputerID).Scan(ctx)
		if err == nil {
			*a, reused = held, true
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("this computer's seat: %w", err)
		}
		var used struct{ N, Max int }
		if err := tx.NewSelect().Model((*Activation)(nil)).ColumnExpr("count(*) AS n, COALESCE(max(seat), 0) AS max").
			Where("serial = ? AND released_at IS NULL", a.Serial).Scan(ctx, &used); err != nil {
			return fmt.Errorf("seats in use: %w", err)
		}
		if used.N >= seats {
			return ErrNoSeat
		}
		a.Seat = used.Max + 1
		if used.N < used.Max || used.Max >= seats {
			// A seat below the highest was released: take the lowest free.
			if err := tx.NewRaw(`SELECT s FROM generate_series(1, ?::int) AS s
				WHERE NOT EXISTS (SELECT 1 FROM activations WHERE serial = ? AND seat = s AND released_at IS NULL)
				ORDER BY s LIMIT 1`, seats, a.Serial).Scan(ctx, &a.Seat); err != nil {
				return fmt.Errorf("free seat: %w", err)
			}
		}
		_, err = tx.NewInsert().Model(a).Returning("id, activated_at").Exec(ctx)
		return err
	})
	return reused, err
}

// Seats tells how many seats of a key are held, and which one computer
// holds (0: none).
func (s *Store) Seats(ctx context.Context, serial, computerID string) (used, seat int, err error) {
	err = s.db.NewSelect().Model((*Activation)(nil)).
		ColumnExpr("count(*), COALESCE(max(seat) FILTER (WHERE computer_id = ?), 0)", computerID).
		Where("serial = ? AND released_at IS NULL", serial).Scan(ctx, &used, &seat)
	if err != nil {
		return 0, 0, fmt.Errorf("seats: %w", err)
	}
	return used, seat, nil
}

// Activations lists the computers holding seats of a key, by seat.
func (s *Store) Activations(ctx context.Context, serial string) ([]Activation, error) {
	var held []Activation
	err := s.db.NewSelect().Model(&held).Where("serial = ? AND released_at IS NULL", serial).Order("seat").Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("activations: %w", err)
	}
	return held, nil
}

// KeyState is what activation needs to know of a stored key.
type KeyState struct {
	Serial  string
	Revoked bool
	// Expires is the key's latest expiry, renewals included; zero: never.
	Expires time.Time
	// Held says the key's purchase waits for its storefront's
	// confirmation (or the text is that of a held or cancelled renewal):
	// it does not activate.
	Held bool
	// Legacy says the text was an imported QLM key; Key is the keysmith
	// key stored for it (the key itself otherwise).
	Legacy bool
	Key    string
	// Line and Seats describe the key as stored, for a short key, whose
	// text carries no claims.
	Line  *OrderRow
	Seats int
}

// KeyState looks a key up by its text (any case, dashes and spaces
// ignored), as issued or as renewed. ErrNotFound when keysmith did not
// issue it.
func (s *Store) KeyState(ctx context.Context, key string) (KeyState, error) {
	row, err := s.FindLineByKey(ctx, key)
	if err != nil {
		return KeyState{}, err
	}
	k := normalizeKey(key)
	st := KeyState{Line: row, Held: row.Held()}
	for _, lk := range row.Keys {
		if normalizeKey(lk.Key) == k || lk.LegacyKey != nil && *lk.LegacyKey == k {
			st.Serial, st.Revoked, st.Seats = lk.Serial, lk.RevokedAt != nil, lk.Seats
			st.Legacy = lk.LegacyKey != nil && *lk.LegacyKey == k
			st.Key = lk.Key
		}
	}
	if row.ExpiresAt != nil {
		st.Expires = *row.ExpiresAt
	}
	renewals, err := s.Renewals(ctx, row.ID)
	if err != nil {
		return KeyState{}, err
	}
	for _, r := range renewals {
		if r.ExpiresAt != nil && r.Delivered() {
			st.Expires = *r.ExpiresAt
		}
	}
	if st.Serial == "" {
		// The text matched a renewal's key: the serials are the original's,
		// in the same order.
		var rk RenewalKey
		if err := s.db.NewSelect().Model(&rk).Where("upper(replace(replace(key, '-', ''), ' ', '')) = ?", k).Limit(1).Scan(ctx); err != nil {
			return KeyState{}, fmt.Errorf("renewed key: %w", err)
		}
		st.Serial, st.Seats = rk.Serial, rk.Seats
		for _, r := range renewals {
			if r.ID == rk.RenewalID && !r.Delivered() {
				st.Held = true
			}
		}
		for _, lk := range row.Keys {
			if lk.Serial == rk.Serial {
				st.Revoked = lk.RevokedAt != nil
			}
		}
	}
	return st, nil
}

// ErrReleaseLimit is returned by Release past the key's allowance.
var ErrReleaseLimit = errors.New("release limit reached")

// Release frees the seat a computer holds, at most limit times per key in
// the period before now (a buyer moving to a new computer, not seat
// sharing). ErrNotFound when the computer holds no seat.
func (s *Store) Release(ctx context.Context, serial, computerID string, limit int, period time.Duration) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "activation/"+serial); err != nil {
			return fmt.Errorf("lock key: %w", err)
		}
		n, err := tx.NewSelect().Model((*Activation)(nil)).
			Where("serial = ? AND released_at > now() - ?::interval", serial, fmt.Sprintf("%d seconds", int(period.Seconds()))).Count(ctx)
		if err != nil {
			return fmt.Errorf("releases: %w", err)
		}
		if n >= limit {
			return ErrReleaseLimit
		}
		res, err := tx.NewUpdate().Model((*Activation)(nil)).Set("released_at = now()").
			Where("serial = ? AND computer_id = ? AND released_at IS NULL", serial, computerID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// SetRevoked revokes (or restores) the keys of an order line: one key,
// named by its text, or every key when key is "". It returns how many keys
// it changed; ErrNotFound when the line, or the key in it, is not stored.
func (s *Store) SetRevoked(ctx context.Context, l Line, key string, revoked bool) (int, error) {
	row, err := s.FindOrderLine(ctx, l)
	if err != nil {
		return 0, err
	}
	q := s.db.NewUpdate().Model((*LicenseKey)(nil)).Where("order_id = ?", row.ID)
	if revoked {
		q = q.Set("revoked_at = COALESCE(revoked_at, now())")
	} else {
		q = q.Set("revoked_at = NULL")
	}
	if key != "" {
		q = q.Where("upper(replace(replace(key, '-', ''), ' ', '')) = ?", normalizeKey(key))
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, ErrNotFound
	}
	return int(n), nil
}

// FindLineBySerial returns the order line that issued the key with this
// serial (hex), with its keys.
func (s *Store) FindLineBySerial(ctx context.Context, serial string) (*OrderRow, error) {
	var orderID int64
	err := s.db.NewSelect().Model((*LicenseKey)(nil)).Column("order_id").Where("serial = ?", serial).Limit(1).Scan(ctx, &orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find serial: %w", err)
	}
	return s.findOrderByID(ctx, orderID)
}
