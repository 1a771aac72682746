// Package mail sends the license-key email to a buyer: through Resend in
// production, or into a directory of .eml files (Outbox) for offline use, with
// the body rendered from Templates.
//
// Every error a Sender returns is a *Error, so the caller can decide on
// retrying without knowing which Sender it has.
package mail

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Message is one email to one buyer.
type Message struct {
	From    string // "Vendor Sales <sales@vendor.example>"
	To      string // one recipient, "Name <addr>" or a bare address
	ReplyTo string // optional
	Subject string
	Text    string
	HTML    string

	// IdempotencyKey makes a repeated Send of the same message deliver at most
	// once (Resend remembers it for 24 hours). Derive it from the order, never
	// from the attempt, so that a retry after a lost answer is recognised.
	IdempotencyKey string

	// Tags are optional name/value labels that Resend shows in its dashboard
	// and webhooks (ASCII letters, digits, '_' and '-' only).
	Tags map[string]string
}

// Sender delivers a Message and returns the provider's id for it. Sending the
// same Message again with the same IdempotencyKey returns the same id and does
// not deliver a second copy.
type Sender interface {
	Send(ctx context.Context, m Message) (id string, err error)
}

// maxIdempotencyKey is Resend's limit; the Outbox keeps to it too so that a
// message that works offline also works in production.
const maxIdempotencyKey = 256

// validate catches what would make every attempt fail, before anything is
// sent, so the caller sees a permanent error at once.
func (m Message) validate() error {
	var missing []string
	if strings.TrimSpace(m.From) == "" {
		missing = append(missing, "from")
	}
	if strings.TrimSpace(m.To) == "" {
		missing = append(missing, "to")
	}
	if strings.TrimSpace(m.Subject) == "" {
		missing = append(missing, "subject")
	}
	if m.Text == "" && m.HTML == "" {
		missing = append(missing, "text or html")
	}
	// Without a key a retry after a timeout could email the buyer twice.
	if m.IdempotencyKey == "" {
		missing = append(missing, "idempotency key")
	}
	if len(missing) > 0 {
		return permanent("mail: message has no " + strings.Join(missing, ", "))
	}
	if len(m.IdempotencyKey) > maxIdempotencyKey {
		return permanent(fmt.Sprintf("mail: idempotency key longer than %d bytes", maxIdempotencyKey))
	}
	return nil
}

// Error is the only error type a Sender returns. Permanent errors will fail
// the same way on every retry (bad address, bad API key, conflicting
// idempotent request); the others may succeed later, after RetryAfter if the
// provider said how long to wait.
type Error struct {
	Status     int // HTTP status from the provider; 0 = no answer (network, local check, disk)
	Permanent  bool
	RetryAfter time.Duration // 0 = no advice from the provider
	Reason     string        // one line, safe to log and to show: never contains the API key

	err error // the underlying error when there was no HTTP answer, for errors.Is
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("mail: failed with status %d", e.Status)
}

func (e *Error) Unwrap() error { return e.err }

func permanent(reason string) *Error {
	return &Error{Permanent: true, Reason: reason}
}

// oneLine keeps error reasons to a single, bounded line: provider messages
// end up in logs and workflow histories.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const limit = 300
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
