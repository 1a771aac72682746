package shareit

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/qlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuideURL reads the guide's URL exactly as printed, placeholders and
// all: the vendor pastes it into ShareIt's Key Generator URL setting.
func TestGuideURL(t *testing.T) {
	call, err := qlm.ReadCall(httptest.NewRequest(http.MethodGet, guideURL, nil))
	require.NoError(t, err)
	user, pwd := call.Credentials()
	assert.Equal(t, "<user>", user)
	assert.Equal(t, "<pwd>", pwd)
	assert.Equal(t, "ShareIt", call.Arg("is_vendor"))
	assert.Equal(t, "0:3;1:1", call.Arg("is_features"), "';' unencoded, as in the guide")

	// With the credentials filled in and ShareIt's order line in the body.
	req := mustDecode(t, postRequest(qlmQuery, orderLine), Options{})
	assert.Equal(t, guideArgs(), req.Args)
	assert.Empty(t, req.Warnings)
}

// TestQueryShapes covers how vendors' Key Generator URLs are written. QLM's
// own guides open the query with "?&"; hand-edited URLs pick up "&&" and
// trailing '&'; ShareIt and browsers encode spaces as '+' or %20.
func TestQueryShapes(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		wantRaw map[string]string // qlm.Args.Raw: every argument as read
	}{
		{"opening ?&", "&is_productid=1", map[string]string{"is_productid": "1"}},
		{"empty pairs", "&&is_productid=1&&&is_vendor=ShareIt&&",
			map[string]string{"is_productid": "1", "is_vendor": "ShareIt"}},
		{"plus is a space", "is_productname=Pro+Edition", map[string]string{"is_productname": "Pro Edition"}},
		{"%20 is a space", "is_productname=Pro%20Edition", map[string]string{"is_productname": "Pro Edition"}},
		{"%2B is a plus", "is_productname=C%2B%2B+Tools", map[string]string{"is_productname": "C++ Tools"}},
		{"unencoded ;", "is_features=0:3;1:1", map[string]string{"is_features": "0:3;1:1"}},
		{"encoded ;", "is_features=0%3A3%3B1%3A1", map[string]string{"is_features": "0:3;1:1"}},
		{"name without =", "is_affiliateid", map[string]string{"is_affiliateid": ""}},
		{"raw kept, qlm.Args trimmed", "is_vendor=+ShareIt+", map[string]string{"is_vendor": " ShareIt "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustDecode(t, postRequest(tt.query, orderLine), Options{})
			assert.Equal(t, tt.wantRaw, req.Args.Raw)
			assert.Empty(t, req.Warnings)
		})
	}
}

// TestParseQuery: a stored product mapping (QLM's shareit_<PRODUCT_ID>
// property) is parsed like a URL's query; in particular the pairs holding
// ';' survive, which url.ParseQuery would drop.
func TestParseQuery(t *testing.T) {
	for _, raw := range []string{"is_features=0:3;1:1", "is_features=0%3A3%3B1%3A1", "&&is_features=0:3;1:1&"} {
		q, err := qlm.ParseQuery(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, "0:3;1:1", q.Get("is_features"), raw)
	}

	q, err := qlm.ParseQuery("&is_productid=1&is_productid=2&Name=A+B")
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2"}, q["is_productid"], "qlm.ParseQuery keeps repeats for the caller")
	assert.Equal(t, "A B", q.Get("Name"))

	_, err = qlm.ParseQuery("is_features=0%zz")
	var bad *qlm.BadRequestError
	require.ErrorAs(t, err, &bad)
	assert.Equal(t, "query: malformed percent-encoding in is_features", bad.Reason())
}

// TestArgsInBody: the vendor writes is_* arguments into the URL, but some
// set-ups post them in the form body. Body arguments are used; the URL wins
// when both give one, with a warning if they differ, except for is_user and
// is_pwd, which are never echoed.
func TestArgsInBody(t *testing.T) {
	tests := []struct {
		name          string
		query, body   string
		wantProductID uint32
		wantUser      string
		wantPwd       string
		wantWarnings  []string
	}{
		{
			name:          "body only",
			body:          "is_productid=2&is_user=body-user&is_pwd=body-pwd",
			wantProductID: 2, wantUser: "body-user", wantPwd: "body-pwd",
		},
		{
			name:  "both, equal",
			query: "is_productid=2&is_user=" + secretUser, body: "IS_PRODUCTID=2&is_user=" + secretUser,
			wantProductID: 2, wantUser: secretUser,
		},
		{
			name:  "both, different: the URL wins",
			query: "is_productid=1", body: "is_productid=99",
			wantProductID: 1,
			wantWarnings:  []string{`is_productid: the URL and the body differ; the URL's "1" is used`},
		},
		{
			name:          "credentials differ: the URL wins, silently",
			query:         "is_productid=1&is_user=" + secretUser + "&is_pwd=" + secretPwd,
			body:          "is_user=body-user&is_pwd=body-pwd",
			wantProductID: 1, wantUser: secretUser, wantPwd: secretPwd,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := qlm.ReadCall(postRequest(tt.query, orderLine+"&"+tt.body))
			require.NoError(t, err)
			user, pwd := call.Credentials()
			assert.Equal(t, tt.wantUser, user)
			assert.Equal(t, tt.wantPwd, pwd)

			req, err := Decode(call, Options{})
			require.NoError(t, err)
			checkAccepted(t, req)
			assert.Equal(t, tt.wantProductID, req.Args.ProductID)
			assert.Equal(t, tt.wantWarnings, req.Warnings)
			for _, w := range req.Warnings {
				assert.NotContains(t, w, "body-user")
				assert.NotContains(t, w, "body-pwd")
			}
			for name := range req.Purchase.Fields {
				assert.False(t, strings.HasPrefix(strings.ToLower(name), "is_"), "Fields holds %q", name)
			}
		})
	}
}

// TestCaps: the limits on one call, each answered with the HTTP status a
// proxy would use.
func TestCaps(t *testing.T) {
	// pairs returns n order fields, PURCHASE_ID among them.
	pairs := func(n int) string {
		p := []string{"PURCHASE_ID=1"}
		for i := 1; i < n; i++ {
			p = append(p, fmt.Sprintf("ADD[F%d]=x", i))
		}
		return strings.Join(p, "&")
	}
	// padded returns an order line of exactly n bytes.
	padded := func(n int) string {
		s := orderLine + "&ADDITIONAL1="
		return s + strings.Repeat("x", n-len(s))
	}
	withContentType := func(ct, body string) func() *http.Request {
		return func() *http.Request {
			r := postRequest("", body)
			r.Header.Set("Content-Type", ct)
			return r
		}
	}
	tooBig := padded(qlm.MaxBodyBytes + 1)

	tests := []struct {
		name   string
		req    func() *http.Request
		status int // 0: accepted
		reason string
	}{
		{"query at the cap", func() *http.Request { return getRequest(padded(qlm.MaxQueryBytes)) }, 0, ""},
		{"query over the cap", func() *http.Request { return getRequest(padded(qlm.MaxQueryBytes + 1)) },
			http.StatusRequestURITooLong, "query: longer than 8 KiB"},

		{"pairs at the cap", func() *http.Request { return getRequest(pairs(qlm.MaxPairs)) }, 0, ""},
		{"pairs over the cap", func() *http.Request { return getRequest(pairs(qlm.MaxPairs + 1)) },
			http.StatusRequestEntityTooLarge, "query: more than 300 fields"},
		{"pairs at the cap, query and body", func() *http.Request { return postRequest(pairs(200), pairs(100)) }, 0, ""},
		{"pairs over the cap, query and body", func() *http.Request { return postRequest(pairs(200), pairs(101)) },
			http.StatusRequestEntityTooLarge, "body: more than 300 fields"},
		{"empty pairs do not count", func() *http.Request {
			return getRequest(strings.Repeat("&", qlm.MaxQueryBytes-len(orderLine)) + orderLine)
		}, 0, ""},

		{"body at the cap", func() *http.Request { return postRequest("", padded(qlm.MaxBodyBytes)) }, 0, ""},
		{"body over the cap", func() *http.Request { return postRequest("", tooBig) },
			http.StatusRequestEntityTooLarge, "body: larger than 1 MiB"},
		{"body over the cap, length unknown", func() *http.Request {
			r := postRequest("", "")
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(tooBig))
			return r
		}, http.StatusRequestEntityTooLarge, "body: larger than 1 MiB"},
		{"body capped by the caller's MaxBytesReader", func() *http.Request {
			r := postRequest("", padded(100))
			r.Body = http.MaxBytesReader(nil, r.Body, 50)
			return r
		}, http.StatusRequestEntityTooLarge, "body: larger than 1 MiB"},

		{"JSON body", withContentType("application/json", `{"PURCHASE_ID":"1"}`),
			http.StatusUnsupportedMediaType, `Content-Type: "application/json" is not application/x-www-form-urlencoded`},
		{"multipart body", withContentType("multipart/form-data; boundary=x", orderLine),
			http.StatusUnsupportedMediaType, `Content-Type: "multipart/form-data; boundary=x" is not application/x-www-form-urlencoded`},
		{"malformed Content-Type", withContentType("text/", orderLine),
			http.StatusUnsupportedMediaType, `Content-Type: "text/" is not application/x-www-form-urlencoded`},
		{"form with charset", withContentType("application/x-www-form-urlencoded; charset=UTF-8", orderLine), 0, ""},
		{"form, any case", withContentType("Application/X-WWW-Form-URLEncoded", orderLine), 0, ""},
		{"no Content-Type", withContentType("", orderLine), 0, ""},
		{"empty JSON body is no body", func() *http.Request {
			r := postRequest(orderLine, "")
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status == 0 {
				mustDecode(t, tt.req(), Options{})
				return
			}
			bad := mustRefuse(t, tt.req(), Options{})
			assert.Equal(t, tt.status, bad.Status)
			assert.Equal(t, tt.reason, bad.Reason())
		})
	}
}

// TestGETIgnoresBody: only a POST's body is read.
func TestGETIgnoresBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, keygenPath+"?"+orderLine, strings.NewReader("PURCHASE_ID=2&is_productid=5"))
	req := mustDecode(t, r, Options{})
	assert.Equal(t, "612345678", req.Purchase.PurchaseID)
	assert.False(t, req.Args.HasProductID)
}
