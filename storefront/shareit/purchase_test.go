package shareit

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/stretchr/testify/assert"
)

// decodeLine decodes a call with the guide's URL and the given order fields.
func decodeLine(t *testing.T, fields string, opt Options) storefront.Request {
	t.Helper()
	return mustDecode(t, postRequest(qlmQuery, fields), opt)
}

// TestPurchaseDate: ShareIt sends dd/MM/yyyy; MyCommerce set-ups have been
// seen sending a time, dots and ISO-8601. An unreadable date is a warning:
// the order is dated the day it was received.
func TestPurchaseDate(t *testing.T) {
	tests := []struct {
		value       string
		want        time.Time
		wantWarning string
	}{
		{"26/11/2026", date(2026, time.November, 26), ""},
		{"6/1/2026", date(2026, time.January, 6), ""}, // d/M/yyyy
		{"06/01/2026", date(2026, time.January, 6), ""},
		{"26/11/2026 14:05:09", time.Date(2026, 11, 26, 14, 5, 9, 0, time.UTC), ""},
		{"26/11/2026 14:05", time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC), ""},
		{"26/11/2026 2:05:09 PM", time.Date(2026, 11, 26, 14, 5, 9, 0, time.UTC), ""},
		{"26.11.2026", date(2026, time.November, 26), ""},
		{"26.11.2026 14:05:09", time.Date(2026, 11, 26, 14, 5, 9, 0, time.UTC), ""},
		{"2026-11-26", date(2026, time.November, 26), ""},
		{"2026-11-26 14:05:09", time.Date(2026, 11, 26, 14, 5, 9, 0, time.UTC), ""},
		{"2026-11-26T14:05:09Z", time.Date(2026, 11, 26, 14, 5, 9, 0, time.UTC), ""},
		{"2026-11-26T14:05:09+01:00", time.Date(2026, 11, 26, 13, 5, 9, 0, time.UTC), ""},
		{" 26/11/2026 ", date(2026, time.November, 26), ""},
		{"", time.Time{}, ""},

		{"11/26/2026", time.Time{}, `PURCHASE_DATE: "11/26/2026" is not a date; the order is dated the day it was received`},
		{"31/02/2026", time.Time{}, `PURCHASE_DATE: "31/02/2026" is not a date; the order is dated the day it was received`},
		{"yesterday", time.Time{}, `PURCHASE_DATE: "yesterday" is not a date; the order is dated the day it was received`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			req := decodeLine(t, orderLine+"&PURCHASE_DATE="+url.QueryEscape(tt.value), Options{})
			assert.Equal(t, tt.want, req.Purchase.PurchaseDate)
			assert.Equal(t, time.UTC, req.Purchase.PurchaseDate.Location())
			assert.Equal(t, warnings(tt.wantWarning), req.Warnings)
		})
	}
}

// TestSubscriptionDates: MyCommerce's rebilling dates are read like
// PURCHASE_DATE (the next rebilling, EXPIRY_DATE, is the renewal's
// expiry; the others are kept with the fields); an unreadable one is
// ignored with a warning.
func TestSubscriptionDates(t *testing.T) {
	req := decodeLine(t, orderLine+"&SUBSCRIPTION_DATE=01%2F04%2F2025&START_DATE=2026-04-01&EXPIRY_DATE=01.04.2027", Options{})
	assert.Equal(t, date(2027, time.April, 1), req.Purchase.ExpiryDate)
	assert.Empty(t, req.Warnings)
	assert.Equal(t, "01/04/2025", req.Purchase.Fields["SUBSCRIPTION_DATE"])

	req = decodeLine(t, orderLine+"&SUBSCRIPTION_DATE=then&START_DATE=2026-04-01&EXPIRY_DATE=soon", Options{})
	p := req.Purchase
	assert.True(t, p.ExpiryDate.IsZero())
	assert.Equal(t, []string{`SUBSCRIPTION_DATE: "then" is not a date; ignored`, `EXPIRY_DATE: "soon" is not a date; ignored`}, req.Warnings)
	assert.Equal(t, "soon", p.Fields["EXPIRY_DATE"])
}

// TestPurchaseIDs: PURCHASE_ID is ShareIt's "Ref #", any printable text;
// RUNNING_NO, the line within it, is left out for one-line orders. Refusals
// are in TestRefusals.
func TestPurchaseIDs(t *testing.T) {
	tests := []struct {
		name          string
		fields        string
		wantID, wantN string
	}{
		{"digits", "PURCHASE_ID=612345678", "612345678", "1"},
		{"spaces and punctuation", "PURCHASE_ID=Ref+%2312+345%2FA&RUNNING_NO=2", "Ref #12 345/A", "2"},
		{"trimmed", "PURCHASE_ID=+42+&RUNNING_NO=%203%20", "42", "3"},
		{"not ASCII", "ENCODING=UTF8&PURCHASE_ID=%C5%81%C3%B3d%C5%BA-7", "Łódź-7", "1"},
		{"RUNNING_NO with a dash", "PURCHASE_ID=1&RUNNING_NO=2-3", "1", "2-3"},
		{"at the length caps", "PURCHASE_ID=" + strings.Repeat("7", 128) + "&RUNNING_NO=" + strings.Repeat("1", 32),
			strings.Repeat("7", 128), strings.Repeat("1", 32)},
		{"empty RUNNING_NO", "PURCHASE_ID=1&RUNNING_NO=", "1", "1"},
		{"NUL removed", "PURCHASE_ID=12%0034", "1234", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := decodeLine(t, tt.fields, Options{})
			assert.Equal(t, tt.wantID, req.Purchase.PurchaseID)
			assert.Equal(t, tt.wantN, req.Purchase.RunningNo)
		})
	}
}

// TestEncoding: ShareIt sends ENCODING=UTF8 for UTF-8 orders and otherwise
// ISO-8859-1, which on the web means Windows-1252 (0x80 is the euro sign).
// A provider may make UTF-8 its default (QLM's MyCommerce guide has vendors
// "Set the Key generator version to: UTF-8 Unicode",
// mycommerce-shareit-how-to-integrate-qlm-with-mycommerce.md). A call is never
// refused for its encoding.
func TestEncoding(t *testing.T) {
	const latinName = "FIRSTNAME=J%FCrgen&LASTNAME=M%FCller"
	const utf8Name = "FIRSTNAME=J%C3%BCrgen&LASTNAME=M%C3%BCller"
	tests := []struct {
		name         string
		query        string // added to qlmQuery
		fields       string // added to orderLine
		utf8         bool   // Options.UTF8
		wantName     string // FullName
		wantUTF8     bool
		wantWarnings []string
	}{
		{name: "ENCODING=UTF8", fields: "ENCODING=UTF8&" + utf8Name, wantName: "Jürgen Müller", wantUTF8: true},
		{name: "ENCODING=utf-8", fields: "ENCODING=utf-8&" + utf8Name, wantName: "Jürgen Müller", wantUTF8: true},
		{name: "encoding=UTF8, any name case", fields: "encoding=UTF8&" + utf8Name, wantName: "Jürgen Müller", wantUTF8: true},
		{name: "ENCODING in the query", query: "&ENCODING=UTF8", fields: utf8Name, wantName: "Jürgen Müller", wantUTF8: true},
		{name: "raw UTF-8 bytes", fields: "ENCODING=UTF8&FIRSTNAME=Jürgen&LASTNAME=Müller", wantName: "Jürgen Müller", wantUTF8: true},

		{name: "absent: Windows-1252", fields: latinName, wantName: "Jürgen Müller"},
		{name: "absent: 0x80 is the euro sign", fields: "FIRSTNAME=%80-%FC", wantName: "€-ü"},
		{name: "raw Latin-1 bytes", fields: "FIRSTNAME=J\xfcrgen&LASTNAME=M\xfcller", wantName: "Jürgen Müller"},
		{name: "ENCODING=ISO-8859-1", fields: "ENCODING=ISO-8859-1&" + latinName, wantName: "Jürgen Müller"},
		{name: "ENCODING=ISO-8859-1 over a UTF-8 provider", fields: "ENCODING=ISO-8859-1&" + latinName, utf8: true,
			wantName: "Jürgen Müller"},
		// Without ENCODING the protocol says ISO-8859-1, so UTF-8 bytes read
		// as two characters each: what ShareIt's setting means, not a guess.
		{name: "absent: UTF-8 bytes read as Windows-1252", fields: "FIRSTNAME=J%C3%BCrgen", wantName: "JÃ¼rgen"},

		{name: "absent, UTF-8 provider", fields: utf8Name, utf8: true, wantName: "Jürgen Müller", wantUTF8: true},
		{name: "absent, UTF-8 provider, Latin-1 bytes", fields: latinName, utf8: true, wantName: "Jürgen Müller",
			wantWarnings: []string{"ENCODING: the fields are not valid UTF-8; read as Windows-1252"}},
		{name: "UTF8 but not UTF-8", fields: "ENCODING=UTF8&" + latinName, wantName: "Jürgen Müller",
			wantWarnings: []string{"ENCODING: the fields are not valid UTF-8; read as Windows-1252"}},

		{name: "unknown ENCODING", fields: "ENCODING=UTF16&" + latinName, wantName: "Jürgen Müller",
			wantWarnings: []string{`ENCODING: "UTF16" is not UTF8 or ISO-8859-1; read as Windows-1252`}},
		{name: "unknown ENCODING, UTF-8 provider", fields: "ENCODING=koi8-r&" + utf8Name, utf8: true, wantName: "Jürgen Müller",
			wantUTF8: true, wantWarnings: []string{`ENCODING: "KOI8-R" is not UTF8 or ISO-8859-1; read as UTF-8`}},
		{name: "empty ENCODING", fields: "ENCODING=&" + latinName, wantName: "Jürgen Müller"},

		{name: "REG_NAME when no first or last name", fields: "REG_NAME=J%FCrgen+M%FCller", wantName: "Jürgen Müller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustDecode(t, postRequest(qlmQuery+tt.query, orderLine+"&"+tt.fields), Options{UTF8: tt.utf8})
			assert.Equal(t, tt.wantName, req.Purchase.FullName())
			assert.Equal(t, tt.wantUTF8, req.Purchase.UTF8)
			assert.Equal(t, tt.wantWarnings, req.Warnings)
			for name, v := range req.Purchase.Fields {
				assert.True(t, utf8.ValidString(name) && utf8.ValidString(v), "Fields[%q] = %q", name, v)
			}
		})
	}
}

// TestEncodingFieldNames: names are decoded like values (ShareIt's
// ADD[...] fields carry the vendor's own names).
func TestEncodingFieldNames(t *testing.T) {
	req := decodeLine(t, orderLine+"&ENCODING=UTF8&ADD[Stra%DFe]=1", Options{})
	assert.Equal(t, "1", req.Purchase.Fields["ADD[Straße]"])
	assert.Equal(t, []string{"ENCODING: the fields are not valid UTF-8; read as Windows-1252"}, req.Warnings)
}

// TestFieldValues: what PostgreSQL and the payload limits cannot take is
// normalized with a warning rather than refused.
func TestFieldValues(t *testing.T) {
	euros := "x" + strings.Repeat("€", qlm.MaxValueBytes/3+1) // byte qlm.MaxValueBytes falls inside a "€"
	tests := []struct {
		name         string
		fields       string
		field        string // the field to check
		want         string
		wantWarnings []string
	}{
		{"NUL removed", "FIRSTNAME=a%00b", "FIRSTNAME", "ab", []string{"FIRSTNAME: NUL bytes removed"}},
		{"at the cap", "ADDITIONAL1=" + strings.Repeat("x", qlm.MaxValueBytes), "ADDITIONAL1", strings.Repeat("x", qlm.MaxValueBytes), nil},
		{"over the cap", "ADDITIONAL1=" + strings.Repeat("x", qlm.MaxValueBytes+1), "ADDITIONAL1", strings.Repeat("x", qlm.MaxValueBytes),
			[]string{"ADDITIONAL1: longer than 2048 bytes; cut"}},
		{"cut on a character boundary", "ENCODING=UTF8&ADDITIONAL1=" + url.QueryEscape(euros), "ADDITIONAL1", euros[:qlm.MaxValueBytes-1],
			[]string{"ADDITIONAL1: longer than 2048 bytes; cut"}},
		// The cap is on the decoded value: each Latin-1 byte here is two in UTF-8.
		{"cap after decoding", "ADDITIONAL1=" + strings.Repeat("%FC", qlm.MaxValueBytes/2+1), "ADDITIONAL1",
			strings.Repeat("ü", qlm.MaxValueBytes/2), []string{"ADDITIONAL1: longer than 2048 bytes; cut"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := decodeLine(t, orderLine+"&"+tt.fields, Options{})
			got := req.Purchase.Fields[tt.field]
			assert.Equal(t, tt.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.LessOrEqual(t, len(got), qlm.MaxValueBytes)
			assert.Equal(t, tt.wantWarnings, req.Warnings)
		})
	}
}

// TestFieldNameWithNUL: a field whose name holds NUL cannot be stored under
// its name; it is dropped with a warning that shows the name escaped.
func TestFieldNameWithNUL(t *testing.T) {
	req := decodeLine(t, orderLine+"&AD%00D=1", Options{})
	assert.NotContains(t, req.Purchase.Fields, "AD\x00D")
	assert.Len(t, req.Purchase.Fields, 2)
	assert.Equal(t, []string{`"AD\x00D": a field name holds a NUL byte; dropped`}, req.Warnings)
}

// TestEmail: the address is the customer's identity, so a display-name form
// is reduced to the bare address. A value that is no address is kept in
// Fields, and the warning does not repeat it: it is personal data.
func TestEmail(t *testing.T) {
	const notAddress = "EMAIL: not an email address; the buyer is not emailed (it is stored with the order)"
	tests := []struct {
		name, value string // value as sent, UTF-8
		want        string
		wantWarning string
	}{
		{"bare", "juergen.mueller@example.de", "juergen.mueller@example.de", ""},
		{"spaces around", " j@example.de ", "j@example.de", ""},
		{"display name", "Jürgen Müller <j@example.de>", "j@example.de", ""},
		{"quoted display name", `"Müller, Jürgen" <j@example.de>`, "j@example.de", ""},
		{"angle brackets only", "<j@example.de>", "j@example.de", ""},
		{"absent", "", "", ""},
		{"no address", "not-an-address", "", notAddress},
		{"two addresses", "a@example.com, b@example.com", "", notAddress},
		{"no domain", "j@", "", notAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := decodeLine(t, orderLine+"&ENCODING=UTF8&EMAIL="+url.QueryEscape(tt.value), Options{})
			assert.Equal(t, tt.want, req.Purchase.Email)
			assert.Equal(t, warnings(tt.wantWarning), req.Warnings)
			assert.Equal(t, tt.value, req.Purchase.Fields["EMAIL"], "Fields keeps the value as sent")
			if tt.value != "" {
				for _, w := range req.Warnings {
					assert.NotContains(t, w, strings.TrimSpace(tt.value))
				}
			}
		})
	}
}

// TestRebilling: on a MyCommerce rebilling call with REBILLING_SEND_ORG_KEY
// set ("on rebilling pass original key to key generator", QLM's
// mycommerce-shareit-how-to-integrate-qlm-with-mycommerce.md), the call
// carries the subscription's first key or purchase, and the call is a
// renewal. The field's name is not documented, so every spelling in
// originalKeyFields is read; REBILLING_SEND_ORG_KEY itself may hold the key or
// merely the flag.
func TestRebilling(t *testing.T) {
	const key = "AZKZ0R0F00GHJ4B7832D1C1SPXAAA9"
	type test struct {
		name             string
		fields           string
		wantKey, wantOrg string
	}
	var tests []test
	for _, name := range originalKeyFields {
		tests = append(tests, test{name, name + "=" + key, key, ""})
	}
	for _, name := range originalPurchaseFields {
		tests = append(tests, test{name, name + "=612345000", "", "612345000"})
	}
	tests = append(tests,
		test{"any case", "original_key=" + key, key, ""},
		test{"key and flag", "REBILLING_SEND_ORG_KEY=1&ORIGINAL_KEY=" + key, key, ""},
		test{"empty key", "ORIGINAL_KEY=+", "", ""},
	)
	for _, flag := range []string{"1", "0", "Y", "yes", "true", "FALSE"} {
		tests = append(tests, test{"flag " + flag, "REBILLING_SEND_ORG_KEY=" + flag, "", ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodeLine(t, orderLine+"&"+tt.fields, Options{}).Purchase
			assert.Equal(t, tt.wantKey, p.OriginalKey)
			assert.Equal(t, tt.wantOrg, p.OriginalPurchaseID)
			assert.Equal(t, tt.wantKey != "" || tt.wantOrg != "", p.Renewal())
		})
	}
}

// TestPurchaseFields: each known field lands in its Purchase field,
// trimmed; the others (PRODUCT_ID, FAX, ADDITIONAL1, ...) are in Fields.
func TestPurchaseFields(t *testing.T) {
	fields := "PRODUCT_ID=+300123456+&COMPANY=ACME&PHONE=1&FAX=2&STREET=S&CITY=C&ZIP=Z&STATE=ST&COUNTRY=CO" +
		"&ISO_CODE=DE&LANGUAGE_ID=2&RESELLER=R&ADDITIONAL1=A1&ADDITIONAL2=A2&PROMOTION_NAME=PN&PROMOTION_COUPON_CODE=PC" +
		"&REG_NAME=RN&FIRSTNAME=F&LASTNAME=L"
	req := decodeLine(t, orderLine+"&"+fields, Options{})
	p := req.Purchase
	assert.Equal(t, " 300123456 ", p.Fields["PRODUCT_ID"])
	for name, value := range map[string]string{"FAX": "2", "ADDITIONAL1": "A1", "ADDITIONAL2": "A2", "PROMOTION_NAME": "PN", "PROMOTION_COUPON_CODE": "PC"} {
		assert.Equal(t, value, p.Fields[name], name)
	}
	p.Fields = nil
	assert.Equal(t, storefront.Purchase{
		PurchaseID: "612345678", RunningNo: "1", Quantity: 1,
		RegName: "RN", FirstName: "F", LastName: "L", Company: "ACME", Phone: "1",
		Street: "S", City: "C", Zip: "Z", State: "ST", Country: "CO", ISOCode: "DE", Language: "2",
		Reseller: "R",
	}, p)
	assert.Equal(t, "F L", p.FullName())
	assert.Equal(t, "R", req.AffiliateID(), "RESELLER when is_affiliateid is absent")

	req = mustDecode(t, postRequest("is_affiliateid=aff-7", orderLine+"&RESELLER=R"), Options{})
	assert.Equal(t, "aff-7", req.AffiliateID(), "is_affiliateid wins")
}

// warnings is the expected Warnings for at most one warning.
func warnings(w string) []string {
	if w == "" {
		return nil
	}
	return []string{w}
}
