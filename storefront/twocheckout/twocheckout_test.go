package twocheckout

import (
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // 2Checkout's
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

func provider(t *testing.T) *config.Provider {
	t.Helper()
	cfg, err := testenv.Config()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := cfg.Provider("2checkout")
	if !ok {
		t.Fatal("no 2checkout provider")
	}
	return p
}

const target = "/qlmservice.asmx/QlmWebHookHandler?is_vendor=2checkout&is_user=2checkout&is_pwd=x"

// form encodes pairs in order, with field sig=value appended when sig is
// not "".
func form(pairs [][2]string) string {
	var b []string
	for _, p := range pairs {
		b = append(b, url.QueryEscape(p[0])+"="+url.QueryEscape(p[1]))
	}
	return strings.Join(b, "&")
}

// independent implementation of 2Checkout's source string.
func src(values ...string) string {
	var b strings.Builder
	for _, v := range values {
		if v == "" {
			b.WriteString("0")
			continue
		}
		b.WriteString(strconv.Itoa(len(v)) + v)
	}
	return b.String()
}

func md5Hex(secret, s string) string {
	m := hmac.New(md5.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func ipnOrder(status string) [][2]string {
	return [][2]string{
		{"SALEDATE", "2024-06-01 12:22:09"}, {"REFNO", "1000037"}, {"REFNOEXT", ""}, {"ORDERNO", "13"},
		{"ORDERSTATUS", status}, {"FIRSTNAME", "John"}, {"LASTNAME", "Smith"}, {"COMPANY", "Acme"},
		{"CUSTOMEREMAIL", "john@example.com"}, {"COUNTRY_CODE", "us"},
		{"IPN_PID[]", "8019770900775"}, {"IPN_PID[]", "4711"}, {"IPN_PID[]", "999"},
		{"IPN_PNAME[]", "Demo App"}, {"IPN_PNAME[]", "Single Tool"}, {"IPN_PNAME[]", "Unmapped"},
		{"IPN_QTY[]", "3"}, {"IPN_QTY[]", "1"}, {"IPN_QTY[]", "1"},
		{"IPN_DATE", "20240601122210"},
	}
}

func signed(pairs [][2]string, secret string) [][2]string {
	var values []string
	for _, p := range pairs {
		values = append(values, p[1])
	}
	return append(pairs, [2]string{"HASH", md5Hex(secret, src(values...))})
}

func call(t *testing.T, p *config.Provider, body string) (*storefront.Call, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c, err := Kind{}.Read(r, p, storefront.WebHook)
	if err != nil {
		t.Fatal(err)
	}
	return c, Kind{}.Verify(c, p)
}

func status(err error) int {
	if bad, ok := errors.AsType[*qlm.BadRequestError](err); ok {
		return bad.Status
	}
	return 0
}

func TestSourceMatchesTheDocsExample(t *testing.T) {
	// 2Checkout's read receipt example: IPN_PID[0] 1, IPN_PNAME[0]
	// "Software program", IPN_DATE and DATE 20050303123434.
	f := ipn{pairs: [][2]string{{"IPN_PID[]", "1"}, {"IPN_PNAME[]", "Software program"}, {"IPN_DATE", "20050303123434"}}, signed: 2}
	date := time.Date(2005, 3, 3, 12, 34, 34, 0, time.UTC)
	want := "<EPAYMENT>20050303123434|" + md5Hex("k", "1116Software program14200503031234341420050303123434") + "</EPAYMENT>"
	if got := ReadReceipt(f, "k", date); got != want {
		t.Errorf("read receipt %q, want %q", got, want)
	}
	if got := string(source([][2]string{{"A", "0"}, {"B", ""}, {"HASH", "x"}, {"C", "é"}})); got != "1002é" {
		t.Errorf("source %q", got)
	}
}

func TestReadReceiptSHA256(t *testing.T) {
	f := ipn{pairs: [][2]string{{"IPN_PID[0]", "1"}, {"IPN_PNAME[0]", "P"}, {"IPN_DATE", "20240101000000"}}, signed: 1}
	date := time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("111P14202401010000001420240101000001"))
	want := `<sig algo="sha256" date="20240101000001">` + hex.EncodeToString(m.Sum(nil)) + "</sig>"
	if got := ReadReceipt(f, "k", date); !strings.HasSuffix(got, "\n"+want) || !strings.HasPrefix(got, "<EPAYMENT>20240101000001|") {
		t.Errorf("read receipt %q, want EPAYMENT and %q", got, want)
	}
}

func TestHash(t *testing.T) {
	p := provider(t)
	if _, err := call(t, p, form(signed(ipnOrder("COMPLETE"), testenv.TwoCheckoutSecretKey))); err != nil {
		t.Fatalf("right hash: %v", err)
	}
	if _, err := call(t, p, form(signed(ipnOrder("COMPLETE"), "not-the-secret"))); status(err) != 401 {
		t.Errorf("wrong hash: %v, want 401", err)
	}
	if _, err := call(t, p, form(ipnOrder("COMPLETE"))); status(err) != 401 {
		t.Errorf("no hash: %v, want 401", err)
	}
	// A field changed after signing.
	tampered := signed(ipnOrder("COMPLETE"), testenv.TwoCheckoutSecretKey)
	tampered[1][1] = "1000038"
	if _, err := call(t, p, form(tampered)); status(err) != 401 {
		t.Errorf("tampered: %v, want 401", err)
	}
	// SHA-256, the newer accounts'.
	pairs := ipnOrder("COMPLETE")
	var values []string
	for _, kv := range pairs {
		values = append(values, kv[1])
	}
	m := hmac.New(sha256.New, []byte(testenv.TwoCheckoutSecretKey))
	m.Write([]byte(src(values...)))
	withSHA := append(pairs, [2]string{"SIGNATURE_SHA2_256", hex.EncodeToString(m.Sum(nil))}, [2]string{"HASH", "ignored"})
	c, err := call(t, p, form(withSHA))
	if err != nil {
		t.Fatalf("sha256: %v", err)
	}
	if f := c.Parsed.(ipn); f.signed != 1 {
		t.Errorf("signed by %d, want SHA2", f.signed)
	}
}

func decode(t *testing.T, status string) storefront.Reading {
	t.Helper()
	p := provider(t)
	c, err := call(t, p, form(signed(ipnOrder(status), testenv.TwoCheckoutSecretKey)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Kind{}.Decode(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestComplete(t *testing.T) {
	r := decode(t, "COMPLETE")
	if !r.Notify || len(r.Events) != 1 || r.Events[0] != "1000037-COMPLETE" {
		t.Fatalf("reading %+v", r)
	}
	if len(r.Requests) != 2 || len(r.Skipped) != 1 {
		t.Fatalf("requests %d skipped %v, want 2 and the unmapped one", len(r.Requests), r.Skipped)
	}
	a, b := r.Requests[0], r.Requests[1]
	if a.Args.ProductID != 1 || a.Purchase.Quantity != 3 || a.Purchase.RunningNo != "1" || a.Purchase.PurchaseID != "1000037" ||
		a.Purchase.Email != "john@example.com" || a.Purchase.FullName() != "John Smith" || a.Purchase.ISOCode != "US" ||
		!a.Confirmed || a.Event != "1000037-COMPLETE" || a.Purchase.PurchaseDate.IsZero() || a.Purchase.Fields["IPN_PNAME"] != "Demo App" {
		t.Errorf("line 1: %+v", a)
	}
	if b.Args.ProductID != 7 || b.Purchase.RunningNo != "2" {
		t.Errorf("line 2 (pid_ mapping): %+v", b)
	}
	if _, leaked := a.Purchase.Fields["HASH"]; leaked {
		t.Error("HASH stored")
	}
	now = func() time.Time { return time.Date(2024, 6, 1, 12, 22, 11, 0, time.UTC) }
	defer func() { now = time.Now }()
	got := r.Answer(r.Events)
	want := "<EPAYMENT>20240601122211|" + md5Hex(testenv.TwoCheckoutSecretKey, src("8019770900775", "Demo App", "20240601122210", "20240601122211")) + "</EPAYMENT>"
	if got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if got := r.Answer(nil); got != "" {
		t.Errorf("answer when not handled %q", got)
	}
}

func TestRevocations(t *testing.T) {
	for status, kind := range map[string]string{"REFUND": storefront.Refund, "REVERSED": storefront.Refund, "CHARGEBACK": storefront.Chargeback} {
		r := decode(t, status)
		if len(r.Requests) != 0 || len(r.Revocations) != 3 {
			t.Fatalf("%s: %+v", status, r)
		}
		rv := r.Revocations[1]
		if rv.Kind != kind || rv.Line.Name() != "2checkout:1000037-2" || rv.Event != "1000037-"+status {
			t.Errorf("%s: %+v (%s)", status, rv, rv.Line.Name())
		}
	}
}

func TestOtherStatusSkipped(t *testing.T) {
	r := decode(t, "PENDING")
	if len(r.Requests) != 0 || len(r.Revocations) != 0 || len(r.Skipped) != 1 || len(r.Events) != 1 || r.Answer == nil {
		t.Errorf("%+v", r)
	}
}

func TestReadRefusesOtherMethods(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/qlmservice.asmx/GetActivationKey", strings.NewReader(""))
	if _, err := (Kind{}).Read(r, provider(t), "getactivationkey"); status(err) != 400 {
		t.Errorf("%v", err)
	}
}

// licensed is ipnOrder with its lines' license fields: line 1's type,
// reference and expiry as given, line 2 a new license, line 3 none.
func licensed(typ, ref, exp string) [][2]string {
	pairs := ipnOrder("COMPLETE")
	date := pairs[len(pairs)-1]
	pairs = append(pairs[:len(pairs)-1],
		[2]string{"IPN_LICENSE_TYPE[]", typ}, [2]string{"IPN_LICENSE_TYPE[]", "NEW"}, [2]string{"IPN_LICENSE_TYPE[]", ""},
		[2]string{"IPN_LICENSE_REF[]", ref}, [2]string{"IPN_LICENSE_REF[]", "LREF2"}, [2]string{"IPN_LICENSE_REF[]", ""},
		[2]string{"IPN_LICENSE_EXP[]", exp}, [2]string{"IPN_LICENSE_EXP[]", "2025-06-01 00:00:00"}, [2]string{"IPN_LICENSE_EXP[]", ""},
		date)
	return pairs
}

func decodePairs(t *testing.T, pairs [][2]string) storefront.Reading {
	t.Helper()
	p := provider(t)
	c, err := call(t, p, form(signed(pairs, testenv.TwoCheckoutSecretKey)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Kind{}.Decode(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenewal(t *testing.T) {
	r := decodePairs(t, licensed("RENEWAL", "LREF1", "2027-01-01 00:00:00"))
	if len(r.Requests) != 2 || len(r.Skipped) != 1 {
		t.Fatalf("requests %d skipped %v, want 2 and the unmapped one", len(r.Requests), r.Skipped)
	}
	a, b := r.Requests[0], r.Requests[1]
	if a.Method != "renewsubscriptionhttp" || a.Purchase.Subscription != "LREF1" ||
		!a.Purchase.ExpiryDate.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		a.Purchase.PurchaseID != "1000037" || a.Purchase.RunningNo != "1" || a.Args.ProductID != 1 ||
		!a.Confirmed || a.Event != "1000037-COMPLETE" || len(a.Warnings) != 0 || a.Purchase.Fields["IPN_LICENSE_TYPE"] != "RENEWAL" {
		t.Errorf("renewal: %+v", a)
	}
	// A new license is a new line, whose subscription its renewals find.
	if b.Method != "getactivationkey" || b.Purchase.Subscription != "LREF2" || !b.Purchase.ExpiryDate.IsZero() || b.Purchase.RunningNo != "2" {
		t.Errorf("new license: %+v", b)
	}
}

func TestRenewalExpiry(t *testing.T) {
	r := decodePairs(t, licensed("renewal", "LREF1", "2027-01-01"))
	if a := r.Requests[0]; a.Method != "renewsubscriptionhttp" || !a.Purchase.ExpiryDate.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("bare date: %+v", a)
	}
	for _, exp := range []string{"01/01/2027", "never"} {
		r := decodePairs(t, licensed("RENEWAL", "LREF1", exp))
		a := r.Requests[0]
		if a.Method != "renewsubscriptionhttp" || !a.Purchase.ExpiryDate.IsZero() ||
			len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "IPN_LICENSE_EXP[0]: not a date") {
			t.Errorf("%q: expiry %v warnings %q", exp, a.Purchase.ExpiryDate, a.Warnings)
		}
	}
	// No expiry given: the renewal adds the line's own period, silently.
	if a := decodePairs(t, licensed("RENEWAL", "LREF1", "")).Requests[0]; !a.Purchase.ExpiryDate.IsZero() || len(a.Warnings) != 0 {
		t.Errorf("no expiry: %+v", a)
	}
}

func TestRenewalWithoutReferenceSkipped(t *testing.T) {
	r := decodePairs(t, licensed("RENEWAL", "", "2027-01-01 00:00:00"))
	if len(r.Requests) != 1 || r.Requests[0].Purchase.RunningNo != "2" || len(r.Skipped) != 2 ||
		!strings.Contains(r.Skipped[0], "line 1") || !strings.Contains(r.Skipped[0], "IPN_LICENSE_REF") {
		t.Errorf("requests %+v skipped %q", r.Requests, r.Skipped)
	}
}
