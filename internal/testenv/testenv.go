// Package testenv gives tests and the load command real dependencies: a
// Postgres database of their own and a Temporal dev server.
package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/keysmith/keysmith/store"
)

// AdminURL is the Postgres server tests create their databases on:
// $KEYSMITH_TEST_DATABASE_URL, else the local server as user postgres.
func AdminURL() string {
	if u := os.Getenv("KEYSMITH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is a migrated database that exists until Drop.
type Database struct {
	URL  string
	DB   *bun.DB
	name string
}

// NewDatabase creates and migrates a database named prefix_<random>.
func NewDatabase(ctx context.Context, prefix string) (*Database, error) {
	name := prefix + "_" + strings.ToLower(rand.Text()[:10])
	if err := admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, err
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	db, err := store.Open(u.String())
	if err != nil {
		return nil, err
	}
	d := &Database{URL: u.String(), DB: db, name: name}
	if _, err := store.Migrate(ctx, db); err != nil {
		d.Drop(ctx) //nolint:errcheck // reporting the migration error
		return nil, err
	}
	return d, nil
}

// Drop closes and drops the database.
func (d *Database) Drop(ctx context.Context) error {
	d.DB.Close()
	return admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)")
}

func admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return fmt.Errorf("connect to postgres (set KEYSMITH_TEST_DATABASE_URL): %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// AllowConnections opens or closes the database to new connections and,
// when closing, ends the open ones: a database outage for one database.
func AllowConnections(ctx context.Context, d *Database, allow bool) error {
	sql := fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", pgx.Identifier{d.name}.Sanitize(), allow)
	if err := admin(ctx, sql); err != nil || allow {
		return err
	}
	return admin(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+d.name+"'")
}
