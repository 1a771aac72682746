package license_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/license"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// Vectors are the test vectors every verifier passes (verifiers/): keys of
// both formats, computer licenses and signed answers with what each must
// decode to, and tampered variants that must fail. Made from fixed seeds:
// go test ./license -run TestVectors -update.
type Vectors struct {
	PublicKeys       []VectorKey      `json:"public_keys"`
	Keys             []KeyVector      `json:"keys"`
	ComputerLicenses []ComputerVector `json:"computer_licenses"`
	Answers          []AnswerVector   `json:"answers"`
}

type VectorKey struct {
	ID        uint16 `json:"id"`
	PublicKey string `json:"public_key"` // base64 of 32 bytes
}

// VectorClaims is the decoding every verifier must give.
type VectorClaims struct {
	KeyID       uint16 `json:"key_id"`
	Product     uint32 `json:"product"`
	Major       uint32 `json:"major"`
	Minor       uint32 `json:"minor"`
	Features    []int  `json:"features"` // sets 0-3
	Seats       uint32 `json:"seats"`
	Model       string `json:"model"` // QLM's name: permanent, trial_cloud, ...
	Issued      string `json:"issued"`
	Expires     string `json:"expires"`     // "" never
	Maintenance string `json:"maintenance"` // "" none
	Serial      string `json:"serial"`      // 16 hex digits
}

type KeyVector struct {
	Name   string        `json:"name"`
	Text   string        `json:"text"`
	Valid  bool          `json:"valid"`
	Claims *VectorClaims `json:"claims,omitempty"`
}

type ComputerVector struct {
	Name       string        `json:"name"`
	Text       string        `json:"text"`
	Valid      bool          `json:"valid"`
	Key        *VectorClaims `json:"key,omitempty"`
	ComputerID string        `json:"computer_id,omitempty"`
	Seat       uint32        `json:"seat,omitempty"`
	Issued     string        `json:"issued,omitempty"`
	CheckBy    string        `json:"check_by,omitempty"`
}

type AnswerVector struct {
	Name   string               `json:"name"`
	Signed license.SignedAnswer `json:"signed"`
	Valid  bool                 `json:"valid"`
	Body   string               `json:"body,omitempty"` // the answer's bytes when valid
}

func vectorClaims(c license.Claims) *VectorClaims {
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	return &VectorClaims{KeyID: c.KeyID, Product: c.Product, Major: c.Major, Minor: c.Minor,
		Features: []int{int(c.Features[0]), int(c.Features[1]), int(c.Features[2]), int(c.Features[3])},
		Seats:    c.Seats, Model: license.ModelName(c.Model, c.Binding), Issued: date(c.Issued),
		Expires: date(c.Expires), Maintenance: date(c.Maintenance), Serial: fmt.Sprintf("%016x", c.Serial)}
}

// flip changes one character of a key's text (not a dash) to another of
// the alphabet: what one flipped bit in transit looks like.
func flip(text string, at int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := []byte(text)
	for b[at] == '-' {
		at++
	}
	b[at] = alphabet[(strings.IndexByte(alphabet, b[at])+1)%32]
	return string(b)
}

func makeVectors(t *testing.T) Vectors {
	t.Helper()
	seed := func(b byte) license.SigningKey {
		return license.SigningKey{ID: uint16(b), Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))}
	}
	k1, k2 := seed(1), seed(2)
	v := Vectors{PublicKeys: []VectorKey{
		{ID: 1, PublicKey: base64.StdEncoding.EncodeToString(k1.PublicKey())},
		{ID: 2, PublicKey: base64.StdEncoding.EncodeToString(k2.PublicKey())},
	}}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	claims := []struct {
		name string
		k    license.SigningKey
		c    license.Claims
	}{
		{"permanent, one seat", k1, license.Claims{Product: 1, Major: 1, Features: license.Features{3, 1, 0, 0}, Seats: 1, Issued: day(2026, 11, 26), Serial: 0x0123456789abcdef}},
		{"subscription with expiry and maintenance", k2, license.Claims{Product: 300123, Major: 2, Minor: 4, Features: license.Features{255, 0, 5, 128}, Seats: 5000,
			Model: license.Subscription, Issued: day(2026, 1, 2), Expires: day(2027, 1, 2), Maintenance: day(2026, 7, 1), Serial: 0xfedcba9876543210}},
		{"trial, cloud", k1, license.Claims{Product: 7, Major: 3, Minor: 1, Seats: 3, Model: license.Trial, Binding: license.Cloud, Issued: day(2026, 11, 26), Expires: day(2026, 12, 27), Serial: 42}},
		{"permanent, floating, large ids", k2, license.Claims{Product: 4294967295, Major: 4294967295, Minor: 0, Seats: 4294967295, Binding: license.Floating, Issued: day(2199, 6, 5), Serial: 1}},
	}
	for _, c := range claims {
		text, err := license.Sign(c.k, c.c)
		if err != nil {
			t.Fatal(err)
		}
		c.c.KeyID = c.k.ID
		v.Keys = append(v.Keys, KeyVector{Name: c.name, Text: text, Valid: true, Claims: vectorClaims(c.c)})
		v.Keys = append(v.Keys, KeyVector{Name: c.name + ", typed in lower case with spaces", Text: strings.ToLower(strings.ReplaceAll(text, "-", " ")), Valid: true, Claims: vectorClaims(c.c)})
		v.Keys = append(v.Keys, KeyVector{Name: c.name + ", one character flipped at the start", Text: flip(text, 0)})
		v.Keys = append(v.Keys, KeyVector{Name: c.name + ", one character flipped in the middle", Text: flip(text, len(text)/2)})
		v.Keys = append(v.Keys, KeyVector{Name: c.name + ", one character flipped at the end", Text: flip(text, len(text)-2)})
	}
	other, _ := license.Sign(seed(3), claims[0].c)
	v.Keys = append(v.Keys, KeyVector{Name: "signed by a key not in the ring", Text: other})
	v.Keys = append(v.Keys, KeyVector{Name: "truncated", Text: v.Keys[0].Text[:40]})

	cl := license.ComputerLicense{Key: claims[1].c, ComputerID: "MB-4711 Ω", Seat: 3, Issued: day(2026, 11, 27), CheckBy: day(2026, 12, 27)}
	text, err := license.SignComputer(k1, cl)
	if err != nil {
		t.Fatal(err)
	}
	key := claims[1].c
	key.KeyID = k1.ID // the license's signer
	v.ComputerLicenses = append(v.ComputerLicenses,
		ComputerVector{Name: "seat 3 of 5000", Text: text, Valid: true, Key: vectorClaims(key), ComputerID: cl.ComputerID, Seat: 3, Issued: "2026-11-27", CheckBy: "2026-12-27"},
		ComputerVector{Name: "one character flipped", Text: flip(text, len(text)/3)},
		ComputerVector{Name: "a key is not a computer license", Text: v.Keys[0].Text})

	body := `{"status":"valid","nonce":"nonce-0123456789abcdef","checked_at":"2026-11-27T12:00:00Z","computer_id":"MB-4711","serial":"0123456789abcdef","product":1,"version":"1.0","features":"0:3;1:1","model":"permanent","seats":1,"seats_used":1,"seats_free":0,"seat":1}`
	signed, err := license.SignAnswer(k2, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	tampered := signed
	raw, _ := base64.StdEncoding.DecodeString(signed.Answer)
	raw = bytes.Replace(raw, []byte(`"seats_free":0`), []byte(`"seats_free":9`), 1)
	tampered.Answer = base64.StdEncoding.EncodeToString(raw)
	wrongKey := signed
	wrongKey.KeyID = 1
	v.Answers = append(v.Answers,
		AnswerVector{Name: "valid", Signed: signed, Valid: true, Body: body},
		AnswerVector{Name: "answer changed", Signed: tampered},
		AnswerVector{Name: "claims another key", Signed: wrongKey})
	return v
}

// TestVectors checks the committed vectors against this package (and
// rewrites them with -update): what every other verifier must match.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	ring := license.Keyring{}
	for _, k := range v.PublicKeys {
		pub, _ := base64.StdEncoding.DecodeString(k.PublicKey)
		ring[k.ID] = pub
	}
	for _, k := range v.Keys {
		c, err := ring.Verify(k.Text)
		if (err == nil) != k.Valid {
			t.Errorf("key %q: verify error %v, want valid=%v", k.Name, err, k.Valid)
			continue
		}
		if k.Valid {
			if got, _ := json.Marshal(vectorClaims(c)); string(got) != mustJSON(k.Claims) {
				t.Errorf("key %q: claims %s, want %s", k.Name, got, mustJSON(k.Claims))
			}
		}
	}
	for _, c := range v.ComputerLicenses {
		lic, err := ring.VerifyComputer(c.Text)
		if (err == nil) != c.Valid {
			t.Errorf("computer license %q: %v, want valid=%v", c.Name, err, c.Valid)
			continue
		}
		if c.Valid && (mustJSON(vectorClaims(lic.Key)) != mustJSON(c.Key) || lic.ComputerID != c.ComputerID || lic.Seat != c.Seat ||
			lic.Issued.Format(time.DateOnly) != c.Issued || lic.CheckBy.Format(time.DateOnly) != c.CheckBy) {
			t.Errorf("computer license %q: %+v", c.Name, lic)
		}
	}
	for _, a := range v.Answers {
		body, err := ring.VerifyAnswer(a.Signed)
		if (err == nil) != a.Valid || (a.Valid && string(body) != a.Body) {
			t.Errorf("answer %q: %q %v, want valid=%v", a.Name, body, err, a.Valid)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
