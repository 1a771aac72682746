package fastspring

import (
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // FastSpring's security_request_hash
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/storefronttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The secrets the test providers sign with, through these environment
// variables. No error or warning may show either.
const (
	privateKeyEnv    = "KEYSMITH_FS_TEST_PRIVATE_KEY"
	webhookSecretEnv = "KEYSMITH_FS_TEST_WEBHOOK_SECRET"
	privateKey       = "fs-private-0d1e-never-echo"
	webhookSecret    = "fs-webhook-77aa-never-echo"
)

// The products mapping of every test provider: demo-app maps to product 1
// 1.0 (features 0:3), mapped-only to product 7 2.1.
const productsYAML = `
    products:
      demo-app: "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
      mapped-only: "is_productid=7&is_majorversion=2&is_minorversion=1&is_features=1:1;2:4"
`

// newProvider is the fastspring provider of a configuration whose provider
// entry is extra (YAML lines indented four spaces, as productsYAML).
func newProvider(t testing.TB, extra string) *config.Provider {
	t.Helper()
	doc := "providers:\n  - name: fastspring\n    kind: fastspring\n" + extra + productsYAML +
		"products:\n  - {id: 1, name: Demo, major: 1, minor: 0}\nmail: {from: keys@example.com}\n"
	c, err := config.Parse([]byte(doc))
	require.NoError(t, err, "config:\n%s", doc)
	p, ok := c.Provider("fastspring")
	require.True(t, ok)
	return p
}

// signedProvider has both FastSpring secrets and nothing else.
func signedProvider(t *testing.T) *config.Provider {
	t.Setenv(privateKeyEnv, privateKey)
	t.Setenv(webhookSecretEnv, webhookSecret)
	return newProvider(t, "    private_key_env: "+privateKeyEnv+"\n    webhook_secret_env: "+webhookSecretEnv+"\n")
}

// openProvider signs nothing and checks nothing.
func openProvider(t *testing.T) *config.Provider {
	return newProvider(t, "    unauthenticated: true\n")
}

// The remote request.

const (
	remotePath  = "/qlmservice.asmx/GetActivationKey"
	remoteQuery = "is_vendor=fastspring&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
	remoteBody  = "reference=FS123-4567-8901&product=demo-app&name=Ada+Buyer&email=ada%40example.com&company=ACME&quantity=2"
)

// remoteArgs are what remoteQuery decodes to.
func remoteArgs() qlm.Args {
	return qlm.Args{
		Vendor: "fastspring", ProductID: 1, HasProductID: true, Major: 1, Minor: 0, HasVersion: true,
		Features: [4]uint8{3, 0, 0, 0}, MultipleActivationsKey: true, SendMail: true,
		Raw: map[string]string{
			"is_vendor": "fastspring", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "is_features": "0:3",
		},
	}
}

func remoteRequest(query, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, remotePath+"?"+query, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// securityHash is FastSpring's security_request_hash as its PHP example
// computes it: md5 of the values in the order of ksort($_REQUEST), then the
// private key. form is decoded with url.ParseQuery, independently of the
// package.
func testHash(t *testing.T, form, key string) string {
	t.Helper()
	v, err := url.ParseQuery(form)
	require.NoError(t, err)
	var data strings.Builder
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range v {
			if !yield(name) {
				return
			}
		}
	}) {
		if name != hashField {
			data.WriteString(v.Get(name))
		}
	}
	sum := md5.Sum([]byte(data.String() + key)) //nolint:gosec
	return hex.EncodeToString(sum[:])
}

// signBody appends the hash of body's own parameters.
func signBody(t *testing.T, body string) string {
	return body + "&" + hashField + "=" + testHash(t, body, privateKey)
}

// call reads, verifies and decodes a call as the API does, for method.
func call(t *testing.T, p *config.Provider, r *http.Request, method string) (storefront.Reading, error) {
	t.Helper()
	return storefronttest.Serve(Kind{}, r, p, method)
}

// mustRemote is the one line of a remote request that must be accepted.
func mustRemote(t *testing.T, p *config.Provider, query, body string) storefront.Request {
	t.Helper()
	reading, err := call(t, p, remoteRequest(query, body), "getactivationkey")
	require.NoError(t, err)
	require.Len(t, reading.Requests, 1)
	assert.False(t, reading.Notify, "a remote request waits for its keys")
	req := reading.Requests[0]
	checkAccepted(t, req)
	return req
}

// refusal checks that err is a *qlm.BadRequestError itself (the API
// answers nothing else with its reason) with a clean one-line reason, and
// returns it.
func refusal(t *testing.T, err error) *qlm.BadRequestError {
	t.Helper()
	require.Error(t, err)
	bad, ok := err.(*qlm.BadRequestError)
	require.True(t, ok, "err = %v (%T), want *qlm.BadRequestError", err, err)
	assert.Equal(t, bad.Reason(), err.Error())
	checkMessage(t, err.Error())
	return bad
}

func mustRefuseRemote(t *testing.T, p *config.Provider, query, body string) *qlm.BadRequestError {
	t.Helper()
	_, err := call(t, p, remoteRequest(query, body), "getactivationkey")
	return refusal(t, err)
}

// checkAccepted holds an accepted line to the package's promises.
func checkAccepted(t *testing.T, req storefront.Request) {
	t.Helper()
	for _, w := range req.Warnings {
		checkMessage(t, w)
	}
	for name := range req.Purchase.Fields {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "is_"), "Fields holds argument %q", name)
		assert.NotEqual(t, hashField, name, "Fields holds the signature")
	}
	assert.NotEmpty(t, req.Purchase.PurchaseID)
	assert.NotEmpty(t, req.Purchase.RunningNo)
	assert.True(t, req.Purchase.UTF8)
}

// checkMessage holds an error or warning to what may go back to FastSpring
// or into a log: one printable line, no secret.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	assert.NotContains(t, msg, privateKey)
	assert.NotContains(t, msg, webhookSecret)
	assert.True(t, cleanLine(msg), "message %q is not one printable line of UTF-8", msg)
}

func cleanLine(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

func TestRemoteRequest(t *testing.T) {
	req := mustRemote(t, openProvider(t), remoteQuery, remoteBody)
	assert.Equal(t, storefront.Request{
		Method: "getactivationkey",
		Args:   remoteArgs(),
		Purchase: storefront.Purchase{
			PurchaseID: "FS123-4567-8901", RunningNo: "demo-app", Quantity: 2,
			RegName: "Ada Buyer", Company: "ACME", Email: "ada@example.com", UTF8: true,
			Fields: map[string]string{
				"reference": "FS123-4567-8901", "product": "demo-app", "name": "Ada Buyer",
				"email": "ada@example.com", "company": "ACME", "quantity": "2",
			},
		},
		Warnings: nil,
	}, req)
	assert.Equal(t, "Ada Buyer", req.Purchase.FullName())
	assert.Equal(t, 2, req.Quantity())
	assert.False(t, req.Confirmed, "a remote request is not the sale's confirmation")
	assert.Empty(t, req.Event)
}

// TestRemoteMethod: the line's method is the URL's.
func TestRemoteMethod(t *testing.T) {
	p := openProvider(t)
	for _, method := range []string{"getactivationkey", "getactivationkeywithexpirydate", "renewsubscriptionhttp", "renewmaintenanceplan"} {
		reading, err := call(t, p, remoteRequest(remoteQuery, remoteBody), method)
		require.NoError(t, err, method)
		require.Len(t, reading.Requests, 1)
		assert.Equal(t, method, reading.Requests[0].Method)
	}
}

// TestRemoteGet: a GET carries its fields in the query.
func TestRemoteGet(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, remotePath+"?"+remoteQuery+"&"+remoteBody, nil)
	reading, err := call(t, openProvider(t), r, "getactivationkey")
	require.NoError(t, err)
	require.Len(t, reading.Requests, 1)
	pu := reading.Requests[0].Purchase
	assert.Equal(t, "FS123-4567-8901", pu.PurchaseID)
	assert.Equal(t, "demo-app", pu.RunningNo)
	assert.Equal(t, 2, pu.Quantity)
}

// TestRemoteFields: the buyer as QLM's field-mapping table spells
// FastSpring's fields, and the other spellings.
func TestRemoteFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want storefront.Purchase // PurchaseID, RunningNo, UTF8 and Fields are not compared
	}{
		{
			name: "QLM's mapping table",
			body: "reference=R1&name=Ada+Buyer&email=ada%40example.com&customercompany=Initech" +
				"&AddressStreet1=1+Main+St&AddressStreet2=Suite+2&AddressCity=Springfield&AddressRegion=IL" +
				"&AddressPostalCode=62701&AddressCountry=US&CustomerPhone=%2B1+555+0100&quantity=3",
			want: storefront.Purchase{
				Quantity: 3, RegName: "Ada Buyer", Email: "ada@example.com", Company: "Initech",
				Street: "1 Main St", City: "Springfield", State: "IL", Zip: "62701", ISOCode: "US", Phone: "+1 555 0100",
			},
		},
		{
			name: "FastSpring's own names",
			body: "reference=R1&firstName=Ada&lastName=Lovelace&company=ACME&phone=123&addressLine1=Main+1" +
				"&city=Berlin&regionCode=BE&postalCode=10115&country=DE&language=de&subscription=sub123",
			want: storefront.Purchase{
				Quantity: 1, FirstName: "Ada", LastName: "Lovelace", Company: "ACME", Phone: "123",
				Street: "Main 1", City: "Berlin", State: "BE", Zip: "10115", ISOCode: "DE", Language: "de",
				Subscription: "sub123",
			},
		},
		{
			name: "first and last",
			body: "reference=R1&first=Ada&last=Lovelace&name=Ada+L.",
			want: storefront.Purchase{Quantity: 1, FirstName: "Ada", LastName: "Lovelace", RegName: "Ada L."},
		},
		{
			name: "names in any case, values trimmed",
			body: "REFERENCE=R1&FIRSTNAME=+Ada+&LastName=Lovelace&EMAIL=+ada%40example.com+&CUSTOMERCOMPANY=Initech",
			want: storefront.Purchase{Quantity: 1, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Company: "Initech"},
		},
		{
			name: "the first spelling present wins",
			body: "reference=R1&company=ACME&customercompany=Initech&phone=1&CustomerPhone=2&AddressCity=A&city=B",
			want: storefront.Purchase{Quantity: 1, Company: "ACME", Phone: "1", City: "A"},
		},
		{
			name: "an empty field gives way to the next spelling",
			body: "reference=R1&company=&customercompany=Initech",
			want: storefront.Purchase{Quantity: 1, Company: "Initech"},
		},
		{
			name: "a named address is reduced to the address",
			body: "reference=R1&email=Ada+Buyer+%3Cada%40example.com%3E",
			want: storefront.Purchase{Quantity: 1, Email: "ada@example.com"},
		},
		{
			name: "UTF-8",
			body: "reference=R1&name=J%C3%BCrgen+M%C3%BCller&AddressCity=K%C3%B6ln",
			want: storefront.Purchase{Quantity: 1, RegName: "Jürgen Müller", City: "Köln"},
		},
	}
	p := openProvider(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pu := mustRemote(t, p, remoteQuery, tt.body).Purchase
			assert.Equal(t, "R1", pu.PurchaseID)
			assert.Equal(t, "1", pu.RunningNo, "no product: a one-line order")
			pu.PurchaseID, pu.RunningNo, pu.UTF8, pu.Fields = "", "", false, nil
			assert.Equal(t, tt.want, pu)
		})
	}
}

// TestRemoteFieldsKept: Fields keeps every order field as sent, and never
// the signature or an argument.
func TestRemoteFieldsKept(t *testing.T) {
	t.Setenv(privateKeyEnv, privateKey)
	p := newProvider(t, "    private_key_env: "+privateKeyEnv+"\n")
	body := signBody(t, "reference=R1&product=demo-app&AddressStreet2=Suite+2&custom=x&is_quantity=2")
	req := mustRemote(t, p, remoteQuery, body)
	assert.Equal(t, map[string]string{
		"reference": "R1", "product": "demo-app", "AddressStreet2": "Suite 2", "custom": "x",
	}, req.Purchase.Fields)
	assert.Equal(t, 2, req.Args.Quantity, "is_quantity posted in the body")
}

func TestRemoteQuantity(t *testing.T) {
	p := openProvider(t)
	t.Run("absent is 1", func(t *testing.T) {
		req := mustRemote(t, p, remoteQuery, "reference=R1")
		assert.Equal(t, 1, req.Purchase.Quantity)
		assert.Equal(t, 1, req.Quantity())
	})
	t.Run("is_quantity wins", func(t *testing.T) {
		req := mustRemote(t, p, remoteQuery+"&is_quantity=5", "reference=R1&quantity=2")
		assert.Equal(t, 2, req.Purchase.Quantity)
		assert.Equal(t, 5, req.Quantity())
		assert.Empty(t, req.Warnings)
	})
	for _, q := range []string{"0", "-1", "abc", "1.5", "99999999999"} {
		t.Run("unreadable "+q, func(t *testing.T) {
			bad := mustRefuseRemote(t, p, remoteQuery, "reference=R1&quantity="+url.QueryEscape(q))
			assert.Equal(t, http.StatusBadRequest, bad.Status)
			assert.Equal(t, "quantity", bad.Field)

			// With is_quantity the seats are known: a warning.
			req := mustRemote(t, p, remoteQuery+"&is_quantity=3", "reference=R1&quantity="+url.QueryEscape(q))
			assert.Equal(t, 3, req.Quantity())
			assert.Equal(t, 0, req.Purchase.Quantity)
			assert.NotEmpty(t, req.Purchase.QuantityProblem)
			require.Len(t, req.Warnings, 1)
			assert.Contains(t, req.Warnings[0], "is_quantity 3 is used")
		})
	}
}

func TestRemoteEmailNotAnAddress(t *testing.T) {
	req := mustRemote(t, openProvider(t), remoteQuery, "reference=R1&email=not-an-address")
	assert.Empty(t, req.Purchase.Email)
	assert.Equal(t, "not-an-address", req.Purchase.Fields["email"], "stored with the order")
	require.Len(t, req.Warnings, 1)
	assert.Contains(t, req.Warnings[0], "email")
	assert.NotContains(t, req.Warnings[0], "not-an-address", "personal data is not echoed")
}

func TestRemoteRefused(t *testing.T) {
	tests := []struct {
		name, query, body string
		status            int
		field             string
	}{
		{"no reference", remoteQuery, "product=demo-app&name=Ada", 400, "reference"},
		{"empty reference", remoteQuery, "reference=+&product=demo-app", 400, "reference"},
		{"reference not printable", remoteQuery, "reference=R%0A1", 400, "reference"},
		{"reference too long", remoteQuery, "reference=" + strings.Repeat("R", storefront.MaxPurchaseID+1), 400, "reference"},
		{"product too long", remoteQuery, "reference=R1&product=" + strings.Repeat("p", maxItem+1), 400, "product"},
		{"bad is_features", "is_productid=1&is_features=9:1", "reference=R1", 400, "is_features"},
		{"half a version", "is_productid=1&is_majorversion=1", "reference=R1", 400, "is_minorversion"},
		{"bad percent-encoding", remoteQuery, "reference=%zz", 400, "body"},
		{"long query", remoteQuery + "&x=" + strings.Repeat("a", qlm.MaxQueryBytes), "reference=R1", 414, "query"},
	}
	p := openProvider(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustRefuseRemote(t, p, tt.query, tt.body)
			assert.Equal(t, tt.status, bad.Status)
			assert.Equal(t, tt.field, bad.Field)
		})
	}
	t.Run("not a form", func(t *testing.T) {
		r := remoteRequest(remoteQuery, `{"reference":"R1"}`)
		r.Header.Set("Content-Type", "application/json")
		_, err := call(t, p, r, "getactivationkey")
		assert.Equal(t, http.StatusUnsupportedMediaType, refusal(t, err).Status)
	})
	t.Run("too large", func(t *testing.T) {
		_, err := call(t, p, remoteRequest(remoteQuery, "reference=R1&x="+strings.Repeat("a", qlm.MaxBodyBytes)), "getactivationkey")
		assert.Equal(t, http.StatusRequestEntityTooLarge, refusal(t, err).Status)
	})
}

func TestSecurityHash(t *testing.T) {
	t.Setenv(privateKeyEnv, privateKey)
	p := newProvider(t, "    private_key_env: "+privateKeyEnv+"\n")
	require.Equal(t, privateKey, p.PrivateKey())

	// The hash of the URL's and the body's parameters together, as a PHP
	// signer reading $_REQUEST computes it.
	both := testHash(t, remoteQuery+"&"+remoteBody, privateKey)

	accepted := []struct{ name, query, body string }{
		{"over the body", remoteQuery, signBody(t, remoteBody)},
		{"over query and body", remoteQuery, remoteBody + "&" + hashField + "=" + both},
		{"in upper case", remoteQuery, remoteBody + "&" + hashField + "=" + strings.ToUpper(testHash(t, remoteBody, privateKey))},
		{"with spaces", remoteQuery, remoteBody + "&" + hashField + "=+" + testHash(t, remoteBody, privateKey) + "+"},
		{"anywhere in the body", remoteQuery, hashField + "=" + testHash(t, remoteBody, privateKey) + "&" + remoteBody},
		{"in the URL", remoteQuery + "&" + hashField + "=" + testHash(t, remoteBody, privateKey), remoteBody},
		{"of a body with is_* arguments", remoteQuery, signBody(t, remoteBody+"&is_quantity=2")},
		{"of UTF-8 values", remoteQuery, signBody(t, "reference=R1&name=J%C3%BCrgen")},
		// A name posted and in the URL: $_REQUEST holds the posted value.
		{"over query and body, a name in both", remoteQuery + "&custom=url", "reference=R1&custom=body&" + hashField + "=" +
			testHash(t, strings.Replace(remoteQuery, "is_vendor=fastspring", "is_vendor=fastspring&custom=body", 1)+"&reference=R1", privateKey)},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRemote(t, p, tt.query, tt.body)
			assert.NotContains(t, req.Purchase.Fields, hashField)
		})
	}

	refused := []struct{ name, query, body string }{
		{"missing", remoteQuery, remoteBody},
		{"empty", remoteQuery, remoteBody + "&" + hashField + "="},
		{"wrong", remoteQuery, remoteBody + "&" + hashField + "=" + strings.Repeat("0", 32)},
		{"another key's", remoteQuery, remoteBody + "&" + hashField + "=" + testHash(t, remoteBody, "other-key")},
		{"a changed body", remoteQuery, strings.Replace(signBody(t, remoteBody), "quantity=2", "quantity=20", 1)},
		{"an added field", remoteQuery, signBody(t, remoteBody) + "&quantity2=9"},
		{"a changed URL", strings.Replace(remoteQuery, "is_productid=1", "is_productid=2", 1), remoteBody + "&" + hashField + "=" + both},
		{"without the key", remoteQuery, remoteBody + "&" + hashField + "=" + testHash(t, remoteBody, "")},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustRefuseRemote(t, p, tt.query, tt.body)
			assert.Equal(t, http.StatusUnauthorized, bad.Status)
			assert.Equal(t, hashField, bad.Field)
		})
	}

	t.Run("a GET is signed too", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, remotePath+"?"+remoteQuery+"&"+remoteBody, nil)
		_, err := call(t, p, r, "getactivationkey")
		assert.Equal(t, http.StatusUnauthorized, refusal(t, err).Status)

		r = httptest.NewRequest(http.MethodGet, remotePath+"?"+remoteQuery+"&"+remoteBody+"&"+hashField+"="+both, nil)
		_, err = call(t, p, r, "getactivationkey")
		assert.NoError(t, err)
	})
}

// TestSecurityHashUnchecked: without a private key the hash is not
// checked, when the provider has other credentials.
func TestSecurityHashUnchecked(t *testing.T) {
	for name, p := range map[string]*config.Provider{
		"unauthenticated": openProvider(t),
		"allow_ips":       newProvider(t, "    allow_ips: [192.0.2.1]\n"),
	} {
		t.Run(name, func(t *testing.T) {
			assert.Empty(t, p.PrivateKey())
			mustRemote(t, p, remoteQuery, remoteBody)
			req := mustRemote(t, p, remoteQuery, remoteBody+"&"+hashField+"=wrong")
			assert.NotContains(t, req.Purchase.Fields, hashField)
		})
	}
}

// TestSignedOnlyOneWay: a provider whose only credential is one of the two
// secrets refuses the calls the other would sign, which nothing checks.
func TestSignedOnlyOneWay(t *testing.T) {
	t.Setenv(privateKeyEnv, privateKey)
	t.Setenv(webhookSecretEnv, webhookSecret)
	webhookOnly := newProvider(t, "    webhook_secret_env: "+webhookSecretEnv+"\n")
	remoteOnly := newProvider(t, "    private_key_env: "+privateKeyEnv+"\n")

	bad := mustRefuseRemote(t, webhookOnly, remoteQuery, remoteBody)
	assert.Equal(t, http.StatusForbidden, bad.Status)
	assert.Equal(t, hashField, bad.Field)
	// A GET to the webhook's URL is read as a remote request: refused too.
	r := httptest.NewRequest(http.MethodGet, webhookPath+"?"+remoteQuery+"&"+remoteBody, nil)
	_, err := call(t, webhookOnly, r, webHook)
	assert.Equal(t, http.StatusForbidden, refusal(t, err).Status)

	_, err = call(t, remoteOnly, webhookRequest(orderCompleted(), ""), webHook)
	bad = refusal(t, err)
	assert.Equal(t, http.StatusForbidden, bad.Status)
	assert.Equal(t, signatureHeader, bad.Field)

	// With other credentials, the unsigned calls are theirs to check.
	withIPs := newProvider(t, "    allow_ips: [192.0.2.1]\n    webhook_secret_env: "+webhookSecretEnv+"\n")
	mustRemote(t, withIPs, remoteQuery, remoteBody)
	withIPs = newProvider(t, "    allow_ips: [192.0.2.1]\n    private_key_env: "+privateKeyEnv+"\n")
	_, err = call(t, withIPs, webhookRequest(orderCompleted(), ""), webHook)
	assert.NoError(t, err)
}

// The webhook.

const webhookPath = "/qlmservice.asmx/QlmWebHookHandler"

// created and changed are the events' and orders' times in the tests.
const (
	created = int64(1764700000000)
	changed = int64(1764700012345)
)

// testOrder is FastSpring's order.completed data, as the webhook reference
// documents it; the tests change it before they marshal it.
func testOrder() map[string]any {
	return map[string]any{
		"order":     "ord-id-1",
		"id":        "ord-id-1",
		"reference": "FS123-4567-8901",
		"live":      false,
		"currency":  "EUR",
		"language":  "de",
		"completed": true,
		"changed":   changed,
		"account":   "acct-1",
		"customer": map[string]any{
			"first": "Ada", "last": "Lovelace", "email": "ada@example.com", "company": "ACME", "phone": "+49 30 1234",
		},
		"address": map[string]any{
			"addressLine1": "Unter den Linden 1", "city": "Berlin", "regionCode": "BE", "region": "Berlin",
			"postalCode": "10117", "country": "DE",
		},
		"items": []any{testItem()},
	}
}

func testItem() map[string]any {
	return map[string]any{
		"product": "demo-app", "quantity": 2, "display": "Demo App", "sku": "DA-1", "subscription": "sub123",
		"attributes": map[string]any{
			"is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "webhook_action": "UpdateUserInformation",
		},
	}
}

func testEvent(id, typ string, data any) map[string]any {
	return map[string]any{"id": id, "type": typ, "live": false, "created": created, "data": data}
}

// webhookJSON is the JSON of a webhook call with these events.
func webhookJSON(events ...map[string]any) string {
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func orderCompleted() string { return webhookJSON(testEvent("evt1", "order.completed", testOrder())) }

func sign(body, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// webhookRequest posts body, signed with secret unless it is "".
func webhookRequest(body, secret string) *http.Request {
	return webhookRequestQuery("is_vendor=fastspring", body, secret)
}

func webhookRequestQuery(query, body, secret string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, webhookPath+"?"+query, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if secret != "" {
		r.Header.Set(signatureHeader, sign(body, secret))
	}
	return r
}

// mustWebhook is the reading of a webhook call that must be accepted; it
// checks what holds for every one.
func mustWebhook(t *testing.T, p *config.Provider, r *http.Request) storefront.Reading {
	t.Helper()
	reading, err := call(t, p, r, webHook)
	require.NoError(t, err)
	assert.True(t, reading.Notify)
	for _, req := range reading.Requests {
		checkAccepted(t, req)
		assert.True(t, req.Confirmed, "the webhook reports the sale complete")
		assert.Contains(t, reading.Events, req.Event)
	}
	for _, s := range reading.Skipped {
		checkMessage(t, s)
	}
	return reading
}

func mustRefuseWebhook(t *testing.T, p *config.Provider, body string) *qlm.BadRequestError {
	t.Helper()
	_, err := call(t, p, webhookRequest(body, ""), webHook)
	return refusal(t, err)
}

func TestWebhookOrderCompleted(t *testing.T) {
	p := signedProvider(t)
	reading := mustWebhook(t, p, webhookRequest(orderCompleted(), webhookSecret))
	assert.Equal(t, []string{"evt1"}, reading.Events)
	assert.Empty(t, reading.Skipped)
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, storefront.Request{
		Method: "getactivationkey",
		Args: qlm.Args{
			Vendor: "fastspring", ProductID: 1, HasProductID: true, Major: 1, Minor: 0, HasVersion: true,
			// is_features comes from the products mapping: the attributes
			// give none.
			Features: [4]uint8{3, 0, 0, 0}, MultipleActivationsKey: true, SendMail: true,
			Raw: map[string]string{
				"is_vendor": "fastspring", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0", "is_features": "0:3",
			},
		},
		Purchase: storefront.Purchase{
			PurchaseID: "FS123-4567-8901", RunningNo: "demo-app",
			PurchaseDate: time.UnixMilli(changed).UTC(), Quantity: 2,
			FirstName: "Ada", LastName: "Lovelace", Company: "ACME", Email: "ada@example.com", Phone: "+49 30 1234",
			Street: "Unter den Linden 1", City: "Berlin", Zip: "10117", State: "BE", ISOCode: "DE", Language: "de",
			Subscription: "sub123", UTF8: true,
			Fields: map[string]string{
				"event": "evt1", "event_type": "order.completed", "order": "ord-id-1", "reference": "FS123-4567-8901",
				"product": "demo-app", "display": "Demo App", "sku": "DA-1", "currency": "EUR", "live": "false",
				"account": "acct-1", "subscription": "sub123", "quantity": "2",
				"attribute.webhook_action": "UpdateUserInformation",
			},
		},
		Confirmed: true,
		Event:     "evt1",
	}, reading.Requests[0])
	assert.Equal(t, "Ada Lovelace", reading.Requests[0].Purchase.FullName())
	assert.False(t, reading.Requests[0].Purchase.Renewal())
}

// TestWebhookSameLineAsRemote: the remote request and the webhook of one
// purchase name the same line.
func TestWebhookSameLineAsRemote(t *testing.T) {
	p := openProvider(t)
	remote := mustRemote(t, p, remoteQuery, remoteBody).Purchase
	hook := mustWebhook(t, p, webhookRequest(orderCompleted(), "")).Requests[0].Purchase
	assert.Equal(t, remote.PurchaseID, hook.PurchaseID)
	assert.Equal(t, remote.RunningNo, hook.RunningNo)
}

func TestWebhookSignature(t *testing.T) {
	p := signedProvider(t)
	body := orderCompleted()
	for name, header := range map[string]string{
		"missing":       "",
		"wrong":         sign(body, "other-secret"),
		"of other body": sign(body+" ", webhookSecret),
		"hex":           hex.EncodeToString(hmac.New(sha256.New, []byte(webhookSecret)).Sum(nil)),
		"garbage":       "not base64 !",
	} {
		t.Run(name, func(t *testing.T) {
			r := webhookRequest(body, "")
			if header != "" {
				r.Header.Set(signatureHeader, header)
			}
			_, err := call(t, p, r, webHook)
			bad := refusal(t, err)
			assert.Equal(t, http.StatusUnauthorized, bad.Status)
			assert.Equal(t, signatureHeader, bad.Field)
		})
	}
	t.Run("right", func(t *testing.T) {
		mustWebhook(t, p, webhookRequest(body, webhookSecret))
	})
	t.Run("right, with spaces", func(t *testing.T) {
		r := webhookRequest(body, "")
		r.Header.Set(signatureHeader, " "+sign(body, webhookSecret)+" ")
		mustWebhook(t, p, r)
	})
	t.Run("the private key does not sign the webhook", func(t *testing.T) {
		_, err := call(t, p, webhookRequest(body, privateKey), webHook)
		assert.Equal(t, http.StatusUnauthorized, refusal(t, err).Status)
	})
	t.Run("unchecked without a secret", func(t *testing.T) {
		r := webhookRequest(body, "")
		r.Header.Set(signatureHeader, "wrong")
		mustWebhook(t, openProvider(t), r)
	})
}

func TestWebhookContentType(t *testing.T) {
	p := openProvider(t)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", ""} {
		r := webhookRequest(orderCompleted(), "")
		r.Header.Set("Content-Type", ct)
		mustWebhook(t, p, r)
	}
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "text/json", "application/json; =bad"} {
		t.Run(ct, func(t *testing.T) {
			r := webhookRequest(orderCompleted(), "")
			r.Header.Set("Content-Type", ct)
			_, err := call(t, p, r, webHook)
			bad := refusal(t, err)
			assert.Equal(t, http.StatusUnsupportedMediaType, bad.Status)
			assert.Equal(t, "Content-Type", bad.Field)
		})
	}
}

func TestWebhookTooLarge(t *testing.T) {
	body := `{"events":[],"pad":"` + strings.Repeat("a", qlm.MaxBodyBytes) + `"}`
	_, err := call(t, openProvider(t), webhookRequest(body, ""), webHook)
	assert.Equal(t, http.StatusRequestEntityTooLarge, refusal(t, err).Status)
}

func TestWebhookRefused(t *testing.T) {
	order := func(change func(o map[string]any)) string {
		o := testOrder()
		change(o)
		return webhookJSON(testEvent("evt1", "order.completed", o))
	}
	item := func(change func(it map[string]any)) string {
		return order(func(o map[string]any) {
			it := testItem()
			change(it)
			o["items"] = []any{testItem(), it}
		})
	}
	tests := []struct {
		name, body string
		field      string
	}{
		{"malformed JSON", `{"events": [`, "body"},
		{"not JSON", `events=1`, "body"},
		{"events not a list", `{"events": {"id": "evt1"}}`, "body"},
		{"event without id", webhookJSON(testEvent("", "order.completed", testOrder())), "events[0].id"},
		{"event with a blank id", webhookJSON(testEvent("evt1", "x", nil), testEvent("  ", "x", nil)), "events[1].id"},
		{"event id not a string", `{"events":[{"id":5,"type":"order.completed"}]}`, "body"},
		{"order not an object", webhookJSON(testEvent("evt1", "order.completed", "ord-id-1")), "events[0].data"},
		{"order.completed without data", `{"events":[{"id":"evt1","type":"order.completed"}]}`, "events[0].data"},
		{"items not a list", order(func(o map[string]any) { o["items"] = "demo-app" }), "events[0].data"},
		{"customer not an object", order(func(o map[string]any) { o["customer"] = 5 }), "events[0].data"},
		{"quantity 0", item(func(it map[string]any) { it["quantity"] = 0 }), "events[0].data.items[1].quantity"},
		{"quantity negative", item(func(it map[string]any) { it["quantity"] = -2 }), "events[0].data.items[1].quantity"},
		{"quantity not a number", item(func(it map[string]any) { it["quantity"] = "2" }), "events[0].data"},
		{"bad is_productid", item(func(it map[string]any) {
			it["attributes"] = map[string]any{"is_productid": "one"}
		}), "events[0].data.items[1].is_productid"},
		{"bad is_features", item(func(it map[string]any) {
			it["attributes"] = map[string]any{"is_productid": "1", "is_features": "7:1"}
		}), "events[0].data.items[1].is_features"},
		{"no reference", order(func(o map[string]any) { delete(o, "reference"); delete(o, "id"); delete(o, "order") }), "events[0].data.items[0].reference"},
		{"reference not printable", order(func(o map[string]any) { o["reference"] = "FS\n1" }), "events[0].data.items[0].reference"},
		{"product path too long", item(func(it map[string]any) { it["product"] = strings.Repeat("p", maxItem+1) }), "events[0].data.items[1].product"},
		{"charge data not an object", webhookJSON(testEvent("evt1", "subscription.charge.completed", []int{1})), "events[0].data"},
		{"charge order not an object", webhookJSON(testEvent("evt1", "subscription.charge.completed",
			map[string]any{"subscription": "sub123", "order": map[string]any{"reference": "R2", "items": "demo-app"}})), "events[0].data.order"},
	}
	p := openProvider(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustRefuseWebhook(t, p, tt.body)
			assert.Equal(t, http.StatusBadRequest, bad.Status)
			assert.Equal(t, tt.field, bad.Field)
		})
	}
}

// TestWebhookArgs: the URL's is_* arguments win over the item's
// attributes, which win over the provider's products mapping.
func TestWebhookArgs(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		product    string
		attributes map[string]any
		productID  uint32
		version    [2]uint32
		features   [4]uint8
	}{
		{"attributes alone", "", "unmapped", map[string]any{"is_productid": "4", "is_majorversion": "3", "is_minorversion": "2", "is_features": "0:5"},
			4, [2]uint32{3, 2}, [4]uint8{5, 0, 0, 0}},
		{"mapping alone", "", "mapped-only", nil, 7, [2]uint32{2, 1}, [4]uint8{0, 1, 4, 0}},
		{"mapping without attributes' is_productid", "", "mapped-only", map[string]any{"webhook_action": "UpdateUserInformation", "color": "blue"},
			7, [2]uint32{2, 1}, [4]uint8{0, 1, 4, 0}},
		{"attributes over mapping", "", "demo-app", map[string]any{"is_productid": "9", "is_features": "0:7"},
			9, [2]uint32{1, 0}, [4]uint8{7, 0, 0, 0}},
		{"mapping fills in the attributes", "", "demo-app", map[string]any{"is_productid": "1", "is_majorversion": "1", "is_minorversion": "0"},
			1, [2]uint32{1, 0}, [4]uint8{3, 0, 0, 0}},
		{"URL over attributes and mapping", "is_features=0:1&is_productid=2", "demo-app", map[string]any{"is_productid": "9", "is_features": "0:7"},
			2, [2]uint32{1, 0}, [4]uint8{1, 0, 0, 0}},
		{"URL names the product", "is_productid=3&is_majorversion=5&is_minorversion=5", "unmapped", nil, 3, [2]uint32{5, 5}, [4]uint8{}},
		{"attribute names in any case, numbers as numbers", "", "unmapped", map[string]any{"IS_ProductID": 6, "is_majorversion": 1, "is_minorversion": 0},
			6, [2]uint32{1, 0}, [4]uint8{}},
	}
	p := openProvider(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := testItem()
			it["product"] = tt.product
			it["attributes"] = tt.attributes
			o := testOrder()
			o["items"] = []any{it}
			query := "is_vendor=fastspring"
			if tt.query != "" {
				query += "&" + tt.query
			}
			reading := mustWebhook(t, p, webhookRequestQuery(query, webhookJSON(testEvent("evt1", "order.completed", o)), ""))
			require.Len(t, reading.Requests, 1, "skipped: %v", reading.Skipped)
			args := reading.Requests[0].Args
			assert.True(t, args.HasProductID)
			assert.Equal(t, tt.productID, args.ProductID)
			assert.Equal(t, tt.version, [2]uint32{args.Major, args.Minor})
			assert.Equal(t, tt.features, [4]uint8(args.Features))
			assert.Equal(t, "fastspring", args.Vendor)
			assert.Equal(t, tt.product, reading.Requests[0].Purchase.RunningNo)
			for k := range reading.Requests[0].Purchase.Fields {
				assert.False(t, strings.HasPrefix(k, "attribute.is_") || strings.HasPrefix(k, "attribute.IS_"), "Fields holds %s", k)
			}
		})
	}
}

// TestWebhookItems: every item of an order is a line of its own, with its
// own arguments; one naming no product is skipped.
func TestWebhookItems(t *testing.T) {
	mapped := testItem()
	mapped["product"], mapped["attributes"], mapped["quantity"], mapped["subscription"] = "mapped-only", nil, 1, nil
	unnamed := testItem()
	unnamed["product"], unnamed["attributes"] = "gift-wrap", map[string]any{"color": "red"}
	noProduct := testItem()
	delete(noProduct, "product")
	noProduct["attributes"] = nil

	o := testOrder()
	o["items"] = []any{testItem(), unnamed, mapped, noProduct}
	p := openProvider(t)
	r := func() *http.Request { return webhookRequest(webhookJSON(testEvent("evt1", "order.completed", o)), "") }
	reading := mustWebhook(t, p, r())
	require.Len(t, reading.Requests, 2)
	first, second := reading.Requests[0], reading.Requests[1]
	assert.Equal(t, "demo-app", first.Purchase.RunningNo)
	assert.Equal(t, uint32(1), first.Args.ProductID)
	assert.Equal(t, 2, first.Purchase.Quantity)
	assert.Equal(t, "sub123", first.Purchase.Subscription)
	assert.Equal(t, "mapped-only", second.Purchase.RunningNo)
	assert.Equal(t, uint32(7), second.Args.ProductID)
	assert.Equal(t, 1, second.Purchase.Quantity)
	assert.Empty(t, second.Purchase.Subscription)
	assert.NotContains(t, second.Purchase.Fields, "subscription")
	assert.Equal(t, first.Purchase.PurchaseID, second.Purchase.PurchaseID)
	assert.Equal(t, []string{"evt1"}, reading.Events)
	require.Len(t, reading.Skipped, 2)
	assert.Contains(t, reading.Skipped[0], "gift-wrap")
	assert.Contains(t, reading.Skipped[0], "no is_productid")
	assert.Contains(t, reading.Skipped[1], "no is_productid")

	// The arguments of one item do not leak into the next: an item naming
	// no product after one that does is still skipped, whatever the order.
	o["items"] = []any{unnamed, testItem(), unnamed}
	reading = mustWebhook(t, p, r())
	require.Len(t, reading.Requests, 1)
	assert.Len(t, reading.Skipped, 2)
	o["items"] = []any{testItem(), mapped}
	reading = mustWebhook(t, p, r())
	require.Len(t, reading.Requests, 2)
	assert.Equal(t, [4]uint8{3, 0, 0, 0}, [4]uint8(reading.Requests[0].Args.Features))
	assert.Equal(t, [4]uint8{0, 1, 4, 0}, [4]uint8(reading.Requests[1].Args.Features))
	assert.Equal(t, "1", reading.Requests[0].Args.Raw["is_majorversion"])
	assert.Equal(t, "2", reading.Requests[1].Args.Raw["is_majorversion"])
}

// TestWebhookDecodeTwice: decoding one call again reads the same, and
// leaves the call's own arguments alone.
func TestWebhookDecodeTwice(t *testing.T) {
	p := openProvider(t)
	unnamed := testItem()
	unnamed["product"], unnamed["attributes"] = "gift-wrap", nil
	o := testOrder()
	o["items"] = []any{testItem(), unnamed}
	c, err := Kind{}.Read(webhookRequest(webhookJSON(testEvent("evt1", "order.completed", o)), ""), p, webHook)
	require.NoError(t, err)
	first, err := Kind{}.Decode(context.Background(), c, p)
	require.NoError(t, err)
	assert.Empty(t, c.QLM.Arg("is_productid"), "the items' attributes are not the call's")
	second, err := Kind{}.Decode(context.Background(), c, p)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Len(t, second.Requests, 1)
}

func TestWebhookActions(t *testing.T) {
	tests := []struct {
		action, method string
	}{
		{"UpdateUserInformation", "getactivationkey"},
		{"updateuserinformation", "getactivationkey"},
		{"GetActivationKey", "getactivationkey"},
		{"GetActivationKeyWithExpiryDate", "getactivationkeywithexpirydate"},
		{"RenewMaintenancePlan", "renewmaintenanceplan"},
		{" renewmaintenanceplan ", "renewmaintenanceplan"},
		{"RenewSubscriptionHttp", "renewsubscriptionhttp"},
		{"", "getactivationkey"},
		{"DeleteEverything", "getactivationkey"},
	}
	p := openProvider(t)
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			it := testItem()
			it["attributes"].(map[string]any)["webhook_action"] = tt.action
			o := testOrder()
			o["items"] = []any{it}
			reading := mustWebhook(t, p, webhookRequest(webhookJSON(testEvent("evt1", "order.completed", o)), ""))
			require.Len(t, reading.Requests, 1)
			assert.Equal(t, tt.method, reading.Requests[0].Method)
		})
	}
	t.Run("a renewal needs no product", func(t *testing.T) {
		it := testItem()
		it["product"], it["attributes"] = "unmapped", map[string]any{"webhook_action": "RenewMaintenancePlan"}
		o := testOrder()
		o["items"] = []any{it}
		reading := mustWebhook(t, p, webhookRequest(webhookJSON(testEvent("evt1", "order.completed", o)), ""))
		require.Len(t, reading.Requests, 1)
		assert.Equal(t, "renewmaintenanceplan", reading.Requests[0].Method)
		assert.False(t, reading.Requests[0].Args.HasProductID)
		assert.Equal(t, "sub123", reading.Requests[0].Purchase.Subscription)
	})
}

func TestWebhookOtherEvents(t *testing.T) {
	body := webhookJSON(
		testEvent("evt0", "subscription.activated", map[string]any{"id": "sub123"}),
		testEvent("evt1", "order.completed", testOrder()),
		testEvent("evt2", "payoutEntry.created", "whatever"),
		testEvent("evt3", "", nil),
	)
	reading := mustWebhook(t, openProvider(t), webhookRequest(body, ""))
	assert.Equal(t, []string{"evt0", "evt1", "evt2", "evt3"}, reading.Events, "answered as handled")
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, "evt1", reading.Requests[0].Event)
	require.Len(t, reading.Skipped, 3)
	assert.Contains(t, reading.Skipped[0], "evt0")
	assert.Contains(t, reading.Skipped[0], "subscription.activated")
	assert.Contains(t, reading.Skipped[1], "evt2")
}

func TestWebhookNoEvents(t *testing.T) {
	for _, body := range []string{`{"events":[]}`, `{}`, `{"events":null}`, `null`} {
		reading := mustWebhook(t, openProvider(t), webhookRequest(body, ""))
		assert.Empty(t, reading.Requests, body)
		assert.Empty(t, reading.Events, body)
	}
}

func TestWebhookNotCompleted(t *testing.T) {
	o := testOrder()
	o["completed"] = false
	done := testOrder()
	done["reference"] = "FS999"
	delete(done, "completed") // absent: completed, as order.completed says
	body := webhookJSON(testEvent("evt1", "order.completed", o), testEvent("evt2", "order.completed", done))
	reading := mustWebhook(t, openProvider(t), webhookRequest(body, ""))
	assert.Equal(t, []string{"evt1", "evt2"}, reading.Events)
	require.Len(t, reading.Requests, 1)
	assert.Equal(t, "FS999", reading.Requests[0].Purchase.PurchaseID)
	require.Len(t, reading.Skipped, 1)
	assert.Contains(t, reading.Skipped[0], "not completed")
	assert.Contains(t, reading.Skipped[0], "FS123-4567-8901")
}

func TestWebhookSubscriptionCharge(t *testing.T) {
	rebill := testOrder()
	rebill["reference"] = "FS555-0000-1111"
	rebill["items"] = []any{func() map[string]any {
		it := testItem()
		it["subscription"] = "sub-in-item"
		it["attributes"] = nil // a renewal needs no product
		return it
	}()}
	p := openProvider(t)
	body := webhookJSON(testEvent("evt9", "subscription.charge.completed", map[string]any{
		"subscription": "sub123", "order": rebill, "status": "successful",
	}))
	reading := mustWebhook(t, p, webhookRequest(body, ""))
	assert.Equal(t, []string{"evt9"}, reading.Events)
	require.Len(t, reading.Requests, 1, "skipped: %v", reading.Skipped)
	req := reading.Requests[0]
	assert.Equal(t, "renewsubscriptionhttp", req.Method)
	assert.Equal(t, "sub123", req.Purchase.Subscription, "the charge's subscription")
	assert.Equal(t, "sub123", req.Purchase.Fields["subscription"])
	assert.Equal(t, "FS555-0000-1111", req.Purchase.PurchaseID)
	assert.Equal(t, "demo-app", req.Purchase.RunningNo)
	assert.Equal(t, "subscription.charge.completed", req.Purchase.Fields["event_type"])
	assert.True(t, req.Confirmed)
	assert.Equal(t, "evt9", req.Event)
	// The products mapping still gives the arguments.
	assert.Equal(t, uint32(1), req.Args.ProductID)

	t.Run("webhook_action does not turn it into a sale", func(t *testing.T) {
		it := testItem()
		it["attributes"].(map[string]any)["webhook_action"] = "GetActivationKey"
		rebill["items"] = []any{it}
		body := webhookJSON(testEvent("evt9", "subscription.charge.completed", map[string]any{"subscription": "sub123", "order": rebill}))
		reading := mustWebhook(t, p, webhookRequest(body, ""))
		require.Len(t, reading.Requests, 1)
		assert.Equal(t, "renewsubscriptionhttp", reading.Requests[0].Method)
	})
	t.Run("expanded subscription", func(t *testing.T) {
		body := webhookJSON(testEvent("evt9", "subscription.charge.completed", map[string]any{
			"subscription": map[string]any{"id": "sub777", "active": true}, "order": rebill,
		}))
		reading := mustWebhook(t, p, webhookRequest(body, ""))
		require.Len(t, reading.Requests, 1)
		assert.Equal(t, "sub777", reading.Requests[0].Purchase.Subscription)
	})
	t.Run("the item's subscription when the charge names none", func(t *testing.T) {
		it := testItem()
		it["subscription"] = map[string]any{"subscription": "sub-in-item"}
		rebill["items"] = []any{it}
		body := webhookJSON(testEvent("evt9", "subscription.charge.completed", map[string]any{"order": rebill}))
		reading := mustWebhook(t, p, webhookRequest(body, ""))
		require.Len(t, reading.Requests, 1)
		assert.Equal(t, "sub-in-item", reading.Requests[0].Purchase.Subscription)
	})
	for name, data := range map[string]any{
		"no order":                  map[string]any{"subscription": "sub123"},
		"null order":                map[string]any{"subscription": "sub123", "order": nil},
		"order without a reference": map[string]any{"subscription": "sub123", "order": map[string]any{"items": []any{testItem()}}},
		"no data":                   nil,
	} {
		t.Run(name, func(t *testing.T) {
			body := webhookJSON(testEvent("evt9", "subscription.charge.completed", data))
			reading := mustWebhook(t, p, webhookRequest(body, ""))
			assert.Empty(t, reading.Requests)
			assert.Equal(t, []string{"evt9"}, reading.Events)
			require.Len(t, reading.Skipped, 1)
			assert.Contains(t, reading.Skipped[0], "no order to renew by")
		})
	}
}

// TestWebhookPayloadVariants: what FastSpring's payloads give in more than
// one shape.
func TestWebhookPayloadVariants(t *testing.T) {
	p := openProvider(t)
	read := func(t *testing.T, o map[string]any) storefront.Request {
		t.Helper()
		reading := mustWebhook(t, p, webhookRequest(webhookJSON(testEvent("evt1", "order.completed", o)), ""))
		require.Len(t, reading.Requests, 1, "skipped: %v", reading.Skipped)
		return reading.Requests[0]
	}
	t.Run("buyer only in the expanded account", func(t *testing.T) {
		o := testOrder()
		delete(o, "customer")
		o["account"] = map[string]any{"id": "acct-9", "contact": map[string]any{"first": "Grace", "last": "Hopper", "email": "grace@example.com"}}
		req := read(t, o)
		assert.Equal(t, "Grace Hopper", req.Purchase.FullName())
		assert.Equal(t, "grace@example.com", req.Purchase.Email)
		assert.Equal(t, "acct-9", req.Purchase.Fields["account"])
	})
	t.Run("no buyer", func(t *testing.T) {
		o := testOrder()
		delete(o, "customer")
		req := read(t, o)
		assert.Empty(t, req.Purchase.FullName())
		assert.Empty(t, req.Purchase.Email)
	})
	t.Run("order id when there is no reference", func(t *testing.T) {
		o := testOrder()
		delete(o, "reference")
		assert.Equal(t, "ord-id-1", read(t, o).Purchase.PurchaseID)
	})
	t.Run("region when there is no region code", func(t *testing.T) {
		o := testOrder()
		delete(o["address"].(map[string]any), "regionCode")
		assert.Equal(t, "Berlin", read(t, o).Purchase.State)
	})
	t.Run("the event's time when the order has none", func(t *testing.T) {
		o := testOrder()
		delete(o, "changed")
		assert.Equal(t, time.UnixMilli(created).UTC(), read(t, o).Purchase.PurchaseDate)
	})
	t.Run("no quantity is 1", func(t *testing.T) {
		o := testOrder()
		delete(o["items"].([]any)[0].(map[string]any), "quantity")
		req := read(t, o)
		assert.Equal(t, 1, req.Purchase.Quantity)
		assert.NotContains(t, req.Purchase.Fields, "quantity")
	})
	t.Run("live", func(t *testing.T) {
		o := testOrder()
		o["live"] = true
		assert.Equal(t, "true", read(t, o).Purchase.Fields["live"])
	})
	t.Run("not an email address", func(t *testing.T) {
		o := testOrder()
		o["customer"].(map[string]any)["email"] = "nobody"
		req := read(t, o)
		assert.Empty(t, req.Purchase.Email)
		require.Len(t, req.Warnings, 1)
		assert.NotContains(t, req.Warnings[0], "nobody")
	})
	t.Run("other attributes kept", func(t *testing.T) {
		o := testOrder()
		o["items"].([]any)[0].(map[string]any)["attributes"].(map[string]any)["license_tier"] = 3
		assert.Equal(t, "3", read(t, o).Purchase.Fields["attribute.license_tier"])
	})
	t.Run("unknown fields ignored", func(t *testing.T) {
		o := testOrder()
		o["tax"] = 1.5
		o["fulfillments"] = map[string]any{"x": []any{1, 2}}
		read(t, o)
	})
}

// FuzzDecodeWebhook feeds arbitrary webhook bodies through Read, Verify
// and Decode, and checks what holds for every one: no panic; every error
// a *qlm.BadRequestError itself (what the API answers with its reason) with
// a 4xx status and a one-line printable reason; an accepted line one that
// can be keyed.
func FuzzDecodeWebhook(f *testing.F) {
	charge := testOrder()
	charge["reference"] = "FS555"
	renew := testItem()
	renew["attributes"] = map[string]any{"webhook_action": "RenewMaintenancePlan", "is_productid": 3}
	several := testOrder()
	several["items"] = []any{testItem(), renew, map[string]any{"product": "mapped-only"}, map[string]any{"product": "x"}}
	for _, body := range []string{
		orderCompleted(),
		webhookJSON(testEvent("evt1", "order.completed", several)),
		webhookJSON(testEvent("evt2", "subscription.charge.completed", map[string]any{"subscription": "sub123", "order": charge}),
			testEvent("evt3", "subscription.activated", nil)),
		webhookJSON(testEvent("evt4", "order.completed", map[string]any{
			"reference": "R", "completed": false, "items": []any{testItem()},
		})),
		`{"events":[{"id":"e","type":"order.completed","data":{"reference":"R","account":{"id":"a","contact":{"first":"F"}},` +
			`"items":[{"product":"p","quantity":1,"subscription":{"id":"s"},"attributes":{"is_productid":1,"is_features":"0:3;1:1"}}]}}]}`,
		`{"events":[{"id":"","type":"order.completed"}]}`,
		`{"events":[`,
	} {
		f.Add(body, "is_vendor=fastspring", "application/json")
	}
	f.Add(`{"events":[{"id":"e","type":"order.completed","data":{"reference":"R","items":[{"product":"p","attributes":{"is_productid":"1"}}]}}]}`,
		"is_vendor=fastspring&is_features=0:1;&is_quantity=3", "")

	f.Setenv(webhookSecretEnv, webhookSecret)
	p := newProvider(f, "    webhook_secret_env: "+webhookSecretEnv+"\n")
	f.Fuzz(func(t *testing.T, body, query, contentType string) {
		r := httptest.NewRequest(http.MethodPost, webhookPath, strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", contentType)
		r.Header.Set(signatureHeader, sign(body, webhookSecret))

		reading, err := call(t, p, r, webHook)
		if err != nil {
			bad, ok := err.(*qlm.BadRequestError)
			if !ok {
				t.Fatalf("err = %v (%T), want *qlm.BadRequestError", err, err)
			}
			if bad.Status < 400 || bad.Status > 499 {
				t.Fatalf("Status = %d for %q", bad.Status, bad.Reason())
			}
			if msg := err.Error(); !cleanLine(msg) || msg != bad.Reason() || strings.Contains(msg, webhookSecret) {
				t.Fatalf("error %q is not a clean line", msg)
			}
			return
		}
		if !reading.Notify {
			t.Fatal("a webhook call is a notification")
		}
		for _, s := range reading.Skipped {
			if !utf8.ValidString(s) && utf8.ValidString(body) {
				t.Fatalf("skipped %q is not UTF-8", s)
			}
		}
		for _, req := range reading.Requests {
			pu := req.Purchase
			if pu.PurchaseID == "" || len(pu.PurchaseID) > storefront.MaxPurchaseID || pu.RunningNo == "" || len(pu.RunningNo) > maxItem {
				t.Fatalf("accepted reference %q, product %q", pu.PurchaseID, pu.RunningNo)
			}
			if strings.ContainsFunc(pu.PurchaseID+pu.RunningNo, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }) {
				t.Fatalf("accepted unprintable reference %q, product %q", pu.PurchaseID, pu.RunningNo)
			}
			if req.Quantity() < 1 {
				t.Fatalf("Quantity() = %d", req.Quantity())
			}
			if !req.Confirmed || !slices.Contains(reading.Events, req.Event) {
				t.Fatalf("line of event %q not confirmed or not among %v", req.Event, reading.Events)
			}
			if req.Method != "renewsubscriptionhttp" && req.Method != "renewmaintenanceplan" && !req.Args.HasProductID {
				t.Fatalf("%s line names no product", req.Method)
			}
			for name := range pu.Fields {
				if strings.HasPrefix(strings.ToLower(name), "is_") || strings.HasPrefix(strings.ToLower(name), "attribute.is_") {
					t.Fatalf("Fields holds argument %q", name)
				}
			}
			if pu.Email != "" && strings.ContainsAny(pu.Email, " <>\r\n") {
				t.Fatalf("Email %q is not a bare address", pu.Email)
			}
			for _, w := range req.Warnings {
				if !cleanLine(w) {
					t.Fatalf("warning %q is not a clean line", w)
				}
			}
		}
	})
}

// TestWebhookRevocations: a return undoes each returned item's line (a
// chargeback is told apart), a subscription's cancellation names the
// subscription; an unfinished return or one without its order undoes
// nothing.
func TestWebhookRevocations(t *testing.T) {
	ret := map[string]any{
		"return": "ret1", "reference": "RET-1", "completed": true, "type": "RETURN", "reason": "Duplicate Order",
		"original": map[string]any{"id": "ord1", "reference": "FS-1"},
		"items":    []any{map[string]any{"product": "demo-app", "quantity": 1}, map[string]any{"product": "tool", "quantity": 2}},
	}
	chargeback := map[string]any{"return": "ret2", "completed": true, "type": "CHARGEBACK",
		"original": map[string]any{"reference": "FS-2"}, "items": []any{map[string]any{"product": "demo-app"}}}
	pending := map[string]any{"return": "ret3", "completed": false, "original": map[string]any{"reference": "FS-3"},
		"items": []any{map[string]any{"product": "demo-app"}}}
	body := webhookJSON(
		testEvent("evt1", "return.created", ret),
		testEvent("evt2", "return.created", chargeback),
		testEvent("evt3", "return.created", pending),
		testEvent("evt4", "subscription.canceled", map[string]any{"id": "sub123"}),
		testEvent("evt5", "subscription.deactivated", map[string]any{"subscription": "sub456"}),
	)
	p := openProvider(t)
	reading := mustWebhook(t, p, webhookRequest(body, ""))
	assert.Empty(t, reading.Requests)
	assert.Equal(t, []string{"evt1", "evt2", "evt3", "evt4", "evt5"}, reading.Events)
	line := func(ref, product string) order.LineID {
		return order.LineID{Provider: p.Name, PurchaseID: ref, RunningNo: product}
	}
	assert.Equal(t, []storefront.Revocation{
		{Kind: storefront.Refund, Line: line("FS-1", "demo-app"), Event: "evt1", Reason: "FastSpring return RET-1 Duplicate Order", Quantity: 1},
		{Kind: storefront.Refund, Line: line("FS-1", "tool"), Event: "evt1", Reason: "FastSpring return RET-1 Duplicate Order", Quantity: 2},
		{Kind: storefront.Chargeback, Line: line("FS-2", "demo-app"), Event: "evt2", Reason: "FastSpring return ret2"},
		{Kind: storefront.Cancel, Subscription: "sub123", Event: "evt4", Reason: "FastSpring subscription.canceled sub123"},
		{Kind: storefront.Cancel, Subscription: "sub456", Event: "evt5", Reason: "FastSpring subscription.deactivated sub456"},
	}, reading.Revocations)
	require.Len(t, reading.Skipped, 1)
	assert.Contains(t, reading.Skipped[0], "not completed")
}
