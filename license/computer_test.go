package license_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/license"
)

func computerFixture(t *testing.T) (license.SigningKey, license.Keyring, license.ComputerLicense) {
	t.Helper()
	k, err := license.GenerateSigningKey(3)
	if err != nil {
		t.Fatal(err)
	}
	c := license.ComputerLicense{
		Key: license.Claims{Product: 7, Major: 2, Minor: 1, Features: license.Features{3, 0, 1, 0}, Seats: 5,
			Model: license.Subscription, Binding: license.Computer, Issued: day(2026, 1, 2), Expires: day(2027, 1, 2), Serial: 0xfeed},
		ComputerID: "MB-4711 Ω", Seat: 2, Issued: day(2026, 11, 27), CheckBy: day(2026, 12, 27),
	}
	return k, license.Keyring{3: k.PublicKey()}, c
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestComputerLicenseRoundTrip(t *testing.T) {
	k, ring, c := computerFixture(t)
	s, err := license.SignComputer(k, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ring.VerifyComputer(s)
	if err != nil {
		t.Fatal(err)
	}
	c.Key.KeyID = 3
	if got != c {
		t.Errorf("VerifyComputer = %+v\nwant %+v", got, c)
	}
	again, _ := license.SignComputer(k, c)
	if again != s {
		t.Error("signing the same license twice gave two strings")
	}
	// A computer license is not a key, and a key is not a computer license.
	if _, err := ring.Verify(s); !errors.Is(err, license.ErrMalformed) {
		t.Errorf("Verify(computer license) = %v, want ErrMalformed", err)
	}
	key, err := license.Sign(k, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.VerifyComputer(key); !errors.Is(err, license.ErrNotComputerLicense) {
		t.Errorf("VerifyComputer(key) = %v, want ErrNotComputerLicense", err)
	}
}

func TestComputerLicenseTampered(t *testing.T) {
	k, ring, c := computerFixture(t)
	s, err := license.SignComputer(k, c)
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.ReplaceAll(s, "-", "")
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i := 0; i < len(plain); i++ {
		// Change one character (five bits) at every position.
		j := strings.IndexByte(alphabet, plain[i])
		bad := plain[:i] + string(alphabet[(j+1)%32]) + plain[i+1:]
		if _, err := ring.VerifyComputer(bad); err == nil {
			t.Fatalf("a license changed at character %d verified", i)
		}
	}
	other, _ := license.GenerateSigningKey(3)
	if _, err := (license.Keyring{3: other.PublicKey()}).VerifyComputer(s); !errors.Is(err, license.ErrBadSignature) {
		t.Errorf("another key's ring: %v", err)
	}
}

func TestSignComputerRefuses(t *testing.T) {
	k, _, c := computerFixture(t)
	for name, edit := range map[string]func(*license.ComputerLicense){
		"no computer":       func(c *license.ComputerLicense) { c.ComputerID = "" },
		"long computer id":  func(c *license.ComputerLicense) { c.ComputerID = strings.Repeat("x", 257) },
		"seat 0":            func(c *license.ComputerLicense) { c.Seat = 0 },
		"seat past seats":   func(c *license.ComputerLicense) { c.Seat = 6 },
		"check-by too soon": func(c *license.ComputerLicense) { c.CheckBy = c.Issued },
	} {
		bad := c
		edit(&bad)
		if _, err := license.SignComputer(k, bad); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// A retired key stays in the ring (its keys are recognized) but signs
// nothing more: the next highest key does.
func TestLoadDirRetiring(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []uint16{1, 2, 3} {
		k, err := license.GenerateSigningKey(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := license.WriteKeyPair(dir, k); err != nil {
			t.Fatal(err)
		}
	}
	signer, ring, err := license.LoadDirRetiring(dir, func(id uint16) bool { return id == 3 })
	if err != nil || signer == nil || signer.ID != 2 || len(ring) != 3 {
		t.Fatalf("LoadDirRetiring = %v, %d keys, %v; want signer 2 and all three keys", signer, len(ring), err)
	}
	if signer, _, _ := license.LoadDir(dir); signer.ID != 3 {
		t.Errorf("LoadDir's signer = %d, want 3", signer.ID)
	}
	if signer, _, _ := license.LoadDirRetiring(dir, func(uint16) bool { return true }); signer != nil {
		t.Errorf("every key retired, yet signer %d", signer.ID)
	}
}
