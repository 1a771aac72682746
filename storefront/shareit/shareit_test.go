package shareit

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The credentials in the test URLs. No error, warning or qlm.Args.Raw may ever
// show either of them: errors go back to ShareIt and into logs, warnings and
// Raw are stored with the order.
const (
	secretUser = "shareit-USER-7f3a"
	secretPwd  = "S3cr3t-PWD-c0ffee"
)

// guideURL is the Key Generator URL of QLM's ShareIt guide
// (qlmdocs/3rd-party-integration/shareit-how-to-integrate-qlm-with-md
// in soraco/qlm) with its example values: the query opens with "?&" and
// is_features carries an unencoded ';'. The arguments are those of
// qlmdocs/api-reference/http-methods/getactivationkey.md.
const guideURL = "/yourvirtualdirectory/qlmservice.asmx/GetActivationKey?&is_vendor=ShareIt&is_productid=1" +
	"&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_pwd=<pwd>&is_user=<user>&is_features=0:3;1:1"

// qlmQuery is the guide's query with the test credentials filled in.
var qlmQuery = strings.NewReplacer("<pwd>", secretPwd, "<user>", secretUser).
	Replace(guideURL[strings.IndexByte(guideURL, '?')+1:])

// guideArgs are the arguments qlmQuery decodes to.
func guideArgs() qlm.Args {
	return qlm.Args{
		Vendor: "ShareIt", ProductID: 1, HasProductID: true, Major: 1, Minor: 0, HasVersion: true,
		QLMVersion: "5.0.00", Features: [4]uint8{3, 1, 0, 0},
		MultipleActivationsKey: true, SendMail: true,
		Raw: map[string]string{
			"is_vendor": "ShareIt", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0",
			"is_qlmversion": "5.0.00", "is_features": "0:3;1:1",
		},
	}
}

const keygenPath = "/qlmservice.asmx/GetActivationKey"

// orderLine is the least a purchase line needs.
const orderLine = "PURCHASE_ID=612345678&RUNNING_NO=1"

func getRequest(query string) *http.Request {
	return httptest.NewRequest(http.MethodGet, keygenPath+"?"+query, nil)
}

func postRequest(query, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, keygenPath+"?"+query, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// decodeRequest is what a handler does with a call without a product mapping.
func decodeRequest(r *http.Request, opt Options) (storefront.Request, error) {
	call, err := qlm.ReadCall(r)
	if err != nil {
		return storefront.Request{}, err
	}
	return Decode(call, opt)
}

// mustDecode decodes a call that must be accepted, and checks what every
// accepted call must satisfy.
func mustDecode(t *testing.T, r *http.Request, opt Options) storefront.Request {
	t.Helper()
	req, err := decodeRequest(r, opt)
	require.NoError(t, err)
	checkAccepted(t, req)
	return req
}

// checkAccepted holds a decoded request to the package's promises: warnings
// are clean lines without credentials, Raw holds no credentials, Fields holds
// no arguments.
func checkAccepted(t *testing.T, req storefront.Request) {
	t.Helper()
	for _, w := range req.Warnings {
		checkMessage(t, w)
	}
	assert.NotContains(t, req.Args.Raw, "is_user")
	assert.NotContains(t, req.Args.Raw, "is_pwd")
	for name, v := range req.Args.Raw {
		assert.NotContains(t, v, secretUser, "Raw[%s]", name)
		assert.NotContains(t, v, secretPwd, "Raw[%s]", name)
	}
	for name := range req.Purchase.Fields {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "is_"), "Fields holds argument %q", name)
	}
}

// mustRefuse decodes a call that must be refused and returns the refusal.
func mustRefuse(t *testing.T, r *http.Request, opt Options) *qlm.BadRequestError {
	t.Helper()
	_, err := decodeRequest(r, opt)
	require.Error(t, err)
	bad, ok := err.(*qlm.BadRequestError)
	require.True(t, ok, "err = %v (%T), want *qlm.BadRequestError", err, err)
	assert.Equal(t, bad.Reason(), err.Error())
	checkMessage(t, err.Error())
	return bad
}

// checkMessage holds an error or warning to what may go back to ShareIt or
// into a log: one line of printable UTF-8, no credentials.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	assert.NotContains(t, msg, secretUser, "message reveals is_user")
	assert.NotContains(t, msg, secretPwd, "message reveals is_pwd")
	assert.True(t, cleanLine(msg), "message %q is not one printable line of UTF-8", msg)
}

func readSample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	// Editors like a final newline; ShareIt sends none.
	return strings.TrimRight(string(data), "\r\n")
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// TestSamples decodes the two sample order lines in testdata, posted as
// ShareIt posts them and sent as GET with the fields in the query.
func TestSamples(t *testing.T) {
	latin1 := storefront.Purchase{
		PurchaseID: "612345678", RunningNo: "1", PurchaseDate: date(2025, time.March, 14),
		Quantity: 2,
		RegName:  "Jürgen Müller", FirstName: "Jürgen", LastName: "Müller",
		Company: "Müller & Söhne GmbH", Email: "juergen.mueller@example.de", Phone: "+49 89 1234567",
		Street: "Hauptstraße 5", City: "München", Zip: "80331", State: "Bayern", Country: "Deutschland",
		ISOCode: "DE", Language: "2",
	}
	utf8Line := storefront.Purchase{
		PurchaseID: "612345679", RunningNo: "2", PurchaseDate: date(2025, time.April, 1),
		Quantity: 1,
		RegName:  "Jürgen Müller", FirstName: "Jürgen", LastName: "Müller",
		Company: "Zakład Łódź Sp. z o.o.", Email: "j.mueller@example.pl", Phone: "+48 42 6312345",
		Street: "ul. Piotrkowska 104", City: "Łódź", Zip: "90-001", Country: "Polska",
		ISOCode: "PL", Language: "1", Reseller: "Softwarehaus Łódź",
		ExpiryDate: date(2026, time.April, 1),
		UTF8:       true,
	}

	tests := []struct {
		file       string
		viaGet     bool
		want       storefront.Purchase
		wantFields map[string]string // a few of Purchase.Fields, unknown ones in particular
	}{
		{file: "order_latin1.form", want: latin1, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "4711-Ä", "SALUTATION": "Herr", "NLALLOW": "NO", "FAX": "", "CITY": "München",
			"PRODUCT_ID": "300123456", "PROMOTION_NAME": "Frühjahr 2025", "PROMOTION_COUPON_CODE": "SPRING25",
		}},
		{file: "order_latin1.form", viaGet: true, want: latin1, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "4711-Ä", "SALUTATION": "Herr",
		}},
		{file: "order_utf8.form", want: utf8Line, wantFields: map[string]string{
			"ADD[LICENSEENUMBER]": "€-4711", "EXPIRY_DATE": "01/04/2026", "ENCODING": "UTF8", "INVOICE": "PAID",
			"PRODUCT_ID": "300123457", "ADDITIONAL1": "Workstation 12",
		}},
		{file: "order_utf8.form", viaGet: true, want: utf8Line, wantFields: map[string]string{
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
			req := mustDecode(t, r, Options{})

			assert.Equal(t, guideArgs(), req.Args)
			assert.Empty(t, req.Warnings)

			fields := req.Purchase.Fields
			for name, want := range tt.wantFields {
				assert.Contains(t, fields, name)
				assert.Equal(t, want, fields[name], "Fields[%q]", name)
			}
			assert.Len(t, fields, strings.Count(body, "&")+1, "Fields holds every field sent")

			got := req.Purchase
			got.Fields = nil
			assert.Equal(t, tt.want, got)
			assert.False(t, got.Renewal())
			assert.Equal(t, "Jürgen Müller", got.FullName())
			assert.Equal(t, tt.want.Quantity, req.Quantity())
			assert.Equal(t, tt.want.Reseller, req.AffiliateID())
		})
	}
}

// TestSampleUTF8ProviderReadsLatin1 is a provider that set Options.UTF8 (as
// QLM has vendors set ShareIt to UTF-8) receiving a Latin-1 line anyway: it
// is read as Windows-1252, with a warning, rather than refused.
func TestSampleUTF8ProviderReadsLatin1(t *testing.T) {
	req := mustDecode(t, postRequest(qlmQuery, readSample(t, "order_latin1.form")), Options{UTF8: true})
	assert.Equal(t, "München", req.Purchase.City)
	assert.False(t, req.Purchase.UTF8)
	assert.Equal(t, []string{"ENCODING: the fields are not valid UTF-8; read as Windows-1252"}, req.Warnings)
}

func TestCaseInsensitiveNames(t *testing.T) {
	query := "IS_VENDOR=shareit&IS_PRODUCTID=7&is_MajorVersion=2&Is_MinorVersion=3&IS_FEATURES=2:255" +
		"&IS_USER=" + secretUser + "&Is_Pwd=" + secretPwd + "&IS_QUANTITY=5&Is_Send_Mail=No"
	body := "purchase_id=9&Running_No=1&email=ann%40example.com&FirstName=Ann&lastname=Lee&Add[LicenseeNumber]=x-1&encoding=utf8"
	r := postRequest(query, body)
	call, err := qlm.ReadCall(r)
	require.NoError(t, err)

	// Call exposes arguments under lower-case names and fields by any case.
	assert.Equal(t, "7", call.Arg("is_productid"))
	user, pwd := call.Credentials()
	assert.Equal(t, secretUser, user)
	assert.Equal(t, secretPwd, pwd)
	v, ok := call.Field("PURCHASE_ID")
	assert.True(t, ok)
	assert.Equal(t, "9", v)

	req, err := Decode(call, Options{})
	require.NoError(t, err)
	checkAccepted(t, req)
	a := req.Args
	assert.Equal(t, "shareit", a.Vendor)
	assert.Equal(t, uint32(7), a.ProductID)
	assert.True(t, a.HasVersion)
	assert.Equal(t, [2]uint32{2, 3}, [2]uint32{a.Major, a.Minor})
	assert.Equal(t, [4]uint8{0, 0, 255, 0}, [4]uint8(a.Features))
	assert.Equal(t, 5, a.Quantity)
	assert.False(t, a.SendMail)
	assert.Equal(t, map[string]string{
		"is_vendor": "shareit", "is_productid": "7", "is_majorversion": "2", "is_minorversion": "3",
		"is_features": "2:255", "is_quantity": "5", "is_send_mail": "No",
	}, a.Raw)

	p := req.Purchase
	assert.Equal(t, "9", p.PurchaseID)
	assert.Equal(t, "1", p.RunningNo)
	assert.Equal(t, "ann@example.com", p.Email)
	assert.Equal(t, "Ann Lee", p.FullName())
	assert.True(t, p.UTF8)
	assert.Equal(t, map[string]string{
		"purchase_id": "9", "Running_No": "1", "email": "ann@example.com", "FirstName": "Ann",
		"lastname": "Lee", "Add[LicenseeNumber]": "x-1", "encoding": "utf8",
	}, p.Fields, "Fields keeps the names as sent")
	assert.Equal(t, 5, req.Quantity(), "is_quantity wins over QUANTITY")
	assert.Empty(t, req.Warnings)
}

// TestFieldPrefersExactName: among case variants of a field, Field and the
// Purchase prefer the exact name, else the first variant in sorted order
// (ShareIt's all-upper spelling sorts first).
func TestFieldPrefersExactName(t *testing.T) {
	call, err := qlm.ReadCall(postRequest("", "PURCHASE_ID=1&city=lower&CITY=UPPER&City=Title"))
	require.NoError(t, err)
	for name, want := range map[string]string{"city": "lower", "CITY": "UPPER", "City": "Title", "cItY": "UPPER"} {
		got, ok := call.Field(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, got, "Field(%q)", name)
	}
	_, ok := call.Field("ZIP")
	assert.False(t, ok)

	req, err := Decode(call, Options{})
	require.NoError(t, err)
	assert.Equal(t, "UPPER", req.Purchase.City)
}

// TestBodyWinsOverQuery: order fields are ShareIt's and come in the body; the
// URL is the vendor's. A body field replaces a query field of the same name.
// is_* arguments are the other way round (see TestArgsInBody).
func TestBodyWinsOverQuery(t *testing.T) {
	query := "PURCHASE_ID=1&RUNNING_NO=3&EMAIL=query%40example.com&CITY=Querytown&ADD[X]=q1&ADD[X]=q2"
	body := "PURCHASE_ID=2&EMAIL=body%40example.com&ADD[X]=b"
	req := mustDecode(t, postRequest(query, body), Options{})
	p := req.Purchase
	assert.Equal(t, "2", p.PurchaseID)
	assert.Equal(t, "3", p.RunningNo, "a field only in the query is kept")
	assert.Equal(t, "body@example.com", p.Email)
	assert.Equal(t, "Querytown", p.City)
	assert.Equal(t, map[string]string{
		"PURCHASE_ID": "2", "RUNNING_NO": "3", "EMAIL": "body@example.com", "CITY": "Querytown", "ADD[X]": "b",
	}, p.Fields)
	assert.Empty(t, req.Warnings, "replaced query values are not 'given more than once'")
}

// TestBodyWinsOverQueryAnyCase is the case-insensitive half of the rule,
// which the previous implementation kept: a body "email" must replace a
// query "EMAIL".
func TestBodyWinsOverQueryAnyCase(t *testing.T) {
	req := mustDecode(t, postRequest("PURCHASE_ID=1&EMAIL=query%40example.com", "email=body%40example.com"), Options{})
	assert.Equal(t, "body@example.com", req.Purchase.Email)
	assert.NotContains(t, req.Purchase.Fields, "EMAIL")
}

// TestRepeatedField: a field given more than once keeps its first value, with
// a warning that names the field only when the values differ.
func TestRepeatedField(t *testing.T) {
	req := mustDecode(t, postRequest("", orderLine+"&CITY=One&CITY=Two&ZIP=1&ZIP=1"), Options{})
	assert.Equal(t, "One", req.Purchase.City)
	assert.Equal(t, "1", req.Purchase.Zip)
	assert.Equal(t, []string{"CITY: given more than once; the first value is kept"}, req.Warnings)
}

// TestNilBodyAndURL: requests built by hand rather than by net/http.
func TestNilBodyAndURL(t *testing.T) {
	r := &http.Request{Method: http.MethodPost, URL: nil, Header: http.Header{}}
	bad := mustRefuse(t, r, Options{})
	assert.Equal(t, "PURCHASE_ID: missing", bad.Reason())

	r = &http.Request{Method: http.MethodPost, URL: getRequest(orderLine).URL, Header: http.Header{}}
	req := mustDecode(t, r, Options{})
	assert.Equal(t, "612345678", req.Purchase.PurchaseID)
}
