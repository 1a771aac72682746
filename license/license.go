package license

import (
	"crypto/ed25519"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Errors returned by [Keyring.Verify]. They are wrapped with details, so
// test for them with [errors.Is].
var (
	ErrMalformed    = errors.New("license: malformed key")
	ErrUnknownKey   = errors.New("license: unknown signing key")
	ErrBadSignature = errors.New("license: bad signature")
)

// ErrUnknownModel is returned, wrapped with the name, by [ParseModel].
var ErrUnknownModel = errors.New("license: unknown license model")

const (
	// formatVersion is the payload layout Sign writes. Verify also reads
	// version 1, which has no binding and no maintenance date, so that keys
	// sold before version 2 stay valid.
	formatVersion = 2

	// maxDay caps encoded dates (about year 2199): later dates are
	// certainly mistakes, and the cap keeps date arithmetic far from overflow.
	maxDay = 1<<16 - 1

	// maxKeyText bounds the input Verify looks at. The longest possible key
	// is 213 characters; the slack allows for stray whitespace.
	maxKeyText = 1024

	groupSize = 5
	day       = 24 * time.Hour
)

// epoch is day 0 of the encoded dates.
var epoch = time.Date(2020, time.January, 1, 0, 0, 0, 0, time.UTC)

// FirstDay and LastDay bound the dates a key holds: issue, expiry and
// maintenance days from FirstDay to LastDay. Sign refuses others.
var (
	FirstDay = epoch
	LastDay  = epoch.AddDate(0, 0, maxDay)
)

// alphabet is Crockford's base32, which leaves out I, L, O and U to avoid
// misreadings and accidental words.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var crockford = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// Model is the way a license was sold. Together with a [Binding] it makes
// one of QLM's nine license models; see [ParseModel].
type Model uint8

const (
	Permanent Model = iota
	Trial
	Subscription
)

var modelNames = [...]string{
	Permanent:    "permanent",
	Trial:        "trial",
	Subscription: "subscription",
}

func (m Model) String() string {
	if m.valid() {
		return modelNames[m]
	}
	return "Model(" + strconv.Itoa(int(m)) + ")"
}

func (m Model) valid() bool { return int(m) < len(modelNames) }

// Binding is what a license's seats are bound to.
type Binding uint8

const (
	Computer Binding = iota // node-locked: each seat is one activated computer
	Floating                // concurrent seats shared on a network
	Cloud                   // bound to a user account: a cloud license
)

var bindingNames = [...]string{
	Computer: "computer",
	Floating: "floating",
	Cloud:    "cloud",
}

func (b Binding) String() string {
	if b.valid() {
		return bindingNames[b]
	}
	return "Binding(" + strconv.Itoa(int(b)) + ")"
}

func (b Binding) valid() bool { return int(b) < len(bindingNames) }

// ModelName returns QLM's name for a model and binding: the model's name,
// followed by "_floating" or "_cloud" unless b is [Computer], such as
// "permanent" or "trial_cloud".
func ModelName(m Model, b Binding) string {
	if b == Computer {
		return m.String()
	}
	return m.String() + "_" + b.String()
}

// ParseModel parses one of QLM's nine license model names, as returned by
// [ModelName], ignoring case and surrounding spaces. The empty string means
// [Permanent] and [Computer]. An unknown name gives an error wrapping
// [ErrUnknownModel].
func ParseModel(s string) (Model, Binding, error) {
	name := strings.TrimSpace(s)
	if name == "" {
		return Permanent, Computer, nil
	}
	for m := range modelNames {
		for b := range bindingNames {
			if strings.EqualFold(name, ModelName(Model(m), Binding(b))) {
				return Model(m), Binding(b), nil
			}
		}
	}
	return 0, 0, fmt.Errorf("%w %q: want permanent, trial or subscription, optionally with _floating or _cloud", ErrUnknownModel, s)
}

// Features holds the four QLM feature sets. Each set is a bitmask of
// features 1, 2, 4, ... 128; test one with f[set]&feature != 0.
type Features [4]uint8

// String returns the QLM form, such as "0:3;1:1", listing the non-empty
// sets, or "0" when no feature is set.
func (f Features) String() string {
	var parts []string
	for set, mask := range f {
		if mask != 0 {
			parts = append(parts, fmt.Sprintf("%d:%d", set, mask))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ";")
}

// Claims is what a license key grants.
//
// Dates are stored with day precision in UTC: [Sign] rounds Issued down and
// Expires and Maintenance up to midnight, so a key never expires, and its
// maintenance plan never ends, earlier than requested.
type Claims struct {
	Product      uint32
	Major, Minor uint32 // the licensed version; what it covers is up to the vendor
	Features     Features
	Seats        uint32 // at least 1
	Model        Model

	// Binding says what a seat is: an activated computer, a concurrent
	// user on a network, or a user account. Keys in format version 1
	// predate it and verify as Computer, which is what they were sold as.
	Binding Binding

	Issued  time.Time // required
	Expires time.Time // the key is valid before this instant; zero means never

	// Maintenance is when the maintenance plan ends: updates released
	// before this instant are covered. Zero means no maintenance plan. It
	// must not be before Issued but may fall on the issue day, as for a
	// key reissued on the day its plan runs out.
	Maintenance time.Time

	Serial uint64
	KeyID  uint16 // the signing key's id; set by Verify, ignored by Sign
}

// Expired reports whether the key has expired at now.
func (c Claims) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}

// Sign returns the license key for c, signed by k. The same claims and key
// always give the same string.
func Sign(k SigningKey, c Claims) (string, error) {
	if err := k.check(); err != nil {
		return "", err
	}
	payload, err := c.marshal(k.ID)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	return encode(append(payload, ed25519.Sign(k.Private, payload)...)), nil
}

// Keyring holds the public keys that verify license keys, by key id.
// Keeping retired keys in it lets keys they signed stay valid.
type Keyring map[uint16]ed25519.PublicKey

// Verify checks key's format and signature and returns its claims. It
// accepts keys as people paste them (see the package documentation) and does
// not check expiry; use [Claims.Expired] for that. Errors wrap
// [ErrMalformed], [ErrUnknownKey] or [ErrBadSignature] and come with zero
// Claims.
func (r Keyring) Verify(key string) (Claims, error) {
	payload, sig, err := decodeSigned(key)
	if err != nil {
		return Claims{}, err
	}
	c, err := unmarshal(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.verify(c.KeyID, payload, sig); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// decodeSigned decodes a key or computer license and splits it into the
// signed payload and the signature that ends it.
func decodeSigned(s string) (payload, sig []byte, err error) {
	raw, err := decode(s)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) < ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	return raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:], nil
}

// verify checks sig over message with the public key of id.
func (r Keyring) verify(id uint16, message, sig []byte) error {
	pub, ok := r[id]
	if !ok {
		return fmt.Errorf("%w: key id %d", ErrUnknownKey, id)
	}
	if len(pub) != ed25519.PublicKeySize {
		// ed25519.Verify would panic; a broken entry can verify nothing.
		return fmt.Errorf("%w: key id %d has an invalid public key", ErrUnknownKey, id)
	}
	if !ed25519.Verify(pub, message, sig) {
		return ErrBadSignature
	}
	return nil
}

func (c Claims) marshal(keyID uint16) ([]byte, error) {
	if c.Issued.IsZero() {
		return nil, errors.New("issue date is required")
	}
	issued, err := dayNumber(c.Issued, false)
	if err != nil {
		return nil, err
	}
	var expires uint64
	if !c.Expires.IsZero() {
		if !c.Expires.After(c.Issued) {
			return nil, errors.New("expiry date must be after issue date")
		}
		if expires, err = dayNumber(c.Expires, true); err != nil {
			return nil, err
		}
	}
	var maintenance uint64
	if !c.Maintenance.IsZero() {
		if c.Maintenance.Before(c.Issued) {
			return nil, errors.New("maintenance end date must not be before issue date")
		}
		if maintenance, err = dayNumber(c.Maintenance, true); err != nil {
			return nil, err
		}
		if maintenance == 0 {
			// Day 0 is written as "no plan"; only a plan ending at the
			// very start of 2020 lands there.
			return nil, fmt.Errorf("maintenance end date must be after %s", epoch.Format(time.DateOnly))
		}
	}
	if err := c.validate(issued, expires, maintenance); err != nil {
		return nil, err
	}

	b := []byte{formatVersion}
	b = binary.AppendUvarint(b, uint64(keyID))
	b = binary.AppendUvarint(b, uint64(c.Product))
	b = binary.AppendUvarint(b, uint64(c.Major))
	b = binary.AppendUvarint(b, uint64(c.Minor))
	b = append(b, c.Features[:]...)
	b = binary.AppendUvarint(b, uint64(c.Seats))
	b = append(b, byte(c.Model), byte(c.Binding))
	b = binary.AppendUvarint(b, issued)
	b = binary.AppendUvarint(b, expires)
	b = binary.AppendUvarint(b, maintenance)
	b = binary.BigEndian.AppendUint64(b, c.Serial)
	return b, nil
}

func unmarshal(payload []byte) (Claims, error) {
	d := decoder{buf: payload}
	c, err := d.claims()
	if err != nil {
		return Claims{}, err
	}
	if len(d.buf) != 0 {
		return Claims{}, errors.New("trailing bytes")
	}
	return c, nil
}

// claims reads a key's claims and leaves what follows them (a computer
// license's part) in d.buf.
func (d *decoder) claims() (Claims, error) {
	version := d.byte()
	if d.err == nil && version != 1 && version != 2 {
		// Later versions may lay out the payload differently, so stop here.
		return Claims{}, fmt.Errorf("unknown format version %d", version)
	}
	// Version 2 is version 1 with a binding byte after the model and a
	// maintenance date after the expiry date.
	v2 := version == 2
	var c Claims
	c.KeyID = uint16(d.uvarint(math.MaxUint16))
	c.Product = uint32(d.uvarint(math.MaxUint32))
	c.Major = uint32(d.uvarint(math.MaxUint32))
	c.Minor = uint32(d.uvarint(math.MaxUint32))
	for i := range c.Features {
		c.Features[i] = d.byte()
	}
	c.Seats = uint32(d.uvarint(math.MaxUint32))
	c.Model = Model(d.byte())
	if v2 {
		c.Binding = Binding(d.byte())
	}
	issued := d.uvarint(maxDay)
	expires := d.uvarint(maxDay)
	var maintenance uint64
	if v2 {
		maintenance = d.uvarint(maxDay)
	}
	c.Serial = d.uint64()
	if d.err != nil {
		return Claims{}, d.err
	}
	if err := c.validate(issued, expires, maintenance); err != nil {
		return Claims{}, err
	}
	c.Issued = dayDate(issued)
	if expires != 0 {
		c.Expires = dayDate(expires)
	}
	if maintenance != 0 {
		c.Maintenance = dayDate(maintenance)
	}
	return c, nil
}

// validate checks the rules shared by signing and decoding: those on c's
// seats, model and binding, and those on the dates as day numbers (see
// [dayNumber]), 0 meaning none for expires and maintenance.
func (c Claims) validate(issued, expires, maintenance uint64) error {
	switch {
	case c.Seats == 0:
		return errors.New("seats must be at least 1")
	case !c.Model.valid():
		return fmt.Errorf("unknown license model %d", c.Model)
	case !c.Binding.valid():
		return fmt.Errorf("unknown license binding %d", c.Binding)
	case expires != 0 && expires <= issued:
		return errors.New("expiry date must be after issue date")
	case maintenance != 0 && maintenance < issued:
		return errors.New("maintenance end date must not be before issue date")
	}
	return nil
}

// dayNumber returns the days from epoch to t, rounded down, or up if roundUp.
func dayNumber(t time.Time, roundUp bool) (uint64, error) {
	if t.Before(epoch) {
		return 0, fmt.Errorf("date %s is before %s", t.Format(time.DateOnly), epoch.Format(time.DateOnly))
	}
	d := t.Sub(epoch) / day // Sub saturates, so far-future dates fail the check below
	if roundUp && epoch.Add(d*day).Before(t) {
		d++
	}
	if d > maxDay {
		return 0, fmt.Errorf("date %s is too far in the future", t.Format(time.DateOnly))
	}
	return uint64(d), nil
}

// dayDate reverses dayNumber.
func dayDate(n uint64) time.Time { return epoch.AddDate(0, 0, int(n)) }

// decoder reads a payload, remembering the first error so that callers can
// check once at the end.
type decoder struct {
	buf []byte
	err error
}

var errTruncated = errors.New("truncated payload")

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.err = errTruncated
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	switch {
	case n == 0:
		d.err = errTruncated
		return 0
	case n < 0 || v > max:
		d.err = errors.New("number out of range")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 8 {
		d.err = errTruncated
		return 0
	}
	v := binary.BigEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

// encode returns raw as dash-separated groups of Crockford base32.
func encode(raw []byte) string {
	s := crockford.EncodeToString(raw)
	var b strings.Builder
	for i := 0; i < len(s); i += groupSize {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+groupSize, len(s))])
	}
	return b.String()
}

// decode reverses encode, forgiving what people do to keys when copying
// them by hand or through email.
func decode(s string) ([]byte, error) {
	if len(s) > maxKeyText {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	text := normalize(s)
	raw, err := crockford.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// The last character can carry unused bits, and the decoder silently
	// drops a dangling character; insist on the one spelling encode makes.
	if crockford.EncodeToString(raw) != text {
		return nil, fmt.Errorf("%w: bad length or padding bits", ErrMalformed)
	}
	return raw, nil
}

// normalize applies Crockford's decoding rules: dashes and whitespace are
// ignored, case does not matter, I and L read as 1 and O as 0.
func normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '-' || unicode.IsSpace(r) {
			continue
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		switch r {
		case 'I', 'L':
			r = '1'
		case 'O':
			r = '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}
