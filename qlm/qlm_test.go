package qlm

import (
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/license"
)

// FuzzParseFeatures checks that ParseFeatures never panics, that its errors
// are short clean lines that never echo more than a bounded piece of the
// input, and that what it accepts survives a round trip through String().
func FuzzParseFeatures(f *testing.F) {
	for _, s := range []string{
		"", "0", "0:3;1:1", "0:1;1:2;2:3;3:6", "3:255", "4:1", "0:256", "0:1;0:2", "1:", ":", ";",
		"0:3;", "0:7;", " 0 : 3 ; ; 1 : 1 ", "0:3,1:1", "1:99999999999999999999999", "-1:3", "0:\xff",
		"0:S3cr3t-PWD-c0ffee",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		features, err := ParseFeatures(s)
		if err != nil {
			bad, ok := err.(*BadRequestError)
			if !ok {
				t.Fatalf("err = %v (%T), want *BadRequestError", err, err)
			}
			if bad.Status != http.StatusBadRequest || bad.Field != "is_features" {
				t.Fatalf("Status %d, Field %q", bad.Status, bad.Field)
			}
			msg := err.Error()
			if !cleanLine(msg) || len(msg) > 200 {
				t.Fatalf("error %q is not a short clean line", msg)
			}
			// A value longer than the echo limit is never repeated whole.
			if len(s) > maxQuoted+3 && strings.Contains(msg, s) {
				t.Fatalf("error %q echoes the whole input", msg)
			}
			return
		}
		again, err := ParseFeatures(features.String())
		if err != nil || again != features {
			t.Fatalf("ParseFeatures(%q) = %v, %v; want %v", features.String(), again, err, features)
		}
	})
}

// TestQuote: offending values are echoed quoted, on one line and cut short,
// so that an error never becomes a copy of the request.
func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", `"abc"`},
		{"", `""`},
		{"a\r\nb", `"a\r\nb"`},
		{"\xff", `"\xff"`},
		{"Müller", `"Müller"`},
		{strings.Repeat("x", 40), `"` + strings.Repeat("x", 32) + `"...`},
		{strings.Repeat("x", 31) + "€", `"` + strings.Repeat("x", 31) + `"...`}, // not inside a character
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Quote(tt.in), "Quote(%q)", tt.in)
	}
}

// TestLabel: field names are input too; only short printable ASCII ones are
// shown as sent.
func TestLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"is_features", "is_features"},
		{"ADD[LICENSEENUMBER]", "ADD[LICENSEENUMBER]"},
		{"", `""`},
		{"A B", `"A B"`},
		{"Straße", `"Straße"`},
		{"a\nb", `"a\nb"`},
		{strings.Repeat("N", 65), `"` + strings.Repeat("N", 32) + `"...`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Label(tt.in), "Label(%q)", tt.in)
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		in   string
		want license.Features
	}{
		{"", license.Features{}},
		{"0", license.Features{}}, // QLM's "no features"
		{" 0 ", license.Features{}},
		{"0:0", license.Features{}},
		{"0:3;1:1", license.Features{3, 1, 0, 0}}, // shareit-how-to-integrate-qlm-with-md
		{"1:1;0:3", license.Features{3, 1, 0, 0}},
		{"3:255", license.Features{0, 0, 0, 255}},
		{"0:1;1:2;2:3;3:6", license.Features{1, 2, 3, 6}}, // getactivationkey.md's example
		{"0:1;1:2;2:4;3:128", license.Features{1, 2, 4, 128}},
		{"2:007", license.Features{0, 0, 7, 0}},
		// As QLM writes them: a trailing ';' (QLM's own "&is_features=0:1;" in
		// qlmdocs/3rd-party-integration/shopify-how-to-integrate-qlm-with-shopify.md),
		// spaces, empty parts and empty sets.
		{"0:1;", license.Features{1, 0, 0, 0}},
		{"0:7;", license.Features{7, 0, 0, 0}},
		{" 0 : 3 ; 1 : 1 ", license.Features{3, 1, 0, 0}},
		{"0:3;;1:1", license.Features{3, 1, 0, 0}},
		{";;0:3;", license.Features{3, 0, 0, 0}},
		{";", license.Features{}},
		{"1:", license.Features{}},
		{"1:;0:2", license.Features{2, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFeatures(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)

			again, err := ParseFeatures(got.String())
			require.NoError(t, err, "String() %q", got.String())
			assert.Equal(t, got, again, "round trip through String()")
		})
	}
}

// TestParseFeaturesErrors: a feature string that cannot be read is refused
// rather than keyed with fewer features than were paid for.
func TestParseFeaturesErrors(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"4:1", "is_features: set 4 out of range 0-3"},
		{"0:3;5:1", "is_features: set 5 out of range 0-3"},
		{"0:256", "is_features: value 256 out of range 0-255"},
		{"1:99999999999999999999999", "is_features: value 99999999999999999999... out of range 0-255"},
		{"0:3;0:1", "is_features: set 0 given twice"},
		{"1:;1:5", "is_features: set 1 given twice"},
		{"abc", `is_features: "abc" is not set:value`},
		{"0:3;1", `is_features: "1" is not set:value`},
		{"0:x", `is_features: value "x" is not a number`},
		{"x:1", `is_features: set "x" is not a number`},
		{":3", `is_features: set "" is not a number`},
		{"-1:3", `is_features: set "-1" is not a number`},
		{"0:-1", `is_features: value "-1" is not a number`},
		{"0:1.5", `is_features: value "1.5" is not a number`},
		{"0:3,1:1", `is_features: value "3,1:1" is not a number`}, // ',' for ';'
		{"0:" + strings.Repeat("9x", 40), `is_features: value "9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x"... is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseFeatures(tt.in)
			var bad *BadRequestError
			require.ErrorAs(t, err, &bad)
			assert.Equal(t, 400, bad.Status)
			assert.Equal(t, "is_features", bad.Field)
			assert.Equal(t, tt.reason, bad.Reason())
		})
	}
}

// cleanLine reports whether s is one line of printable UTF-8.
func cleanLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// TestForkOwnsItsArguments: a mapping added to a fork (one item of a
// notification) does not reach the call or its other forks.
func TestForkOwnsItsArguments(t *testing.T) {
	c, err := NewCall("is_vendor=fastspring", "")
	require.NoError(t, err)
	a := c.Fork()
	a.WithMapping(map[string][]string{"is_productid": {"7"}})
	a.Warn("only a's")
	assert.Equal(t, "7", a.Arg("is_productid"))
	assert.Empty(t, c.Arg("is_productid"))
	assert.Empty(t, c.Fork().Arg("is_productid"))
	assert.Empty(t, c.Warnings())
}
