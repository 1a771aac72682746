package license

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testKey returns a fixed signing key, so that failures and fuzz corpora
// are reproducible.
func testKey(id uint16) SigningKey {
	seed := bytes.Repeat([]byte{byte(id), byte(id >> 8), 0x5a}, ed25519.SeedSize)[:ed25519.SeedSize]
	return SigningKey{ID: id, Private: ed25519.NewKeyFromSeed(seed)}
}

func date(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

func sampleClaims() Claims {
	return Claims{
		Product:     300123,
		Major:       2,
		Minor:       1,
		Features:    Features{3, 1, 0, 0},
		Seats:       5,
		Model:       Subscription,
		Binding:     Floating,
		Issued:      date(2026, time.March, 1),
		Expires:     date(2027, time.March, 1),
		Maintenance: date(2027, time.March, 1),
		Serial:      0x1234567890abcdef,
	}
}

func mustSign(t testing.TB, k SigningKey, c Claims) string {
	t.Helper()
	s, err := Sign(k, c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return s
}

// signPayload signs arbitrary payload bytes, to build keys that Sign
// would refuse to make.
func signPayload(k SigningKey, payload []byte) string {
	return encode(append(payload, ed25519.Sign(k.Private, payload)...))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		keyID  uint16
		claims Claims
	}{
		{"typical", 1, sampleClaims()},
		{"minimal", 0, Claims{Seats: 1, Issued: date(2020, time.January, 1)}},
		{"trial", 7, Claims{
			Product: 1, Major: 1, Seats: 1, Model: Trial,
			Issued: date(2025, time.June, 30), Expires: date(2025, time.July, 30),
		}},
		{"permanent cloud with maintenance", 1, Claims{
			Product: 1, Major: 3, Seats: 2, Model: Permanent, Binding: Cloud,
			Issued: date(2026, time.March, 1), Maintenance: date(2027, time.March, 1),
		}},
		{"trial floating", 1, Claims{
			Product: 1, Major: 1, Seats: 10, Model: Trial, Binding: Floating,
			Issued: date(2026, time.March, 1), Expires: date(2026, time.April, 1),
		}},
		{"maintenance ends on issue day", 1, Claims{
			Product: 1, Seats: 1, Issued: date(2026, time.March, 1), Maintenance: date(2026, time.March, 1),
		}},
		{"maintenance ends on day 1", 1, Claims{
			Product: 1, Seats: 1, Issued: epoch, Maintenance: epoch.AddDate(0, 0, 1),
		}},
		{"maintenance after expiry", 1, Claims{
			Product: 1, Seats: 1, Model: Subscription,
			Issued: date(2026, time.March, 1), Expires: date(2026, time.April, 1), Maintenance: date(2028, time.March, 1),
		}},
		{"maximum values", math.MaxUint16, maxClaims()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey(tt.keyID)
			key := mustSign(t, k, tt.claims)
			got, err := Keyring{tt.keyID: k.PublicKey()}.Verify(key)
			if err != nil {
				t.Fatalf("Verify(%s): %v", key, err)
			}
			want := tt.claims
			want.KeyID = tt.keyID
			if got != want {
				t.Errorf("Verify = %+v\nwant %+v", got, want)
			}
		})
	}
}

// maxClaims returns the claims that make the longest key.
func maxClaims() Claims {
	return Claims{
		Product: math.MaxUint32, Major: math.MaxUint32, Minor: math.MaxUint32,
		Features: Features{255, 255, 255, 255}, Seats: math.MaxUint32, Model: Subscription, Binding: Cloud,
		Issued: epoch.AddDate(0, 0, maxDay-1), Expires: epoch.AddDate(0, 0, maxDay), Maintenance: epoch.AddDate(0, 0, maxDay),
		Serial: math.MaxUint64,
	}
}

func TestKeyText(t *testing.T) {
	// The lengths are in the package documentation and maxKeyText's comment.
	key := mustSign(t, testKey(1), sampleClaims())
	if len(key) != 177 {
		t.Errorf("typical key is %d characters, want 177: %s", len(key), key)
	}
	if longest := mustSign(t, testKey(math.MaxUint16), maxClaims()); len(longest) != 213 {
		t.Errorf("longest key is %d characters, want 213: %s", len(longest), longest)
	}
	for i, group := range strings.Split(key, "-") {
		if len(group) > groupSize || len(group) == 0 {
			t.Errorf("group %d is %q", i, group)
		}
		if strings.Trim(group, alphabet) != "" {
			t.Errorf("group %d has characters outside the alphabet: %q", i, group)
		}
	}
}

func TestSignIsDeterministic(t *testing.T) {
	k := testKey(1)
	if a, b := mustSign(t, k, sampleClaims()), mustSign(t, k, sampleClaims()); a != b {
		t.Errorf("signing twice gave\n%s\n%s", a, b)
	}
}

func TestSignIgnoresClaimsKeyID(t *testing.T) {
	k := testKey(1)
	c := sampleClaims()
	c.KeyID = 99
	got, err := Keyring{1: k.PublicKey()}.Verify(mustSign(t, k, c))
	if err != nil || got.KeyID != 1 {
		t.Errorf("Verify = key id %d, %v; want 1, nil", got.KeyID, err)
	}
}

func TestSignRoundsDates(t *testing.T) {
	k := testKey(1)
	c := sampleClaims()
	c.Issued = time.Date(2026, time.March, 1, 23, 30, 0, 0, time.UTC)
	c.Expires = time.Date(2026, time.March, 31, 0, 0, 0, 1, time.UTC)
	c.Maintenance = time.Date(2026, time.March, 1, 23, 30, 0, 0, time.UTC) // the day of issue, but later
	got, err := Keyring{1: k.PublicKey()}.Verify(mustSign(t, k, c))
	if err != nil {
		t.Fatal(err)
	}
	if want := date(2026, time.March, 1); !got.Issued.Equal(want) {
		t.Errorf("Issued = %v, want %v", got.Issued, want)
	}
	if want := date(2026, time.April, 1); !got.Expires.Equal(want) {
		t.Errorf("Expires = %v, want %v", got.Expires, want)
	}
	if want := date(2026, time.March, 2); !got.Maintenance.Equal(want) {
		t.Errorf("Maintenance = %v, want %v", got.Maintenance, want)
	}
	for _, d := range []time.Time{got.Issued, got.Expires, got.Maintenance} {
		if d.Location() != time.UTC {
			t.Errorf("date %v is not in UTC", d)
		}
	}
}

func TestSignRejectsInvalidClaims(t *testing.T) {
	valid := sampleClaims()
	tests := []struct {
		name   string
		change func(*Claims)
	}{
		{"no seats", func(c *Claims) { c.Seats = 0 }},
		{"unknown model", func(c *Claims) { c.Model = 3 }},
		{"unknown binding", func(c *Claims) { c.Binding = 3 }},
		{"no issue date", func(c *Claims) { c.Issued = time.Time{} }},
		{"issued before 2020", func(c *Claims) { c.Issued = date(2019, time.December, 31) }},
		{"issued too late", func(c *Claims) { c.Issued = date(2300, time.January, 1); c.Expires = time.Time{} }},
		{"expires too late", func(c *Claims) { c.Expires = date(2300, time.January, 1) }},
		{"expires on issue", func(c *Claims) { c.Expires = c.Issued }},
		{"expires before issue", func(c *Claims) { c.Expires = c.Issued.Add(-time.Hour) }},
		{"maintenance too late", func(c *Claims) { c.Maintenance = date(2300, time.January, 1) }},
		{"maintenance before issue", func(c *Claims) { c.Maintenance = c.Issued.Add(-time.Nanosecond) }},
		{"maintenance a day before issue", func(c *Claims) { c.Maintenance = c.Issued.AddDate(0, 0, -1) }},
		{"maintenance before 2020", func(c *Claims) { c.Maintenance = date(2019, time.December, 31) }},
		// Day 0 would read back as no plan.
		{"maintenance at the epoch", func(c *Claims) { c.Issued, c.Expires, c.Maintenance = epoch, time.Time{}, epoch }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			if key, err := Sign(testKey(1), c); err == nil {
				t.Errorf("Sign(%+v) = %s, want error", c, key)
			}
		})
	}
}

func TestSignRejectsInvalidKey(t *testing.T) {
	for _, k := range []SigningKey{{}, {ID: 1, Private: make([]byte, 10)}} {
		if _, err := Sign(k, sampleClaims()); err == nil {
			t.Errorf("Sign with %d-byte private key succeeded", len(k.Private))
		}
	}
}

func TestTamperedKeyFails(t *testing.T) {
	k := testKey(1)
	ring := Keyring{1: k.PublicKey(), 0: testKey(0).PublicKey(), 3: testKey(3).PublicKey()}
	raw, err := decode(mustSign(t, k, sampleClaims()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(raw)
			tampered[i] ^= flip
			_, err := ring.Verify(encode(tampered))
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrBadSignature) {
				t.Errorf("byte %d ^ %#x: Verify error = %v, want a sentinel error", i, flip, err)
			}
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	key := mustSign(t, testKey(1), sampleClaims())
	other, err := GenerateSigningKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Keyring{1: other.PublicKey()}).Verify(key); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify with another key: %v, want ErrBadSignature", err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	key := mustSign(t, testKey(2), sampleClaims())
	rings := map[string]Keyring{
		"other id":      {1: testKey(1).PublicKey()},
		"empty":         {},
		"nil":           nil,
		"short key":     {2: make(ed25519.PublicKey, 5)},
		"nil key entry": {2: nil},
	}
	for name, ring := range rings {
		if _, err := ring.Verify(key); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: Verify = %v, want ErrUnknownKey", name, err)
		}
	}
}

func TestMalformedKeys(t *testing.T) {
	k := testKey(1)
	ring := Keyring{1: k.PublicKey()}
	valid := mustSign(t, k, sampleClaims())
	payload, err := sampleClaims().marshal(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	// withByte returns payload with byte i replaced, for the one-byte fields.
	withByte := func(i int, b byte) []byte {
		p := bytes.Clone(payload)
		p[i] = b
		return p
	}
	const (
		modelOffset       = 1 + 1 + 3 + 1 + 1 + 4 + 1 // version, key id, product, major, minor, features, seats
		bindingOffset     = modelOffset + 1
		issuedOffset      = bindingOffset + 1 // the sample's dates take two bytes each
		expiresOffset     = issuedOffset + 2
		maintenanceOffset = expiresOffset + 2
	)
	sample := sampleClaims()
	for off, want := range map[int]time.Time{issuedOffset: sample.Issued, expiresOffset: sample.Expires, maintenanceOffset: sample.Maintenance} {
		if d, n := binary.Uvarint(payload[off:]); n != 2 || !dayDate(d).Equal(want) {
			t.Fatalf("date offset %d is wrong: payload %x", off, payload)
		}
	}
	if payload[modelOffset] != byte(sample.Model) || payload[bindingOffset] != byte(sample.Binding) {
		t.Fatalf("modelOffset is wrong: payload %x", payload)
	}
	seatsOffset := modelOffset - 1
	issued, _ := binary.Uvarint(payload[issuedOffset:])
	// withDay returns payload with the two-byte date at off replaced by day.
	withDay := func(off int, day uint64) []byte {
		p := binary.AppendUvarint(bytes.Clone(payload[:off]), day)
		return append(p, payload[off+2:]...)
	}
	// The last character carries bits beyond the end of the data.
	last := strings.IndexByte(alphabet, valid[len(valid)-1])
	nonzeroUnusedBits := valid[:len(valid)-1] + string(alphabet[last^1])

	// A version 1 payload, to check that its fields are validated too.
	v1 := must(decode(version1Keys[0].key))
	v1 = v1[:len(v1)-ed25519.SignatureSize]
	v1WithByte := func(i int, b byte) []byte {
		p := bytes.Clone(v1)
		p[i] = b
		return p
	}

	tests := map[string]string{
		"empty":                         "",
		"blank":                         " - \n",
		"not base32":                    "hello, world!",
		"U is not in base32":            strings.Replace(valid, valid[:1], "U", 1),
		"too short":                     valid[:40],
		"truncated":                     valid[:len(valid)-5],
		"extra character":               valid + "0",
		"extra group":                   valid + "-00000",
		"nonzero unused bits":           nonzeroUnusedBits,
		"huge input":                    strings.Repeat(valid, 10),
		"trailing byte":                 signPayload(k, append(bytes.Clone(payload), 0)),
		"no serial":                     signPayload(k, payload[:len(payload)-8]),
		"version 0":                     signPayload(k, withByte(0, 0)),
		"version 3":                     signPayload(k, withByte(0, 3)),
		"version 255":                   signPayload(k, withByte(0, 255)),
		"version 2 labelled version 1":  signPayload(k, withByte(0, 1)),
		"version 1 labelled version 2":  signPayload(k, v1WithByte(0, 2)),
		"zero seats":                    signPayload(k, withByte(seatsOffset, 0)),
		"unknown model":                 signPayload(k, withByte(modelOffset, 3)),
		"unknown binding":               signPayload(k, withByte(bindingOffset, 3)),
		"binding 255":                   signPayload(k, withByte(bindingOffset, 255)),
		"expires on issue":              signPayload(k, withDay(expiresOffset, issued)),
		"maintenance before issue":      signPayload(k, withDay(maintenanceOffset, issued-1)),
		"maintenance beyond maxDay":     signPayload(k, withDay(maintenanceOffset, maxDay+1)),
		"key id too big":                signPayload(k, append([]byte{2}, binary.AppendUvarint(nil, math.MaxUint16+1)...)),
		"varint overflow":               signPayload(k, append([]byte{2, 1}, bytes.Repeat([]byte{0xff}, 11)...)),
		"version 1 trailing byte":       signPayload(k, append(bytes.Clone(v1), 0)),
		"version 1 unknown model":       signPayload(k, v1WithByte(modelOffset, 3)),
		"version 1 without serial byte": signPayload(k, v1[:len(v1)-1]),
	}
	for name, key := range tests {
		got, err := ring.Verify(key)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Verify(%q) = %v, want ErrMalformed", name, key, err)
		}
		if got != (Claims{}) {
			t.Errorf("%s: Verify returned claims %+v with an error", name, got)
		}
	}
}

// version1Keys are keys in format version 1, made by this package before
// version 2 existed, with the claims they carry. They must keep verifying.
var version1Keys = []struct {
	name, publicKeyPEM, key string
	want                    Claims
}{
	{
		name:         "subscription",
		publicKeyPEM: testKey1PublicPEM,
		key:          "040XQ-A0J08-0G608-0002G-5JRHQ-0A14D-2PF28-AQKFF-8B1ZE-0D8E2-QMJDH-VK70Z-8GK9P-4FNG6-SDAWD-JNH77-SBESG-8ETKX-70YFK-ZBVSX-NFTRQ-NJ1CE-4M3QP-FPNHD-XX1J8-PK35S-GR3DX-2MXZQ-W00",
		want: Claims{
			Product: 300123, Major: 2, Minor: 1, Features: Features{3, 1, 0, 0}, Seats: 5, Model: Subscription,
			Issued: date(2026, time.March, 1), Expires: date(2027, time.March, 1), Serial: 0x1234567890abcdef, KeyID: 1,
		},
	},
	{
		name:         "trial",
		publicKeyPEM: testKey1PublicPEM,
		key:          "040GE-08000-00000-107BG-ZX8F0-00000-00000-2NTGR-EJVS3-KRTA7-JH7BC-VZGHC-HNPGG-80Y7R-YYMH3-NH1PS-BPHJP-S6S28-DY30X-GGBZJ-YCCVZ-GPNVK-5XZQP-QQJ09-42GBC-Z17JG-C53TK-2K030",
		want: Claims{
			Product: 7, Major: 1, Seats: 1, Model: Trial,
			Issued: date(2025, time.June, 30), Expires: date(2025, time.July, 30), Serial: 42, KeyID: 1,
		},
	},
	{
		name: "former package example",
		publicKeyPEM: `-----BEGIN PUBLIC KEY-----
Key-Id: 1

MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=
-----END PUBLIC KEY-----
`,
		key: "040xq-a0j08-00608-0002g-5jrhq-0a14d-2pf28-aqkff-y19b9-72fzq-gw1vn-q24g2-7r5t1-7r961-ba9p6-\nrb89p-ebx9r-tdhzy-8117e-jdbdm-v23kw-9fydq-ar1bs-8m19c-k9fem-47skh-5s6nz-p9njw-w30",
		want: Claims{
			Product: 300123, Major: 2, Features: Features{3, 1, 0, 0}, Seats: 5, Model: Subscription,
			Issued: date(2026, time.March, 1), Expires: date(2027, time.March, 1), Serial: 0x1234567890abcdef, KeyID: 1,
		},
	},
}

// testKey1PublicPEM is testKey(1)'s public key, written out so that the
// version 1 keys keep their key even if testKey changes.
const testKey1PublicPEM = `-----BEGIN PUBLIC KEY-----
Key-Id: 1

MCowBQYDK2VwAyEA2rZmBhb0h5Y6iU9NHjEGdjEn5Qo2gy/EEvHYMX65N3w=
-----END PUBLIC KEY-----
`

func TestVerifyVersion1(t *testing.T) {
	for _, tt := range version1Keys {
		t.Run(tt.name, func(t *testing.T) {
			id, pub, err := ParsePublicKeyPEM([]byte(tt.publicKeyPEM))
			if err != nil {
				t.Fatal(err)
			}
			if raw := must(decode(tt.key)); raw[0] != 1 {
				t.Fatalf("test key is format version %d, want 1", raw[0])
			}
			got, err := Keyring{id: pub}.Verify(tt.key)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Binding and Maintenance stay zero: Computer and no plan.
			if got != tt.want {
				t.Errorf("Verify = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestForgivingDecode(t *testing.T) {
	k := testKey(1)
	ring := Keyring{1: k.PublicKey()}
	key := mustSign(t, k, sampleClaims())
	if !strings.ContainsAny(key, "0") || !strings.ContainsAny(key, "1") {
		t.Fatalf("sample key %s has no 0 or 1 to disguise", key)
	}
	variants := map[string]string{
		"lowercase":      strings.ToLower(key),
		"no dashes":      strings.ReplaceAll(key, "-", ""),
		"spaces":         strings.ReplaceAll(key, "-", " "),
		"line breaks":    "\n  " + key[:60] + "\r\n" + key[60:] + "\n",
		"no-break space": strings.ReplaceAll(key, "-", "\u00a0"),
		"O for 0":        strings.ReplaceAll(key, "0", "O"),
		"o for 0":        strings.ReplaceAll(key, "0", "o"),
		"I for 1":        strings.ReplaceAll(key, "1", "I"),
		"l for 1":        strings.ReplaceAll(key, "1", "l"),
		"L for 1":        strings.ReplaceAll(key, "1", "L"),
		"i for 1":        strings.ReplaceAll(key, "1", "i"),
		"odd grouping":   strings.ReplaceAll(key, "-", "")[:7] + "--" + strings.ReplaceAll(key, "-", "")[7:],
	}
	want, err := ring.Verify(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, variant := range variants {
		got, err := ring.Verify(variant)
		if err != nil {
			t.Errorf("%s: Verify(%q): %v", name, variant, err)
		} else if got != want {
			t.Errorf("%s: Verify = %+v, want %+v", name, got, want)
		}
	}
}

func TestExpired(t *testing.T) {
	c := Claims{Expires: date(2026, time.April, 1)}
	tests := []struct {
		now  time.Time
		want bool
	}{
		{date(2026, time.March, 31), false},
		{date(2026, time.April, 1).Add(-time.Nanosecond), false},
		{date(2026, time.April, 1), true},
		{date(2030, time.January, 1), true},
	}
	for _, tt := range tests {
		if got := c.Expired(tt.now); got != tt.want {
			t.Errorf("Expired(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
	if (Claims{}).Expired(date(2199, time.January, 1)) {
		t.Error("a key without expiry expired")
	}
}

func TestParseModel(t *testing.T) {
	tests := []struct {
		in      string
		model   Model
		binding Binding
	}{
		{"", Permanent, Computer},
		{"  ", Permanent, Computer},
		{"permanent", Permanent, Computer},
		{"Trial", Trial, Computer},
		{"SUBSCRIPTION", Subscription, Computer},
		{" trial\n", Trial, Computer},
		{"Permanent_Floating", Permanent, Floating},
		{"\tTRIAL_CLOUD ", Trial, Cloud},
		{"subscription_cloud", Subscription, Cloud},
	}
	for _, tt := range tests {
		m, b, err := ParseModel(tt.in)
		if err != nil || m != tt.model || b != tt.binding {
			t.Errorf("ParseModel(%q) = %v, %v, %v; want %v, %v", tt.in, m, b, err, tt.model, tt.binding)
		}
	}
	for _, bad := range []string{
		"perpetual", "0", "trial_", "_cloud", "floating", "cloud", "computer",
		"trial_computer", "trial-cloud", "trial cloud", "trial_cloud_floating", "trial\x00",
	} {
		m, b, err := ParseModel(bad)
		if !errors.Is(err, ErrUnknownModel) {
			t.Errorf("ParseModel(%q) = %v, %v, %v; want ErrUnknownModel", bad, m, b, err)
		} else if !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseModel(%q) error %q does not name the value", bad, err)
		}
	}
}

func TestModelNameRoundTrip(t *testing.T) {
	want := []string{
		"permanent", "permanent_floating", "permanent_cloud",
		"trial", "trial_floating", "trial_cloud",
		"subscription", "subscription_floating", "subscription_cloud",
	}
	var got []string
	for _, m := range []Model{Permanent, Trial, Subscription} {
		for _, b := range []Binding{Computer, Floating, Cloud} {
			name := ModelName(m, b)
			got = append(got, name)
			if m2, b2, err := ParseModel(name); err != nil || m2 != m || b2 != b {
				t.Errorf("ParseModel(%q) = %v, %v, %v; want %v, %v", name, m2, b2, err, m, b)
			}
			if m2, b2, err := ParseModel(strings.ToUpper(name)); err != nil || m2 != m || b2 != b {
				t.Errorf("ParseModel(%q) = %v, %v, %v; want %v, %v", strings.ToUpper(name), m2, b2, err, m, b)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ModelName gives %q, want QLM's nine names %q", got, want)
	}
}

func TestModelAndBindingStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Permanent.String(), "permanent"},
		{Trial.String(), "trial"},
		{Subscription.String(), "subscription"},
		{Model(9).String(), "Model(9)"},
		{Computer.String(), "computer"},
		{Floating.String(), "floating"},
		{Cloud.String(), "cloud"},
		{Binding(3).String(), "Binding(3)"},
		{ModelName(Model(9), Binding(3)), "Model(9)_Binding(3)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestFeatures(t *testing.T) {
	tests := []struct {
		f    Features
		text string
	}{
		{Features{}, "0"},
		{Features{3, 1, 0, 0}, "0:3;1:1"},
		{Features{0, 0, 0, 128}, "3:128"},
		{Features{255, 2, 4, 8}, "0:255;1:2;2:4;3:8"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.text {
			t.Errorf("%v.String() = %q, want %q", [4]uint8(tt.f), got, tt.text)
		}
	}
}

func TestPEMRoundTrip(t *testing.T) {
	k, err := GenerateSigningKey(513)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(privPEM, []byte("Key-Id: 513\n")) {
		t.Errorf("private key PEM has no Key-Id header:\n%s", privPEM)
	}
	got, err := ParseSigningKeyPEM(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || !got.Private.Equal(k.Private) {
		t.Errorf("ParseSigningKeyPEM = %d, want %d and the same key", got.ID, k.ID)
	}

	pubPEM, err := MarshalPublicKeyPEM(k.ID, k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	id, pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if id != k.ID || !pub.Equal(k.PublicKey()) {
		t.Errorf("ParsePublicKeyPEM = %d, want %d and the same key", id, k.ID)
	}
}

func TestPEMErrors(t *testing.T) {
	k := testKey(1)
	privPEM, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := MarshalPublicKeyPEM(k.ID, k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	noHeader := bytes.Replace(pubPEM, []byte("Key-Id: 1\n\n"), nil, 1)
	badID := bytes.Replace(pubPEM, []byte("Key-Id: 1"), []byte("Key-Id: 65536"), 1)
	twoKeys := append(bytes.Clone(pubPEM), pubPEM...)
	corrupt := bytes.Replace(pubPEM, []byte("MCow"), []byte("MCoX"), 1)

	for name, data := range map[string][]byte{
		"empty":       nil,
		"not PEM":     []byte("hello"),
		"private key": privPEM,
		"no Key-Id":   noHeader,
		"bad Key-Id":  badID,
		"two keys":    twoKeys,
		"corrupt DER": corrupt,
	} {
		if _, _, err := ParsePublicKeyPEM(data); err == nil {
			t.Errorf("ParsePublicKeyPEM(%s) succeeded", name)
		}
	}
	for name, data := range map[string][]byte{
		"empty":      nil,
		"public key": pubPEM,
		"no Key-Id":  bytes.Replace(privPEM, []byte("Key-Id: 1\n\n"), nil, 1),
	} {
		if _, err := ParseSigningKeyPEM(data); err == nil {
			t.Errorf("ParseSigningKeyPEM(%s) succeeded", name)
		}
	}
	if _, err := (SigningKey{ID: 1}).MarshalPEM(); err == nil {
		t.Error("MarshalPEM of an empty key succeeded")
	}
	if _, err := MarshalPublicKeyPEM(1, nil); err == nil {
		t.Error("MarshalPublicKeyPEM of a nil key succeeded")
	}
}

func TestWriteKeyPairAndLoadDir(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateSigningKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, k); err != nil {
		t.Fatal(err)
	}
	for name, perm := range map[string]fs.FileMode{"signing-1.pem": 0o600, "public-1.pem": 0o644} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// The umask may remove permissions but never adds any.
		if info.Mode().Perm()&^perm != 0 {
			t.Errorf("%s has mode %v, want at most %v", name, info.Mode().Perm(), perm)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}

	signer, ring, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil || signer.ID != 1 || !signer.Private.Equal(k.Private) {
		t.Fatalf("LoadDir signer = %+v, want key 1", signer)
	}
	if len(ring) != 1 || !ring[1].Equal(k.PublicKey()) {
		t.Errorf("LoadDir ring = %v, want key 1 only", ring)
	}
	if _, err := ring.Verify(mustSign(t, *signer, sampleClaims())); err != nil {
		t.Errorf("Verify with loaded keys: %v", err)
	}

	// A second pair with the same id must not replace the first.
	other, err := GenerateSigningKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, other); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyPair over existing keys: %v, want fs.ErrExist", err)
	}
	if signer, _, err := LoadDir(dir); err != nil || !signer.Private.Equal(k.Private) {
		t.Errorf("after refused overwrite, LoadDir = %v; want the original key", err)
	}
}

func TestWriteKeyPairLeavesNoHalfPair(t *testing.T) {
	dir := t.TempDir()
	k := testKey(4)
	if err := os.WriteFile(filepath.Join(dir, "public-4.pem"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, k); err == nil {
		t.Fatal("WriteKeyPair succeeded although public-4.pem exists")
	}
	if _, err := os.Stat(filepath.Join(dir, "signing-4.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("signing-4.pem left behind: %v", err)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	if err := WriteKeyPair(dir, testKey(1)); err != nil {
		t.Fatal(err)
	}
	signer, _, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := mustSign(t, *signer, sampleClaims())

	if err := WriteKeyPair(dir, testKey(2)); err != nil {
		t.Fatal(err)
	}
	// Once rotated, the old private key is no longer needed.
	if err := os.Remove(filepath.Join(dir, "signing-1.pem")); err != nil {
		t.Fatal(err)
	}
	signer, ring, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil || signer.ID != 2 {
		t.Fatalf("signer after rotation = %+v, want key 2", signer)
	}
	if len(ring) != 2 {
		t.Errorf("ring has %d keys, want 2", len(ring))
	}
	newKey := mustSign(t, *signer, sampleClaims())
	for name, key := range map[string]string{"old": oldKey, "new": newKey} {
		c, err := ring.Verify(key)
		if err != nil {
			t.Errorf("%s key: %v", name, err)
		}
		if want := map[string]uint16{"old": 1, "new": 2}[name]; c.KeyID != want {
			t.Errorf("%s key: KeyID = %d, want %d", name, c.KeyID, want)
		}
	}
}

func TestLoadDirSignerIsHighestID(t *testing.T) {
	dir := t.TempDir()
	// Ids chosen so that name order ("signing-10" < "signing-9") differs from id order.
	for _, id := range []uint16{9, 10, 2} {
		if err := WriteKeyPair(dir, testKey(id)); err != nil {
			t.Fatal(err)
		}
	}
	signer, ring, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil || signer.ID != 10 {
		t.Errorf("signer = %+v, want key 10", signer)
	}
	if len(ring) != 3 {
		t.Errorf("ring has %d keys, want 3", len(ring))
	}
}

func TestLoadDirEmpty(t *testing.T) {
	signer, ring, err := LoadDir(t.TempDir())
	if err != nil || signer != nil || ring == nil || len(ring) != 0 {
		t.Errorf("LoadDir(empty) = %v, %v, %v; want nil, empty ring, nil", signer, ring, err)
	}
}

func TestLoadDirErrors(t *testing.T) {
	if _, _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadDir of a missing directory succeeded")
	}

	t.Run("conflicting ids", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteKeyPair(dir, testKey(1)); err != nil {
			t.Fatal(err)
		}
		pub, err := MarshalPublicKeyPEM(1, testKey(2).PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "zzz.pem"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadDir(dir); err == nil {
			t.Error("LoadDir with two different keys for id 1 succeeded")
		}
	})

	t.Run("bad file", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteKeyPair(dir, testKey(1)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), "broken.pem") {
			t.Errorf("LoadDir with a broken file: %v, want an error naming it", err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	k := testKey(1)
	ring := Keyring{1: k.PublicKey(), 2: testKey(2).PublicKey()}
	f.Add(mustSign(f, k, sampleClaims()))
	f.Add(mustSign(f, k, Claims{Seats: 1, Issued: date(2020, time.January, 1)}))
	f.Add(strings.ToLower(mustSign(f, k, sampleClaims())))
	f.Add(mustSign(f, testKey(3), sampleClaims()))
	f.Add(mustSign(f, k, Claims{Seats: 1, Model: Trial, Binding: Cloud, Issued: epoch, Maintenance: epoch.AddDate(0, 0, 1)}))
	for _, v1 := range version1Keys {
		f.Add(v1.key)
	}
	f.Add("")
	f.Add("0")
	f.Add("ABCDE-FGHJK")
	f.Fuzz(func(t *testing.T, key string) {
		c, err := ring.Verify(key)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify(%q) = %v, want a sentinel error", key, err)
			}
			if c != (Claims{}) {
				t.Fatalf("Verify(%q) returned claims with an error", key)
			}
			return
		}
		// Only a valid key gets here: signing its claims again must give
		// back the same key, spelled canonically, unless it is in format
		// version 1, which Sign no longer writes.
		signer := testKey(c.KeyID)
		again, err := Sign(signer, c)
		if err != nil {
			t.Fatalf("Sign(%+v) of verified claims: %v", c, err)
		}
		raw := must(decode(key))
		if want := encode(raw); raw[0] == formatVersion && again != want {
			t.Fatalf("re-signed key\n%s\nwant\n%s", again, want)
		}
		if c2, err := ring.Verify(again); err != nil || c2 != c {
			t.Fatalf("Verify(re-signed) = %+v, %v; want %+v", c2, err, c)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
