package shareit

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// FuzzReadCall feeds arbitrary calls through qlm.ReadCall, WithMapping and
// Decode, with the test credentials appended to the query, and checks what
// holds for every call: no panic; every error a *qlm.BadRequestError with a 4xx
// status and a one-line printable reason; the credentials never in an
// error, a warning or qlm.Args.Raw unless the input itself repeats them
// elsewhere; and an accepted call is one that can be keyed.
func FuzzReadCall(f *testing.F) {
	for _, name := range []string{"order_latin1.form", "order_utf8.form"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		line := strings.TrimRight(string(data), "\r\n")
		f.Add(true, qlmQuery, "application/x-www-form-urlencoded", line, "", false)
		f.Add(false, qlmQuery+"&"+line, "", "", "", true)
	}
	f.Add(true, "is_features=0:3;9:1&is_expdate=1/2/2026", "", "PURCHASE_ID=1&RUNNING_NO=1&EMAIL=%zz", "", false)
	f.Add(true, "IS_QUANTITY=2&is_quantity=3", "text/plain", "ENCODING=UTF8&FIRSTNAME=\xff", "", false)
	f.Add(true, "&&is_productid=1&", "", "PURCHASE_ID=Ref+%2312&QUANTITY=abc&is_quantity=2&is_pwd=x", "", true)
	f.Add(true, "is_vendor=shareit", "", "PURCHASE_ID=1&PRODUCT_ID=300123456&ENCODING=UTF16&AD%00D=1&EMAIL=a+%3Cb%40c.d%3E",
		"&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:7;", false)
	f.Add(true, "is_licensemodel=Trial_Cloud&is_send_mail=perhaps&is_custom=1", "",
		"PURCHASE_ID=1&ORIGINAL_KEY=K&PURCHASE_DATE=26.11.2026&QUANTITY=5000", "is_licensemodel=bad", false)

	f.Fuzz(func(t *testing.T, post bool, query, contentType, body, mapping string, utf8Default bool) {
		r := httptest.NewRequest(http.MethodGet, keygenPath, nil)
		if post {
			r = httptest.NewRequest(http.MethodPost, keygenPath, strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
		}
		r.URL.RawQuery = query + "&is_user=" + secretUser + "&is_pwd=" + secretPwd
		// The input may spell a credential itself, as another field's value:
		// then seeing it again proves nothing.
		input := lenientUnescape(query + "&" + body + "&" + mapping)
		echoed := func(s string) bool {
			return (strings.Contains(s, secretUser) && !strings.Contains(input, secretUser)) ||
				(strings.Contains(s, secretPwd) && !strings.Contains(input, secretPwd))
		}

		req, err := func() (storefront.Request, error) {
			call, err := qlm.ReadCall(r)
			if err != nil {
				return storefront.Request{}, err
			}
			if m, err := qlm.ParseQuery(mapping); err == nil {
				call.WithMapping(m)
			}
			return Decode(call, Options{UTF8: utf8Default})
		}()
		if err != nil {
			bad, ok := err.(*qlm.BadRequestError)
			if !ok {
				t.Fatalf("err = %v (%T), want *qlm.BadRequestError", err, err)
			}
			if bad.Status < 400 || bad.Status > 499 {
				t.Fatalf("Status = %d for %q", bad.Status, bad.Reason())
			}
			if msg := bad.Reason(); !cleanLine(msg) || echoed(msg) || msg != err.Error() {
				t.Fatalf("error %q is not a clean line without credentials", msg)
			}
			return
		}

		for _, w := range req.Warnings {
			if !cleanLine(w) || echoed(w) {
				t.Fatalf("warning %q is not a clean line without credentials", w)
			}
		}
		for name, v := range req.Args.Raw {
			if name == "is_user" || name == "is_pwd" || echoed(v) {
				t.Fatalf("Raw holds a credential: %s=%q", name, v)
			}
		}

		p := req.Purchase
		if p.PurchaseID == "" || len(p.PurchaseID) > storefront.MaxPurchaseID || p.RunningNo == "" || len(p.RunningNo) > storefront.MaxRunningNo {
			t.Fatalf("accepted PURCHASE_ID %q, RUNNING_NO %q", p.PurchaseID, p.RunningNo)
		}
		if strings.ContainsFunc(p.PurchaseID+p.RunningNo, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }) {
			t.Fatalf("accepted unprintable PURCHASE_ID %q, RUNNING_NO %q", p.PurchaseID, p.RunningNo)
		}
		if req.Quantity() < 1 {
			t.Fatalf("Quantity() = %d", req.Quantity())
		}
		for name, v := range p.Fields {
			if strings.HasPrefix(strings.ToLower(name), "is_") || !utf8.ValidString(name) || !utf8.ValidString(v) ||
				strings.ContainsRune(name+v, 0) || len(v) > qlm.MaxValueBytes {
				t.Fatalf("Fields holds %q=%q", name, v)
			}
		}
		if p.Email != "" && strings.ContainsAny(p.Email, " <>\r\n") {
			t.Fatalf("Email %q is not a bare address", p.Email)
		}
		if f, err := qlm.ParseFeatures(req.Args.Features.String()); err != nil || f != req.Args.Features {
			t.Fatalf("features %v do not survive String(): %v, %v", req.Args.Features, f, err)
		}
		if m := req.Args.LicenseModel; m != "" {
			if _, _, err := license.ParseModel(m); err != nil || m != strings.ToLower(m) {
				t.Fatalf("LicenseModel %q", m)
			}
		}
	})
}

// cleanLine reports whether s is one line of printable UTF-8.
func cleanLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// lenientUnescape decodes %XX and '+' wherever they are, and drops NUL, so
// that any way the input could spell a string is seen.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		if c != 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
