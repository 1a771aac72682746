package mail_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/mail"
)

// readEML parses an .eml file the way a mail program would.
func readEML(t *testing.T, path string) (header netmail.Header, parts map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts = map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		body, err := io.ReadAll(p) // multipart undoes the quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	return msg.Header, parts
}

func TestOutboxWritesEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "there", "yet")
	m := testMessage("order/42:license") // a key that is no file name
	m.Subject = "Ihr Lizenzschlüssel für Werkzeug 1.0"
	m.Text = "Hallo Jürgen,\n\nIhr Schlüssel:\n\n    AAAA-BBBB\n\n" + strings.Repeat("lang ", 30) + "\n"
	m.HTML = "<p>Hallo Jürgen,</p><p>AAAA-BBBB</p>"

	id, err := mail.Outbox{Dir: dir}.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || files[0] != filepath.Join(dir, id+".eml") {
		t.Fatalf("files %v, want only %s.eml", files, id)
	}

	h, parts := readEML(t, files[0])
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Vendor Sales" || from[0].Address != "sales@vendor.example" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Jürgen Müller" || to[0].Address != "juergen@buyer.example" {
		t.Errorf("To %v (%v), want Jürgen Müller <juergen@buyer.example>", to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject %q (%v), want %q", subject, err, m.Subject)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@vendor.example>") {
		t.Errorf("Message-ID %q", id)
	}
	if parts["text/plain"] != m.Text {
		t.Errorf("text part %q, want %q", parts["text/plain"], m.Text)
	}
	if parts["text/html"] != m.HTML {
		t.Errorf("html part %q, want %q", parts["text/html"], m.HTML)
	}
}

func TestOutboxRepeatedSendIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	box := mail.Outbox{Dir: dir}
	m := testMessage("order-42-license")

	id1, err := box.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, id1+".eml"))

	id2, err := box.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, id1+".eml"))
	if id1 != id2 || !bytes.Equal(first, again) {
		t.Errorf("second Send: id %q (first %q), file changed: %v", id2, id1, !bytes.Equal(first, again))
	}

	// Keys that sanitise to the same name still get their own files.
	id3, err := box.Send(context.Background(), testMessage("order-42:license"))
	if err != nil {
		t.Fatal(err)
	}
	id4, err := box.Send(context.Background(), testMessage("order-42/license"))
	if err != nil {
		t.Fatal(err)
	}
	if id3 == id1 || id3 == id4 {
		t.Errorf("ids %q, %q, %q should differ", id1, id3, id4)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 3 {
		t.Errorf("%d files in outbox, want 3 (no temporary files left)", len(files))
	}
}

func TestOutboxRejectsBadAddress(t *testing.T) {
	m := testMessage("k")
	m.To = "not an address"
	e := sendErr(t, mail.Outbox{Dir: t.TempDir()}, m)
	if !e.Permanent {
		t.Errorf("got %+v, want a permanent error", e)
	}
}
