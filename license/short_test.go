package license_test

import (
	"strings"
	"testing"

	"github.com/keysmith/keysmith/license"
)

func TestShortKeys(t *testing.T) {
	k, _ := license.GenerateSigningKey(1)
	key, serial := license.ShortKey(k, "shareit:612345678-1", 1)
	if len(key) != 24 || strings.Count(key, "-") != 4 {
		t.Fatalf("short key %q: want XXXX-XXXX-XXXX-XXXX-XXXX", key)
	}
	if again, s2 := license.ShortKey(k, "shareit:612345678-1", 1); again != key || s2 != serial {
		t.Error("the same line and position gave another key")
	}
	if other, _ := license.ShortKey(k, "shareit:612345678-1", 2); other == key {
		t.Error("two positions share a key")
	}
	if other, _ := license.ShortKey(k, "shareit:612345679-1", 1); other == key {
		t.Error("two lines share a key")
	}
	k2, _ := license.GenerateSigningKey(1)
	if other, _ := license.ShortKey(k2, "shareit:612345678-1", 1); other == key {
		t.Error("another server secret gave the same key")
	}
	// As people type it.
	typed := strings.ToLower(strings.ReplaceAll(key, "-", " "))
	if norm, ok := license.IsShortKey(typed); !ok || norm != key {
		t.Errorf("IsShortKey(%q) = %q, %v", typed, norm, ok)
	}
	// One mistyped character, anywhere, and a swap of neighbours are caught.
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"
	plain := strings.ReplaceAll(key, "-", "")
	for i := range plain {
		for _, c := range alphabet {
			if byte(c) == plain[i] {
				continue
			}
			if _, ok := license.IsShortKey(plain[:i] + string(c) + plain[i+1:]); ok {
				t.Fatalf("a mistyped character at %d passed", i)
			}
		}
		if i+1 < len(plain) && plain[i] != plain[i+1] {
			swapped := plain[:i] + string(plain[i+1]) + string(plain[i]) + plain[i+2:]
			if _, ok := license.IsShortKey(swapped); ok {
				t.Fatalf("a swap at %d passed", i)
			}
		}
	}
	for _, bad := range []string{"", "ABCD", strings.Repeat("A", 30)} {
		if _, ok := license.IsShortKey(bad); ok {
			t.Errorf("IsShortKey(%q) accepted", bad)
		}
	}
}
