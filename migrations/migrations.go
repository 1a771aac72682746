// Package migrations holds the database schema as SQL files, embedded into
// the binary and applied by `keysmith migrate` (and at start-up in dev).
package migrations

import (
	"embed"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// New returns the schema migrations, oldest first.
func New() (*migrate.Migrations, error) {
	m := migrate.NewMigrations()
	if err := m.Discover(files); err != nil {
		return nil, err
	}
	return m, nil
}
