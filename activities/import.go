package activities

import (
	"context"
	"time"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
)

// ImportedLicense is a license brought over from another licensing system
// (QLM), or keyed by it in forward mode: the order line it becomes, the
// keys it has there (the legacy keys, one per key of the line), whether it
// was revoked, the computers holding its first key's seats, and where it
// came from.
type ImportedLicense struct {
	Line       order.Line
	LegacyKeys []string // as QLM gave them
	Revoked    bool
	Computers  []ImportedComputer
	Source     ImportSource
}

// ImportedComputer holds a seat of an imported license.
type ImportedComputer struct {
	ID, Name    string
	ActivatedAt time.Time // zero: the import's time
}

// ImportSource is where an imported line came from, for its story.
type ImportSource struct {
	System string // "qlm", or "qlm-forward" for a line QLM keyed in forward mode
	File   string // the file's name (forward mode: the QLM server's host)
	SHA256 string // the file's SHA-256, hex
	Row    int    // the row's line number in the file
	Actor  string // who imported it
}

// SaveImport stores an imported license: customer, line, its keysmith key
// with the legacy key beside it, its revoked state, the computers on its
// seats (seat 1, 2, ... in the order given) and the import's record.
func (a *Activities) SaveImport(ctx context.Context, imp ImportedLicense, keys []order.Key) error {
	line := imp.Line
	row := orderRow(ctx, line, Delivery{})
	var revoked *time.Time
	if imp.Revoked {
		now := time.Now().UTC()
		revoked = &now
	}
	rows := make([]store.LicenseKey, len(keys))
	var held []store.Activation
	for i, k := range keys {
		rows[i] = store.LicenseKey{Position: i + 1, Key: k.Key, Serial: k.Serial, Seats: k.Seats, RevokedAt: revoked}
		if i < len(imp.LegacyKeys) {
			text := imp.LegacyKeys[i]
			legacy := store.NormalizeKey(text)
			rows[i].LegacyKey, rows[i].LegacyText = &legacy, &text
		}
		if i == 0 {
			for seat, c := range imp.Computers {
				held = append(held, store.Activation{Serial: k.Serial, ComputerID: c.ID, ComputerName: c.Name, Seat: seat + 1, ActivatedAt: c.ActivatedAt})
			}
		}
	}
	src := imp.Source
	rec := &store.ImportRow{Source: src.System, FileName: src.File, FileSHA256: src.SHA256, RowNumber: src.Row, Actor: src.Actor}
	return a.Store.SaveImport(ctx, customer(line.Customer), row, rows, held, rec)
}
