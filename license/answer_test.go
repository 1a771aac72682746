package license_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/keysmith/keysmith/license"
)

func TestSignedAnswer(t *testing.T) {
	k, _ := license.GenerateSigningKey(4)
	ring := license.Keyring{4: k.PublicKey()}
	a, err := license.SignAnswer(k, []byte(`{"status":"valid","nonce":"n-1234567890abcdef"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ring.VerifyAnswer(a)
	if err != nil || string(got) != `{"status":"valid","nonce":"n-1234567890abcdef"}` {
		t.Fatalf("VerifyAnswer = %q, %v", got, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(a.Answer)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x20
		b := a
		b.Answer = base64.StdEncoding.EncodeToString(bad)
		if _, err := ring.VerifyAnswer(b); !errors.Is(err, license.ErrBadSignature) {
			t.Fatalf("answer changed at byte %d: %v", i, err)
		}
	}
	for name, edit := range map[string]func(*license.SignedAnswer){
		"unknown key id":  func(a *license.SignedAnswer) { a.KeyID = 9 },
		"not base64":      func(a *license.SignedAnswer) { a.Answer = "%%%" },
		"short signature": func(a *license.SignedAnswer) { a.Signature = "AAAA" },
	} {
		b := a
		edit(&b)
		if _, err := ring.VerifyAnswer(b); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// A key's signature is no answer's: the answer's message is prefixed.
	key, _ := license.Sign(k, license.Claims{Product: 1, Seats: 1, Issued: day(2026, 1, 1), Serial: 1})
	if _, err := ring.VerifyAnswer(license.SignedAnswer{Answer: base64.StdEncoding.EncodeToString([]byte(key)), KeyID: 4, Signature: a.Signature}); err == nil {
		t.Error("a mismatched signature verified")
	}
}
