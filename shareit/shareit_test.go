package shareit

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The credentials in every test URL. Tests check that neither ever shows up in
// an error or in Args.Raw.
const (
	secretUser = "shareit-USER-7f3a"
	secretPwd  = "S3cr3t-PWD-c0ffee"
)

// qlmQuery is a Key Generator URL query as QLM's ShareIt guide has vendors
// set it up, with is_features' ';' unencoded as in the guide.
const qlmQuery = "&is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0" +
	"&is_qlmversion=5.0.00&is_pwd=" + secretPwd + "&is_user=" + secretUser + "&is_features=0:3;1:1"

const keygenPath = "/qlmservice.asmx/GetActivationKey"

func getRequest(query string) *http.Request {
	return httptest.NewRequest(http.MethodGet, keygenPath+"?"+query, nil)
}

func postRequest(query, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, keygenPath+"?"+query, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func readSample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	// Editors like a final newline; ShareIt sends none.
	return strings.TrimRight(string(data), "\r\n")
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseRequestSamples(t *testing.T) {
	wantArgs := Args{
		Vendor: "ShareIt", ProductID: 1, HasProductID: true, Major: 1, Minor: 0, HasVersion: true,
		QLMVersion: "5.0.00", Features: [4]uint8{3, 1, 0, 0},
		User: secretUser, Password: secretPwd,
		MultipleActivationsKey: true, ActivationsPerKey: 1, SendMail: true,
		Raw: map[string]string{
			"is_vendor": "ShareIt", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0",
			"is_qlmversion": "5.0.00", "is_features": "0:3;1:1",
		},
	}
	latin1 := Order{
		PurchaseID: "612345678", RunningNo: "1", PurchaseDate: date(2025, time.March, 14),
		ProductID: "300123456", Quantity: 2,
		RegName: "Jürgen Müller", FirstName: "Jürgen", LastName: "Müller",
		Company: "Müller & Söhne GmbH", Email: "juergen.mueller@example.de", Phone: "+49 89 1234567",
		Street: "Hauptstraße 5", City: "München", Zip: "80331", State: "Bayern", Country: "Deutschland",
		ISOCode: "DE", Language: "2", PromotionName: "Frühjahr 2025", PromotionCoupon: "SPRING25",
	}
	utf8Order := Order{
		PurchaseID: "612345679", RunningNo: "2", PurchaseDate: date(2025, time.April, 1),
		ProductID: "300123457", Quantity: 1,
		RegName: "Jürgen Müller", FirstName: "Jürgen", LastName: "Müller",
		Company: "Zakład Łódź Sp. z o.o.", Email: "j.mueller@example.pl", Phone: "+48 42 6312345",
		Street: "ul. Piotrkowska 104", City: "Łódź", Zip: "90-001", Country: "Polska",
		ISOCode: "PL", Language: "1", Reseller: "Softwarehaus Łódź", Additional1: "Workstation 12",
		Encoding: "UTF8",
	}

	tests := []struct {
		file       string
		viaGet     bool
		want       Order
		wantFields map[string]string // a few of Order.Fields, unknown ones in particular
	}{
		{file: "order_latin1.form", want: latin1, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "4711-Ä", "SALUTATION": "Herr", "NLALLOW": "NO", "FAX": "", "CITY": "München",
		}},
		{file: "order_latin1.form", viaGet: true, want: latin1, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "4711-Ä", "SALUTATION": "Herr",
		}},
		{file: "order_utf8.form", want: utf8Order, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "€-4711", "EXPIRY_DATE": "01/04/2026", "ENCODING": "UTF8", "INVOICE": "PAID",
		}},
		{file: "order_utf8.form", viaGet: true, want: utf8Order, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "€-4711", "SUBSCRIPTION_DATE": "01/04/2025",
		}},
	}
	for _, tt := range tests {
		name := tt.file + map[bool]string{false: "/POST", true: "/GET"}[tt.viaGet]
		t.Run(name, func(t *testing.T) {
			body := readSample(t, tt.file)
			r := postRequest(qlmQuery, body)
			if tt.viaGet {
				r = getRequest(qlmQuery + "&" + body)
			}
			req, err := ParseRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Args, wantArgs) {
				t.Errorf("Args = %+v\nwant %+v", req.Args, wantArgs)
			}
			fields := req.Order.Fields
			for name, want := range tt.wantFields {
				if got, ok := fields[name]; !ok || got != want {
					t.Errorf("Fields[%q] = %q, %v; want %q", name, got, ok, want)
				}
			}
			for name := range fields {
				if strings.HasPrefix(strings.ToLower(name), "is_") {
					t.Errorf("Fields holds argument %q", name)
				}
			}
			if n := strings.Count(body, "&") + 1; len(fields) != n {
				t.Errorf("len(Fields) = %d, want every one of the %d fields sent", len(fields), n)
			}
			got := req.Order
			got.Fields = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Order = %+v\nwant  %+v", got, tt.want)
			}
			if got, want := req.Order.FullName(), "Jürgen Müller"; got != want {
				t.Errorf("FullName() = %q, want %q", got, want)
			}
			if got, want := req.Order.LineID(), tt.want.PurchaseID+"-"+tt.want.RunningNo; got != want {
				t.Errorf("LineID() = %q, want %q", got, want)
			}
			if got, want := req.Quantity(), tt.want.Quantity; got != want {
				t.Errorf("Quantity() = %d, want %d", got, want)
			}
			if got, want := req.AffiliateID(), tt.want.Reseller; got != want {
				t.Errorf("AffiliateID() = %q, want %q", got, want)
			}
		})
	}
}

func TestEncodings(t *testing.T) {
	const ids = "PURCHASE_ID=1&RUNNING_NO=1&"
	tests := []struct {
		name   string
		req    *http.Request
		want   string // FullName
		wantEn string // Order.Encoding
	}{
		{"GET latin1", getRequest(ids + "FIRSTNAME=J%FCrgen&LASTNAME=M%FCller"), "Jürgen Müller", ""},
		{"GET utf8", getRequest(ids + "FIRSTNAME=J%C3%BCrgen&LASTNAME=M%C3%BCller&ENCODING=UTF8"), "Jürgen Müller", "UTF8"},
		{"POST latin1", postRequest(qlmQuery, ids+"FIRSTNAME=J%FCrgen&LASTNAME=M%FCller"), "Jürgen Müller", ""},
		{"POST utf8", postRequest(qlmQuery, ids+"ENCODING=UTF8&FIRSTNAME=J%C3%BCrgen&LASTNAME=M%C3%BCller"), "Jürgen Müller", "UTF8"},
		{"POST utf-8 lower case", postRequest(qlmQuery, ids+"ENCODING=utf-8&FIRSTNAME=J%C3%BCrgen&LASTNAME=M%C3%BCller"), "Jürgen Müller", "UTF8"},
		{"POST latin1 explicit", postRequest(qlmQuery, ids+"ENCODING=ISO-8859-1&FIRSTNAME=J%FCrgen&LASTNAME=M%FCller"), "Jürgen Müller", ""},
		{"POST raw latin1 bytes", postRequest(qlmQuery, ids+"FIRSTNAME=J\xfcrgen&LASTNAME=M\xfcller"), "Jürgen Müller", ""},
		{"POST raw utf8 bytes", postRequest(qlmQuery, ids+"ENCODING=UTF8&FIRSTNAME=Jürgen&LASTNAME=Müller"), "Jürgen Müller", "UTF8"},
		{"ENCODING in query, name in body", postRequest("ENCODING=UTF8", ids+"FIRSTNAME=J%C3%BCrgen&LASTNAME=M%C3%BCller"), "Jürgen Müller", "UTF8"},
		{"REG_NAME fallback", getRequest(ids + "REG_NAME=J%FCrgen+M%FCller"), "Jürgen Müller", ""},
		// Without ENCODING the protocol says ISO-8859-1, so UTF-8 bytes are
		// read as two characters each. This is what ShareIt's setting means,
		// not a guess this package makes.
		{"utf8 bytes without ENCODING", getRequest(ids + "FIRSTNAME=J%C3%BCrgen"), "JÃ¼rgen", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseRequest(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Order.FullName(); got != tt.want {
				t.Errorf("FullName() = %q, want %q", got, tt.want)
			}
			if req.Order.Encoding != tt.wantEn {
				t.Errorf("Encoding = %q, want %q", req.Order.Encoding, tt.wantEn)
			}
		})
	}
}

func TestCaseInsensitiveNames(t *testing.T) {
	query := "IS_VENDOR=shareit&IS_PRODUCTID=7&is_MajorVersion=2&Is_MinorVersion=3&IS_FEATURES=2:255" +
		"&IS_USER=" + secretUser + "&Is_Pwd=" + secretPwd + "&IS_QUANTITY=5&Is_Send_Mail=No"
	body := "purchase_id=9&Running_No=1&email=ann%40example.com&FirstName=Ann&lastname=Lee&Add[LicenseeNumber]=x-1&encoding=utf8"
	req, err := ParseRequest(postRequest(query, body))
	if err != nil {
		t.Fatal(err)
	}
	a := req.Args
	if a.Vendor != "shareit" || a.ProductID != 7 || !a.HasVersion || a.Major != 2 || a.Minor != 3 ||
		a.Features != [4]uint8{0, 0, 255, 0} || a.User != secretUser || a.Password != secretPwd ||
		a.Quantity != 5 || a.SendMail {
		t.Errorf("Args = %+v", a)
	}
	wantRaw := map[string]string{
		"is_vendor": "shareit", "is_productid": "7", "is_majorversion": "2", "is_minorversion": "3",
		"is_features": "2:255", "is_quantity": "5", "is_send_mail": "No",
	}
	if !maps.Equal(a.Raw, wantRaw) {
		t.Errorf("Raw = %v, want %v", a.Raw, wantRaw)
	}
	o := req.Order
	if o.PurchaseID != "9" || o.RunningNo != "1" || o.Email != "ann@example.com" || o.FullName() != "Ann Lee" || o.Encoding != "UTF8" {
		t.Errorf("Order = %+v", o)
	}
	wantFields := map[string]string{
		"purchase_id": "9", "Running_No": "1", "email": "ann@example.com", "FirstName": "Ann",
		"lastname": "Lee", "Add[LicenseeNumber]": "x-1", "encoding": "utf8",
	}
	if !maps.Equal(o.Fields, wantFields) {
		t.Errorf("Fields = %v, want names as sent %v", o.Fields, wantFields)
	}
	if got := req.Quantity(); got != 5 {
		t.Errorf("Quantity() = %d, want is_quantity 5", got)
	}
}

func TestBodyWinsOverQuery(t *testing.T) {
	query := "PURCHASE_ID=1&RUNNING_NO=3&email=query%40example.com&CITY=Querytown&is_productid=4"
	body := "PURCHASE_ID=2&EMAIL=body%40example.com&is_productid=99&is_pwd=from-body"
	req, err := ParseRequest(postRequest(query, body))
	if err != nil {
		t.Fatal(err)
	}
	o := req.Order
	if o.PurchaseID != "2" || o.RunningNo != "3" || o.Email != "body@example.com" || o.City != "Querytown" {
		t.Errorf("Order = %+v", o)
	}
	wantFields := map[string]string{"PURCHASE_ID": "2", "RUNNING_NO": "3", "EMAIL": "body@example.com", "CITY": "Querytown"}
	if !maps.Equal(o.Fields, wantFields) {
		t.Errorf("Fields = %v, want %v", o.Fields, wantFields)
	}
	// Arguments are the vendor's and come from the URL only.
	if req.Args.ProductID != 4 || req.Args.Password != "" {
		t.Errorf("Args = %+v, want is_* from the query only", req.Args)
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		query, body string
		want        int
	}{
		{"", "", 1},
		{"", "QUANTITY=3", 3},
		{"is_quantity=10", "QUANTITY=3", 10},
		{"is_quantity=10", "", 10},
		{"QUANTITY=4", "", 4},
		{"is_quantity=", "QUANTITY=", 1}, // empty is absent
	}
	for _, tt := range tests {
		t.Run(tt.query+"|"+tt.body, func(t *testing.T) {
			body := "PURCHASE_ID=1&RUNNING_NO=1"
			if tt.body != "" {
				body += "&" + tt.body
			}
			req, err := ParseRequest(postRequest(tt.query, body))
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Quantity(); got != tt.want {
				t.Errorf("Quantity() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	defaults := Args{MultipleActivationsKey: true, ActivationsPerKey: 1, SendMail: true}
	with := func(change func(*Args)) Args {
		a := defaults
		change(&a)
		return a
	}
	tests := []struct {
		query string
		want  Args // compared without Raw
	}{
		{"", defaults},
		{"foo=bar&PURCHASE_ID=1", defaults},
		{"is_productid=0", with(func(a *Args) { a.HasProductID = true })},
		{"is_productid=", defaults},
		{"is_majorversion=6&is_minorversion=0", with(func(a *Args) { a.Major = 6; a.HasVersion = true })},
		{"is_features=0", defaults},
		{"is_features=0:0", defaults},
		{"is_usemultipleactivationskey=false&is_numberofactivationsperkey=3",
			with(func(a *Args) { a.MultipleActivationsKey = false; a.ActivationsPerKey = 3 })},
		{"is_usemultipleactivationskey=0", with(func(a *Args) { a.MultipleActivationsKey = false })},
		{"is_usemultipleactivationskey=TRUE", defaults},
		{"is_licensemodel=Subscription", with(func(a *Args) { a.LicenseModel = "subscription" })},
		{"is_expduration=30", with(func(a *Args) { a.ExpDuration = 30 })},
		{"is_expduration=0", defaults},
		{"is_expdate=2026-03-31", with(func(a *Args) { a.ExpDate = date(2026, time.March, 31) })},
		{"is_expdate=2026-03-31T23:59:59", with(func(a *Args) { a.ExpDate = time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC) })},
		{"is_expdate=3/31/2026", with(func(a *Args) { a.ExpDate = date(2026, time.March, 31) })},
		{"is_expdate=03/01/2026", with(func(a *Args) { a.ExpDate = date(2026, time.March, 1) })},
		{"is_send_mail=false", with(func(a *Args) { a.SendMail = false })},
		{"is_send_mail=0", with(func(a *Args) { a.SendMail = false })},
		{"is_send_mail=NO", with(func(a *Args) { a.SendMail = false })},
		{"is_send_mail=yes", defaults},
		{"is_emailtemplate=Welcome+Pro&is_affiliateid=aff-7&is_qlmversion=6.0.00",
			with(func(a *Args) { a.EmailTemplate = "Welcome Pro"; a.AffiliateID = "aff-7"; a.QLMVersion = "6.0.00" })},
		{"is_productid=3&IS_PRODUCTID=3", with(func(a *Args) { a.ProductID = 3; a.HasProductID = true })}, // same value twice is fine
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseArgs(q)
			if err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseArgs = %+v\nwant        %+v", got, tt.want)
			}
		})
	}
}

func TestRawKeepsUnknownArgsButNoSecrets(t *testing.T) {
	q, err := ParseQuery(qlmQuery + "&is_custom=Abc&IS_USER=" + secretUser + "&IS_PWD=" + secretPwd)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseArgs(q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Raw["is_custom"] != "Abc" {
		t.Errorf("Raw[is_custom] = %q, want Abc", a.Raw["is_custom"])
	}
	for name, v := range a.Raw {
		if name == "is_user" || name == "is_pwd" || strings.Contains(v, secretUser) || strings.Contains(v, secretPwd) {
			t.Errorf("Raw holds a secret: %s=%q", name, v)
		}
	}
}

func TestParseQueryKeepsSemicolons(t *testing.T) {
	// The reason ParseQuery exists: url.ParseQuery drops these pairs.
	for _, raw := range []string{"is_features=0:3;1:1", "is_features=0%3A3%3B1%3A1", "&&is_features=0:3;1:1&"} {
		q, err := ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Get("is_features"); got != "0:3;1:1" {
			t.Errorf("ParseQuery(%q) is_features = %q, want 0:3;1:1", raw, got)
		}
	}
}

func TestErrors(t *testing.T) {
	const ok = "PURCHASE_ID=612345678&RUNNING_NO=1"
	post := func(query, body string) func() *http.Request {
		return func() *http.Request { return postRequest(qlmQuery+query, body) }
	}
	get := func(query string) func() *http.Request {
		return func() *http.Request { return getRequest(qlmQuery + query) }
	}
	bigBody := ok + "&ADDITIONAL1=" + strings.Repeat("x", MaxBodyBytes)

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		want   string
	}{
		{"missing PURCHASE_ID", post("", "RUNNING_NO=1"), 400, "PURCHASE_ID: missing"},
		{"empty PURCHASE_ID", post("", "PURCHASE_ID=+&RUNNING_NO=1"), 400, "PURCHASE_ID: missing"},
		{"missing RUNNING_NO", post("", "PURCHASE_ID=1"), 400, "RUNNING_NO: missing"},
		{"missing both via GET", get(""), 400, "PURCHASE_ID: missing"},
		{"PURCHASE_ID characters", post("", "PURCHASE_ID=61+23&RUNNING_NO=1"), 400,
			`PURCHASE_ID: "61 23" holds characters other than A-Z a-z 0-9 ._-`},
		{"PURCHASE_ID too long", post("", "PURCHASE_ID="+strings.Repeat("7", 65)+"&RUNNING_NO=1"), 400,
			"PURCHASE_ID: longer than 64 characters"},
		{"RUNNING_NO characters", post("", "PURCHASE_ID=1&RUNNING_NO=1%2F2"), 400,
			`RUNNING_NO: "1/2" holds characters other than A-Z a-z 0-9 ._`},
		{"RUNNING_NO dash keeps LineID unambiguous", post("", "PURCHASE_ID=1&RUNNING_NO=2-3"), 400,
			`RUNNING_NO: "2-3" holds characters other than A-Z a-z 0-9 ._`},
		{"RUNNING_NO too long", post("", "PURCHASE_ID=1&RUNNING_NO="+strings.Repeat("1", 65)), 400,
			"RUNNING_NO: longer than 64 characters"},

		{"is_productid given twice", post("&IS_PRODUCTID=2", ok), 400, `is_productid: given more than once with different values`},
		{"is_productid not numeric", func() *http.Request { return postRequest("is_productid=abc", ok) }, 400,
			`is_productid: "abc" is not a number from 0 to 4294967295`},
		{"is_productid negative", func() *http.Request { return postRequest("is_productid=-1", ok) }, 400,
			`is_productid: "-1" is not a number from 0 to 4294967295`},
		{"is_productid too big", func() *http.Request { return postRequest("is_productid=4294967296", ok) }, 400,
			`is_productid: "4294967296" is not a number from 0 to 4294967295`},
		{"is_majorversion not numeric", func() *http.Request { return postRequest("is_majorversion=v1&is_minorversion=0", ok) }, 400,
			`is_majorversion: "v1" is not a number from 0 to 4294967295`},
		{"is_minorversion not numeric", func() *http.Request { return postRequest("is_majorversion=1&is_minorversion=1.5", ok) }, 400,
			`is_minorversion: "1.5" is not a number from 0 to 4294967295`},
		{"is_minorversion missing", func() *http.Request { return postRequest("is_majorversion=1", ok) }, 400,
			"is_minorversion: missing while is_majorversion is given"},
		{"is_majorversion missing", func() *http.Request { return postRequest("is_minorversion=1", ok) }, 400,
			"is_majorversion: missing while is_minorversion is given"},

		{"features set out of range", features("0:3;5:1"), 400, "is_features: set 5 out of range 0-3"},
		{"features value out of range", features("0:256"), 400, "is_features: value 256 out of range 0-255"},
		{"features duplicate set", features("0:3;0:1"), 400, "is_features: set 0 given twice"},
		{"features no colon", features("abc"), 400, `is_features: "abc" is not set:value`},
		{"features trailing semicolon", features("0:3;"), 400, `is_features: "" is not set:value`},
		{"features value not numeric", features("0:x"), 400, `is_features: value "x" is not a number`},
		{"features negative set", features("-1:3"), 400, `is_features: set "-1" is not a number`},
		{"features huge value", features("1:99999999999999999999999"), 400,
			"is_features: value 99999999999999999999... out of range 0-255"},

		{"is_quantity zero", post("&is_quantity=0", ok), 400, "is_quantity: 0 is less than 1"},
		{"is_quantity not numeric", post("&is_quantity=two", ok), 400, `is_quantity: "two" is not a whole number`},
		{"QUANTITY zero", post("", ok+"&QUANTITY=0"), 400, "QUANTITY: 0 is less than 1"},
		{"QUANTITY negative", post("", ok+"&QUANTITY=-3"), 400, "QUANTITY: -3 is less than 1"},
		{"QUANTITY fraction", post("", ok+"&QUANTITY=1.5"), 400, `QUANTITY: "1.5" is not a whole number`},
		{"activations per key zero", post("&is_numberofactivationsperkey=0", ok), 400, "is_numberofactivationsperkey: 0 is less than 1"},
		{"activations per key not numeric", post("&is_numberofactivationsperkey=many", ok), 400,
			`is_numberofactivationsperkey: "many" is not a whole number`},
		{"expduration negative", post("&is_expduration=-1", ok), 400, "is_expduration: -1 is negative"},
		{"expduration not numeric", post("&is_expduration=1y", ok), 400, `is_expduration: "1y" is not a whole number`},
		{"expdate bad month", post("&is_expdate=2025-13-01", ok), 400, `is_expdate: "2025-13-01" is not a date (yyyy-MM-dd)`},
		{"expdate garbage", post("&is_expdate=next+year", ok), 400, `is_expdate: "next year" is not a date (yyyy-MM-dd)`},
		{"PURCHASE_DATE ISO", post("", ok+"&PURCHASE_DATE=2025-03-14"), 400, `PURCHASE_DATE: "2025-03-14" is not a date (dd/MM/yyyy)`},
		{"PURCHASE_DATE impossible", post("", ok+"&PURCHASE_DATE=31%2F02%2F2025"), 400, `PURCHASE_DATE: "31/02/2025" is not a date (dd/MM/yyyy)`},
		{"bool multiple activations", post("&is_usemultipleactivationskey=maybe", ok), 400,
			`is_usemultipleactivationskey: "maybe" is not true or false`},
		{"bool send mail", post("&is_send_mail=perhaps", ok), 400, `is_send_mail: "perhaps" is not true or false`},

		{"EMAIL invalid", post("", ok+"&EMAIL=not-an-address"), 400, "EMAIL: not a valid e-mail address"},
		{"EMAIL two addresses", post("", ok+"&EMAIL=a%40example.com%2Cb%40example.com"), 400, "EMAIL: not a valid e-mail address"},
		{"ENCODING unknown", post("", ok+"&ENCODING=UTF16"), 400, `ENCODING: "UTF16" is not UTF8 or ISO-8859-1`},
		{"UTF8 with latin1 bytes", post("", ok+"&ENCODING=UTF8&FIRSTNAME=J%FCrgen"), 400,
			"FIRSTNAME: not valid UTF-8 although ENCODING is UTF8"},
		{"UTF8 with latin1 name", post("", ok+"&ENCODING=UTF8&ADD[Stra%DFe]=1"), 400,
			`"ADD[Stra\xdfe]": field name is not valid UTF-8 although ENCODING is UTF8`},
		{"NUL in field", post("", ok+"&FIRSTNAME=a%00b"), 400, "FIRSTNAME: contains a NUL byte"},
		{"bad escape in body", post("", ok+"&FIRSTNAME=%zz"), 400, "body: malformed percent-encoding in FIRSTNAME"},
		{"bad escape in query", get("&" + ok + "&CITY=50%"), 400, "query: malformed percent-encoding in CITY"},
		{"bad escape in name", post("", ok+"&%zz=1"), 400, "body: malformed percent-encoding in a field name"},

		// The credentials must not leak through any of these.
		{"is_pwd bad escape", func() *http.Request { return postRequest("is_pwd="+secretPwd+"%zz", ok) }, 400,
			"query: malformed percent-encoding in is_pwd"},
		{"is_pwd twice", func() *http.Request { return postRequest(qlmQuery+"&IS_PWD="+secretPwd+"x", ok) }, 400,
			"is_pwd: given more than once with different values"},
		{"is_user twice", func() *http.Request { return postRequest(qlmQuery+"&is_user="+secretUser+"x", ok) }, 400,
			"is_user: given more than once with different values"},
		{"is_pwd not UTF-8", func() *http.Request { return postRequest("is_pwd="+secretPwd+"%FF", ok) }, 400,
			"is_pwd: not valid UTF-8"},
		{"is_user NUL", func() *http.Request { return postRequest("is_user="+secretUser+"%00", ok) }, 400,
			"is_user: contains a NUL byte"},

		{"body too big", post("", bigBody), 413, "body: larger than 1 MiB"},
		{"body too big, length unknown", func() *http.Request {
			r := postRequest(qlmQuery, bigBody)
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(bigBody))
			return r
		}, 413, "body: larger than 1 MiB"},
		{"body capped by caller", func() *http.Request {
			r := postRequest(qlmQuery, ok+"&ADDITIONAL1="+strings.Repeat("x", 100))
			r.Body = http.MaxBytesReader(nil, r.Body, 50)
			return r
		}, 413, "body: larger than 1 MiB"},
		{"JSON body", func() *http.Request {
			r := postRequest(qlmQuery, `{"PURCHASE_ID":"1"}`)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 415, `Content-Type: "application/json" is not application/x-www-form-urlencoded`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.req())
			bad, ok := errors.AsType[*BadRequestError](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *BadRequestError", err, err)
			}
			if bad.Status != tt.status {
				t.Errorf("Status = %d, want %d", bad.Status, tt.status)
			}
			if err.Error() != tt.want || bad.Reason() != tt.want {
				t.Errorf("Error() = %q\nwant      %q", err.Error(), tt.want)
			}
			checkMessage(t, err.Error())
		})
	}
}

// features builds a request whose only problem is is_features.
func features(value string) func() *http.Request {
	return func() *http.Request {
		return postRequest("is_user="+secretUser+"&is_pwd="+secretPwd+"&is_features="+value, "PURCHASE_ID=1&RUNNING_NO=1")
	}
}

// checkMessage holds every error text to what may go back to ShareIt.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(msg, "shareit-USER") || strings.Contains(msg, "S3cr3t") {
		t.Errorf("error %q reveals a credential", msg)
	}
	if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
		t.Errorf("error %q is not one clean line", msg)
	}
}

func TestNilBody(t *testing.T) {
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{RawQuery: "PURCHASE_ID=5&RUNNING_NO=1"}, Header: http.Header{}}
	req, err := ParseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if req.Order.LineID() != "5-1" {
		t.Errorf("LineID() = %q, want 5-1", req.Order.LineID())
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		in   string
		want [4]uint8
		text string // want.String()
	}{
		{"", [4]uint8{}, "0"},
		{"0", [4]uint8{}, "0"},
		{" 0 ", [4]uint8{}, "0"},
		{"0:0", [4]uint8{}, "0"},
		{"0:3;1:1", [4]uint8{3, 1, 0, 0}, "0:3;1:1"},
		{"1:1;0:3", [4]uint8{3, 1, 0, 0}, "0:3;1:1"},
		{"3:255", [4]uint8{0, 0, 0, 255}, "3:255"},
		{"0:1;1:2;2:4;3:128", [4]uint8{1, 2, 4, 128}, "0:1;1:2;2:4;3:128"},
		{"2:007", [4]uint8{0, 0, 7, 0}, "2:7"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFeatures(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseFeatures(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if text := got.String(); text != tt.text {
				t.Errorf("%v.String() = %q, want %q", got, text, tt.text)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"order_latin1.form", "order_utf8.form"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, qlmQuery, "application/x-www-form-urlencoded", string(data))
		f.Add(false, qlmQuery+"&"+string(data), "", "")
	}
	f.Add(true, "is_features=0:3;9:1&is_expdate=1/2/2026", "", "PURCHASE_ID=1&RUNNING_NO=1&EMAIL=%zz")
	f.Add(true, "IS_QUANTITY=2&is_quantity=3", "text/plain", "ENCODING=UTF8&FIRSTNAME=\xff")

	f.Fuzz(func(t *testing.T, post bool, query, contentType, body string) {
		r := httptest.NewRequest(http.MethodGet, keygenPath, nil)
		if post {
			r = httptest.NewRequest(http.MethodPost, keygenPath, strings.NewReader(body))
			r.Header.Set("Content-Type", contentType)
		}
		r.URL.RawQuery = query
		req, err := ParseRequest(r)
		if err != nil {
			if _, ok := errors.AsType[*BadRequestError](err); !ok {
				t.Fatalf("err = %v (%T), want *BadRequestError", err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Fatalf("error %q is not one clean line", msg)
			}
			return
		}
		if req.Order.PurchaseID == "" || req.Order.RunningNo == "" || strings.Contains(req.Order.RunningNo, "-") {
			t.Fatalf("accepted line id %q", req.Order.LineID())
		}
		if req.Quantity() < 1 || req.Args.ActivationsPerKey < 1 {
			t.Fatalf("Quantity() = %d, ActivationsPerKey = %d", req.Quantity(), req.Args.ActivationsPerKey)
		}
		for name, v := range req.Order.Fields {
			if strings.HasPrefix(strings.ToLower(name), "is_") || !utf8.ValidString(name) || !utf8.ValidString(v) {
				t.Fatalf("Fields holds %q=%q", name, v)
			}
		}
		if _, ok := req.Args.Raw["is_pwd"]; ok {
			t.Fatal("Raw holds is_pwd")
		}
		if _, ok := req.Args.Raw["is_user"]; ok {
			t.Fatal("Raw holds is_user")
		}
		if f, err := ParseFeatures(req.Args.Features.String()); err != nil || f != req.Args.Features {
			t.Fatalf("features %v do not survive FormatFeatures: %v, %v", req.Args.Features, f, err)
		}
	})
}

func FuzzParseFeatures(f *testing.F) {
	for _, s := range []string{"", "0", "0:3;1:1", "3:255", "4:1", "0:256", "0:1;0:2", "1:", ":", ";", "0:3;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		features, err := ParseFeatures(s)
		if err != nil {
			if _, ok := errors.AsType[*BadRequestError](err); !ok {
				t.Fatalf("err = %v (%T), want *BadRequestError", err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Fatalf("error %q is not one clean line", msg)
			}
			return
		}
		text := features.String()
		again, err := ParseFeatures(text)
		if err != nil || again != features {
			t.Fatalf("ParseFeatures(%v.String()) = %v, %v", features, again, err)
		}
	})
}
