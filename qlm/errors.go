package qlm

import (
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// BadRequestError reports a call that cannot be served as sent. Its text is a
// single plain line that can go back to ShareIt as the response body and into
// logs, so it never carries credentials, e-mail addresses or long input.
type BadRequestError struct {
	Status  int    // http.StatusBadRequest, or 413/415 for an unusable body
	Field   string // the argument or order field at fault, e.g. "is_features"
	Problem string // what is wrong with it, e.g. "set 5 out of range 0-3"
}

// Reason is the one-line text to answer with, e.g. "is_features: set 5 out of range 0-3".
func (e *BadRequestError) Reason() string { return e.Field + ": " + e.Problem }

func (e *BadRequestError) Error() string { return e.Reason() }

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// latin decodes Windows-1252, which maps every byte to a character.
func Latin(s string) string {
	s, _ = charmap.Windows1252.NewDecoder().String(s)
	return s
}

func BadRequest(field, format string, a ...any) *BadRequestError {
	return &BadRequestError{Status: http.StatusBadRequest, Field: field, Problem: fmt.Sprintf(format, a...)}
}

// maxQuoted bounds how much of a bad value is echoed back: enough to see the
// mistake, not enough to turn an error message into a copy of the request.
const maxQuoted = 32

// quote renders an offending value for an error message. strconv.Quote keeps
// the message on one line whatever bytes the value holds.
func Quote(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// label names a field in an error message: as sent when it is short,
// printable ASCII, quoted otherwise, because unknown field names are input too.
func Label(name string) string {
	if name == "" || len(name) > 64 {
		return Quote(name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return Quote(name)
		}
	}
	return name
}
