// Package store keeps customers, orders and license keys in Postgres
// through bun. Every write is idempotent, because the activities that call
// it are retried.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/migrate"

	"github.com/keysmith/keysmith/migrations"
)

// ErrNotFound is returned when an order line has not been stored yet.
var ErrNotFound = errors.New("not found")

// maxConns bounds each process's connections to Postgres.
const maxConns = 10

// connectTimeout applies when the URL sets no connect_timeout.
const connectTimeout = 5 * time.Second

// Open connects to Postgres with pgx as the driver.
func Open(dsn string) (*bun.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		// A Postgres that does not answer must fail a query, not hang it:
		// an order's look-up has a short deadline and falls back.
		cfg.ConnectTimeout = connectTimeout
	}
	sqldb := stdlib.OpenDB(*cfg)
	// Keep as many idle connections as may be open: database/sql keeps two
	// by default, so under concurrent calls every other query would open a
	// new Postgres connection (a backend process) and close it after.
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// migrateLock is the advisory lock key held while migrating. A session
// lock, unlike bun's lock table, waits for a concurrent migrator instead of
// failing, and is released by Postgres if the process dies.
const migrateLock = 0x6b6579736d697468 // "keysmith"

// Migrate applies the embedded migrations that have not run yet and returns
// their names.
func Migrate(ctx context.Context, db *bun.DB) ([]string, error) {
	ms, err := migrations.New()
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(migrateLock)); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(migrateLock)) //nolint:errcheck // the session ends anyway

	m := migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate: init: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var names []string
	for _, mig := range group.Migrations {
		names = append(names, mig.Name)
	}
	return names, nil
}

// Customer is a buyer; the email address is the identity.
type Customer struct {
	bun.BaseModel `bun:"table:customers"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Email     string    `bun:"email"`
	Name      string    `bun:"name"`
	Company   string    `bun:"company"`
	Street    string    `bun:"street"`
	City      string    `bun:"city"`
	Zip       string    `bun:"zip"`
	State     string    `bun:"state"`
	Country   string    `bun:"country"`
	ISOCode   string    `bun:"iso_code"`
	Phone     string    `bun:"phone"`
	CreatedAt time.Time `bun:"created_at,nullzero,default:now()"`
	UpdatedAt time.Time `bun:"updated_at,nullzero,default:now()"`
}

// LineRecord is what an order line and a renewal both store: the
// storefront's call, its workflow and the state of its email.
type LineRecord struct {
	Provider    string            `bun:"provider"`
	PurchaseID  string            `bun:"purchase_id"`
	RunningNo   string            `bun:"running_no"`
	CustomerID  *int64            `bun:"customer_id"`
	ExpiresAt   *time.Time        `bun:"expires_at"`
	Maintenance *time.Time        `bun:"maintenance_until"`
	OrderDate   time.Time         `bun:"order_date"`
	Fields      map[string]string `bun:"fields,type:jsonb"`
	Args        map[string]string `bun:"args,type:jsonb"`
	Warnings    []string          `bun:"warnings,type:jsonb"`
	WorkflowID  string            `bun:"workflow_id"`
	EmailStatus string            `bun:"email_status,nullzero,default:'pending'"`
	EmailID     *string           `bun:"email_id"`
	EmailedAt   *time.Time        `bun:"emailed_at"`
	// Delivery is whether the storefront received the keys: "" (not
	// asked), confirmed, unconfirmed (held) or cancelled; DeliveryReason
	// says how that is known.
	Delivery       string    `bun:"delivery,nullzero"`
	DeliveryReason string    `bun:"delivery_reason,nullzero"`
	CreatedAt      time.Time `bun:"created_at,nullzero,default:now()"`
}

// LineID names the line the record is for.
func (r LineRecord) LineID() Line {
	return Line{Provider: r.Provider, PurchaseID: r.PurchaseID, RunningNo: r.RunningNo}
}

// Held reports whether the line waits for its storefront's confirmation:
// not mailed, its keys not activating.
func (r LineRecord) Held() bool { return r.Delivery == "unconfirmed" }

// Delivered reports whether the line's keys count: the storefront
// received them, or was not asked. A held or cancelled renewal extends
// nothing.
func (r LineRecord) Delivered() bool { return r.Delivery == "" || r.Delivery == "confirmed" }

// OrderRow is one stored order line with everything the storefront sent.
type OrderRow struct {
	bun.BaseModel `bun:"table:orders,alias:o"`

	ID int64 `bun:"id,pk,autoincrement"`
	LineRecord
	ProductID    uint32 `bun:"product_id"`
	Major        uint32 `bun:"major"`
	Minor        uint32 `bun:"minor"`
	ProductName  string `bun:"product_name"`
	Quantity     int    `bun:"quantity"`
	Features     string `bun:"features"`
	LicenseModel string `bun:"license_model"`
	// Subscription is the storefront's id of the subscription the line
	// starts, nil for none.
	Subscription *string `bun:"subscription"`

	Keys []*LicenseKey `bun:"rel:has-many,join:id=order_id"`
}

// LicenseKey is one issued key.
type LicenseKey struct {
	bun.BaseModel `bun:"table:license_keys"`

	ID        int64      `bun:"id,pk,autoincrement"`
	OrderID   int64      `bun:"order_id"`
	Position  int        `bun:"position"`
	Key       string     `bun:"key"`
	Serial    string     `bun:"serial"`
	Seats     int        `bun:"seats"`
	RevokedAt *time.Time `bun:"revoked_at"`
	// LegacyKey is the QLM key an imported key stands for (normalized),
	// LegacyText the same as QLM gave it.
	LegacyKey  *string   `bun:"legacy_key"`
	LegacyText *string   `bun:"legacy_text"`
	CreatedAt  time.Time `bun:"created_at,nullzero,default:now()"`
}

// Store reads and writes customers, order lines and keys.
type Store struct {
	db *bun.DB
}

// New returns a store on an open database.
func New(db *bun.DB) *Store { return &Store{db: db} }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// SaveOrder upserts the customer (when the order has an email address) and
// stores the order line with its keys, in one transaction. Saving the same
// order line again changes nothing: the first save wins.
func (s *Store) SaveOrder(ctx context.Context, c *Customer, o *OrderRow, keys []LicenseKey) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := insertLine(ctx, tx, c, o, keys)
		return err
	})
}

// insertLine upserts the customer and inserts the order line with its
// keys; inserted is false when an earlier attempt stored the line, keys and
// all.
func insertLine(ctx context.Context, tx bun.Tx, c *Customer, o *OrderRow, keys []LicenseKey) (inserted bool, err error) {
	if id, err := upsertCustomer(ctx, tx, c); err != nil {
		return false, err
	} else if id != 0 {
		o.CustomerID = &id
	}
	res, err := tx.NewInsert().Model(o).
		On("CONFLICT (provider, purchase_id, running_no) DO NOTHING").
		Returning("id").
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("insert order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	for i := range keys {
		keys[i].OrderID = o.ID
	}
	if len(keys) > 0 {
		if _, err := tx.NewInsert().Model(&keys).Exec(ctx); err != nil {
			return false, fmt.Errorf("insert keys: %w", err)
		}
	}
	return true, nil
}

// upsertCustomer inserts the customer or updates the one with the same
// email (any case), and returns its id; 0 when there is no email address.
func upsertCustomer(ctx context.Context, tx bun.Tx, c *Customer) (int64, error) {
	if c == nil || c.Email == "" {
		return 0, nil
	}
	// Only non-empty fields replace what a previous order stored.
	_, err := tx.NewInsert().Model(c).
		On("CONFLICT (lower(email)) DO UPDATE").
		Set("name = COALESCE(NULLIF(EXCLUDED.name, ''), customer.name)").
		Set("company = COALESCE(NULLIF(EXCLUDED.company, ''), customer.company)").
		Set("street = COALESCE(NULLIF(EXCLUDED.street, ''), customer.street)").
		Set("city = COALESCE(NULLIF(EXCLUDED.city, ''), customer.city)").
		Set("zip = COALESCE(NULLIF(EXCLUDED.zip, ''), customer.zip)").
		Set("state = COALESCE(NULLIF(EXCLUDED.state, ''), customer.state)").
		Set("country = COALESCE(NULLIF(EXCLUDED.country, ''), customer.country)").
		Set("iso_code = COALESCE(NULLIF(EXCLUDED.iso_code, ''), customer.iso_code)").
		Set("phone = COALESCE(NULLIF(EXCLUDED.phone, ''), customer.phone)").
		Set("updated_at = now()").
		Returning("id").
		Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("upsert customer: %w", err)
	}
	return c.ID, nil
}

// FindOrderLine returns a stored order line with its keys in issue order.
func (s *Store) FindOrderLine(ctx context.Context, l Line) (*OrderRow, error) {
	o := new(OrderRow)
	err := s.db.NewSelect().Model(o).
		Relation("Keys", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("position") }).
		Where("provider = ? AND purchase_id = ? AND running_no = ?", l.Provider, l.PurchaseID, l.RunningNo).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find order %s: %w", l, err)
	}
	return o, nil
}

// SetEmailStatus records what became of the buyer's email, on the order
// line or the renewal stored under that line.
func (s *Store) SetEmailStatus(ctx context.Context, l Line, status, emailID string) error {
	for _, model := range []any{(*OrderRow)(nil), (*RenewalRow)(nil)} {
		q := s.db.NewUpdate().Model(model).
			Set("email_status = ?", status).
			Where("provider = ? AND purchase_id = ? AND running_no = ?", l.Provider, l.PurchaseID, l.RunningNo)
		if emailID != "" {
			q = q.Set("email_id = ?", emailID).Set("emailed_at = now()")
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("set email status: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
	}
	return nil
}

// SetDelivery records whether the storefront received the line's keys, on
// the order line or the renewal stored under that name. A cancelled order
// line's keys are revoked and its email skipped, in the same transaction;
// a cancelled renewal no longer extends its keys.
func (s *Store) SetDelivery(ctx context.Context, l Line, status, reason string) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, model := range []any{(*OrderRow)(nil), (*RenewalRow)(nil)} {
			q := tx.NewUpdate().Model(model).
				Set("delivery = ?", status).Set("delivery_reason = ?", reason).
				Where("provider = ? AND purchase_id = ? AND running_no = ?", l.Provider, l.PurchaseID, l.RunningNo).
				Returning("id")
			if status == "cancelled" {
				q = q.Set("email_status = 'skipped'")
			}
			var ids []int64
			if err := q.Scan(ctx, &ids); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("set delivery of %s: %w", l, err)
			}
			if len(ids) == 0 {
				continue
			}
			if _, isOrder := model.(*OrderRow); isOrder && status == "cancelled" {
				if _, err := tx.NewUpdate().Model((*LicenseKey)(nil)).Set("revoked_at = COALESCE(revoked_at, now())").
					Where("order_id = ?", ids[0]).Exec(ctx); err != nil {
					return fmt.Errorf("revoke the keys of %s: %w", l, err)
				}
			}
			return nil
		}
		return fmt.Errorf("set delivery of %s: %w", l, ErrNotFound)
	})
}

// WorkflowOf returns the workflow ID stored with an order line or a
// renewal.
func (s *Store) WorkflowOf(ctx context.Context, l Line) (string, error) {
	var ids []string
	err := s.db.NewRaw(`SELECT workflow_id FROM orders WHERE provider = ? AND purchase_id = ? AND running_no = ?
		UNION ALL SELECT workflow_id FROM renewals WHERE provider = ? AND purchase_id = ? AND running_no = ?`,
		l.Provider, l.PurchaseID, l.RunningNo, l.Provider, l.PurchaseID, l.RunningNo).Scan(ctx, &ids)
	if err != nil {
		return "", fmt.Errorf("workflow of %s: %w", l, err)
	}
	if len(ids) == 0 {
		return "", ErrNotFound
	}
	return ids[0], nil
}

// CountHeld counts the order lines and renewals held for their
// storefront's confirmation.
func (s *Store) CountHeld(ctx context.Context) (int, error) {
	var n int
	err := s.db.NewRaw("SELECT (SELECT count(*) FROM orders WHERE delivery = 'unconfirmed') + (SELECT count(*) FROM renewals WHERE delivery = 'unconfirmed')").Scan(ctx, &n)
	if err != nil {
		return 0, fmt.Errorf("count held lines: %w", err)
	}
	return n, nil
}

// FindCustomer returns a customer by email, any case.
func (s *Store) FindCustomer(ctx context.Context, email string) (*Customer, error) {
	c := new(Customer)
	err := s.db.NewSelect().Model(c).Where("lower(email) = lower(?)", email).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find customer: %w", err)
	}
	return c, nil
}

// CreateDatabase creates the database the URL names, if it is missing,
// connecting to the server's "postgres" database to do it.
func CreateDatabase(ctx context.Context, url string) error {
	name, conn, err := adminConn(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// DropDatabase drops the database the URL names, ending its connections.
func DropDatabase(ctx context.Context, url string) error {
	name, conn, err := adminConn(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

func adminConn(ctx context.Context, url string) (string, *pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("connect to postgres at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	return name, conn, nil
}

// FindCustomerByID returns a customer by id.
func (s *Store) FindCustomerByID(ctx context.Context, id int64) (*Customer, error) {
	c := new(Customer)
	err := s.db.NewSelect().Model(c).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find customer %d: %w", id, err)
	}
	return c, nil
}
