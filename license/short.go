package license

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// Short keys are the second key format: 20 characters a person can read
// aloud and type (XXXX-XXXX-XXXX-XXXX-XXXX), valid only through the server,
// which keeps their claims. A short key is 95 bits of an HMAC-SHA-256 of the
// order line and the key's position under a secret derived from the
// server's signing key (so it cannot be guessed from the order number, and
// issuing it again gives the same key), then one check character.
const (
	shortDataChars = 19
	shortGroup     = 4
)

// ShortKey returns the short key of an order line's key at position (from
// 1), and its serial. name is the line's name (order.Name).
func ShortKey(k SigningKey, name string, position int) (key string, serial uint64) {
	mac := hmac.New(sha256.New, shortSecret(k))
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write(binary.BigEndian.AppendUint32(nil, uint32(position)))
	sum := mac.Sum(nil)
	text := crockford.EncodeToString(sum[:12])[:shortDataChars] // 19 of its 19.2 characters: 95 bits
	text += string(checkSymbols[checkValue(text)])
	var b strings.Builder
	for i := 0; i < len(text); i += shortGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(text[i : i+shortGroup])
	}
	return b.String(), binary.BigEndian.Uint64(sum[12:20])
}

// shortSecret separates short keys' secret from the signing key's own use.
func shortSecret(k SigningKey) []byte {
	mac := hmac.New(sha256.New, k.Private.Seed())
	mac.Write([]byte("keysmith short keys"))
	return mac.Sum(nil)
}

// IsShortKey reports whether s reads as a short key (as people type it:
// any case, dashes and spaces, I L O for 1 1 0) with a correct check
// character, and returns its normalized form, which is how it is stored.
func IsShortKey(s string) (string, bool) {
	text := normalize(s)
	if len(text) != shortDataChars+1 {
		return "", false
	}
	for _, c := range text[:shortDataChars] {
		if !strings.ContainsRune(alphabet, c) {
			return "", false
		}
	}
	if checkSymbols[checkValue(text[:shortDataChars])] != text[shortDataChars] {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(text); i += shortGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(text[i : i+shortGroup])
	}
	return b.String(), true
}

// checkSymbols are Crockford's 37 check symbols.
const checkSymbols = alphabet + "*~$=U"

// checkValue is a position-weighted sum of the characters' values mod 37,
// a prime above every value and weight: it catches any one mistyped
// character and any swap of two neighbours.
func checkValue(text string) int {
	sum := 0
	for i := 0; i < len(text); i++ {
		sum += (i + 1) * strings.IndexByte(alphabet, text[i])
	}
	return sum % 37
}
