package storefront

import (
	"unicode"
	"unicode/utf8"

	"github.com/keysmith/keysmith/qlm"
)

// Limits on the identifiers that name an order line.
const (
	MaxPurchaseID = 128
	MaxRunningNo  = 32
)

// CheckID requires a printable identifier (letters, digits, punctuation,
// spaces) of bounded length: it names the order line in the database and,
// escaped, in Temporal.
func CheckID(field, s string, max int) error {
	if s == "" {
		return qlm.BadRequest(field, "missing")
	}
	if len(s) > max {
		return qlm.BadRequest(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return qlm.BadRequest(field, "%s holds a character that is not printable", qlm.Quote(s))
		}
	}
	return nil
}
