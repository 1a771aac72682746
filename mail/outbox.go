package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var _ Sender = Outbox{}

// Outbox is a Sender for development and offline use: each message becomes
// one RFC 5322 .eml file in Dir, which any mail program opens. Nothing leaves
// the machine.
type Outbox struct {
	Dir string // created when missing
}

// Send writes m to Dir and returns the file's name without ".eml" as its id.
// The name comes from the idempotency key, so sending again with the same key
// leaves the first file alone and returns the same id, like Resend does.
// Unlike Resend it does not compare the contents: a changed message under a
// used key is not written and not reported.
func (o Outbox) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", &Error{Reason: "outbox: " + err.Error(), err: err}
	}
	from, err := netmail.ParseAddress(m.From)
	if err != nil {
		return "", permanent(oneLine(fmt.Sprintf("outbox: from %q: %v", m.From, err)))
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return "", permanent(oneLine(fmt.Sprintf("outbox: to %q: %v", m.To, err)))
	}
	var replyTo *netmail.Address
	if m.ReplyTo != "" {
		if replyTo, err = netmail.ParseAddress(m.ReplyTo); err != nil {
			return "", permanent(oneLine(fmt.Sprintf("outbox: reply-to %q: %v", m.ReplyTo, err)))
		}
	}

	id := outboxID(m.IdempotencyKey)
	path := filepath.Join(o.Dir, id+".eml")
	if _, err := os.Stat(path); err == nil {
		return id, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", ioError(err)
	}

	eml, err := buildEML(m, id, from, to, replyTo, time.Now())
	if err != nil {
		return "", ioError(err)
	}
	if err := writeAtomic(o.Dir, path, eml); err != nil {
		return "", ioError(err)
	}
	return id, nil
}

// ioError marks disk trouble as transient: a full disk or a missing
// permission may be fixed while the caller retries.
func ioError(err error) *Error {
	return &Error{Reason: oneLine("outbox: " + err.Error()), err: err}
}

// outboxID makes a file name from the idempotency key. Keys may contain
// anything ("order/42:mail"), so unusual characters become '_'; the hash of
// the raw key keeps keys apart that become equal that way.
func outboxID(key string) string {
	safe := []byte(key)
	for i, c := range safe {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			safe[i] = '_'
		}
	}
	if len(safe) > 100 {
		safe = safe[:100]
	}
	sum := sha256.Sum256([]byte(key))
	return string(safe) + "-" + hex.EncodeToString(sum[:6])
}

// buildEML renders m as a multipart/alternative message: text first, HTML
// last, because mail programs show the last part they understand.
func buildEML(m Message, id string, from, to, replyTo *netmail.Address, now time.Time) ([]byte, error) {
	var body bytes.Buffer
	parts := multipart.NewWriter(&body)
	for _, p := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		if p.content == "" {
			continue
		}
		w, err := parts.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(p.content)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := parts.Close(); err != nil {
		return nil, err
	}

	// The Message-ID's domain is the sender's, as a real mail server would
	// choose; id contains only characters allowed on its left side.
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]

	var eml bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&eml, "%s: %s\r\n", name, value) }
	// Address.String encodes non-ASCII display names as RFC 2047 words.
	header("From", from.String())
	header("To", to.String())
	if replyTo != nil {
		header("Reply-To", replyTo.String())
	}
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": parts.Boundary()}))
	eml.WriteString("\r\n")
	eml.Write(body.Bytes())
	return eml.Bytes(), nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename, so a reader (or a crash) never sees half a message.
// Two concurrent sends with the same key both rename; the second replaces an
// equivalent message, which is harmless.
func writeAtomic(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	// CreateTemp makes the file readable by its owner only, which suits
	// messages that carry license keys.
	f, err := os.CreateTemp(dir, ".tmp-*.eml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
