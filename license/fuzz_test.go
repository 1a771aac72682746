package license_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/license"
)

// fuzzKey is a fixed signing key, so that seeds and any corpus entry the
// fuzzer saves keep verifying from one run to the next.
var fuzzKey = license.SigningKey{ID: 3, Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))}

var fuzzRing = license.Keyring{3: fuzzKey.PublicKey()}

func sentinel(err error) bool {
	return errors.Is(err, license.ErrMalformed) || errors.Is(err, license.ErrUnknownKey) ||
		errors.Is(err, license.ErrBadSignature) || errors.Is(err, license.ErrNotComputerLicense)
}

func FuzzVerifyComputer(f *testing.F) {
	c := license.ComputerLicense{
		Key: license.Claims{Product: 7, Major: 2, Minor: 1, Features: license.Features{3, 0, 1, 0}, Seats: 5,
			Model: license.Subscription, Binding: license.Computer, Issued: day(2026, 1, 2), Expires: day(2027, 1, 2), Serial: 0xfeed},
		ComputerID: "MB-4711 Ω", Seat: 2, Issued: day(2026, 11, 27), CheckBy: day(2026, 12, 27),
	}
	signed, err := license.SignComputer(fuzzKey, c)
	if err != nil {
		f.Fatal(err)
	}
	key, err := license.Sign(fuzzKey, c.Key)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{signed, strings.ToLower(signed), key, "", "0", "ABCDE-FGHJK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lic, err := fuzzRing.VerifyComputer(s)
		if err != nil {
			if !sentinel(err) {
				t.Fatalf("VerifyComputer(%q) = %v, want a sentinel error", s, err)
			}
			if lic != (license.ComputerLicense{}) {
				t.Fatalf("VerifyComputer(%q) returned a license with an error", s)
			}
			return
		}
		// Only a license this key signed gets here: signing what it says
		// again must verify to the same license.
		again, err := license.SignComputer(fuzzKey, lic)
		if err != nil {
			t.Fatalf("SignComputer(%+v) of a verified license: %v", lic, err)
		}
		if lic2, err := fuzzRing.VerifyComputer(again); err != nil || lic2 != lic {
			t.Fatalf("VerifyComputer(re-signed) = %+v, %v; want %+v", lic2, err, lic)
		}
		if _, err := fuzzRing.Verify(s); err == nil {
			t.Fatalf("a computer license %q verifies as a key", s)
		}
	})
}

func FuzzVerifyAnswer(f *testing.F) {
	a, err := license.SignAnswer(fuzzKey, []byte(`{"status":"valid","nonce":"0123456789abcdef"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.Answer, a.KeyID, a.Signature)
	f.Add(a.Answer, uint16(4), a.Signature)
	f.Add("", uint16(3), "")
	f.Add("e30=", uint16(3), a.Signature)
	f.Fuzz(func(t *testing.T, answer string, keyID uint16, signature string) {
		body, err := fuzzRing.VerifyAnswer(license.SignedAnswer{Answer: answer, KeyID: keyID, Signature: signature})
		if err != nil {
			if !sentinel(err) || body != nil {
				t.Fatalf("VerifyAnswer = %q, %v; want nothing and a sentinel error", body, err)
			}
			return
		}
		// Ed25519 signatures are deterministic: what verifies is exactly
		// what this key signs for these bytes.
		want, err := license.SignAnswer(fuzzKey, body)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := base64.StdEncoding.DecodeString(signature)
		if keyID != fuzzKey.ID || base64.StdEncoding.EncodeToString(sig) != want.Signature {
			t.Fatalf("answer %q with key %d and signature %q verifies", body, keyID, signature)
		}
	})
}

func FuzzIsShortKey(f *testing.F) {
	key, _ := license.ShortKey(fuzzKey, "shareit:123456-1", 0)
	for _, s := range []string{key, strings.ToLower(key), strings.ReplaceAll(key, "-", " "), strings.ReplaceAll(key, "-", ""), "", "0000-0000-0000-0000-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, ok := license.IsShortKey(s)
		if !ok {
			if norm != "" {
				t.Fatalf("IsShortKey(%q) = %q, false", s, norm)
			}
			return
		}
		if again, ok := license.IsShortKey(norm); !ok || again != norm {
			t.Fatalf("IsShortKey(%q) = %q; its normal form %q reads as %q, %v", s, norm, norm, again, ok)
		}
		if len(norm) != 24 || strings.Count(norm, "-") != 4 {
			t.Fatalf("IsShortKey(%q) = %q, want XXXX-XXXX-XXXX-XXXX-XXXX", s, norm)
		}
		// Any one character mistyped is caught by the check character.
		for i := 0; i < len(norm)-1; i++ {
			if norm[i] == '-' {
				continue
			}
			typo := []byte(norm)
			typo[i] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", norm[i])+1)%32]
			if _, ok := license.IsShortKey(string(typo)); ok {
				t.Fatalf("IsShortKey accepts %q, one character off %q", typo, norm)
			}
		}
	})
}
