package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.yaml.in/yaml/v3"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/mail"
	"github.com/keysmith/keysmith/store"
)

const password = testenv.Password

const (
	getKey = "/qlmservice.asmx/getactivationkey"
	// qlmQuery is a Key Generator URL's query as vendors write it for QLM,
	// with the ';' of is_features unescaped.
	qlmQuery = "is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3;1:1&is_user=shareit&is_pwd=" + password
	// guideURL is the Key Generator URL of QLM's ShareIt guide, verbatim
	// but for the credentials: a virtual directory, the method's own case,
	// a query opening with "?&".
	guideURL = "/yourvirtualdirectory/qlmservice.asmx/GetActivationKey?&is_vendor=ShareIt&is_productid=1" +
		"&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_pwd=" + password + "&is_user=shareit&is_features=0:3;1:1"
)

// parsedConfig is the shared test configuration.
func parsedConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := testenv.Config()
	require.NoError(t, err)
	return cfg
}

// configWith is testenv's configuration changed by edit and parsed again
// from YAML, so that what edit sets (trusted_proxies, providers) goes
// through config.Parse's checks as a file would.
func configWith(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg := parsedConfig(t)
	edit(cfg)
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfg, err = config.Parse(b)
	require.NoError(t, err, "config:\n%s", b)
	return cfg
}

// trusting is the test configuration with trusted_proxies set.
func trusting(t *testing.T, proxies ...string) *config.Config {
	t.Helper()
	cfg := configWith(t, func(c *config.Config) { c.TrustedProxies = proxies })
	require.Equal(t, proxies, cfg.TrustedProxies)
	return cfg
}

type fixture struct {
	t        *testing.T
	store    *store.Store
	log      *testenv.LogBuffer
	logger   *slog.Logger
	temporal client.Client
	// keyTimeout is Deps.KeyTimeout.
	keyTimeout time.Duration
}

// newFixture gives a real database and a Temporal client that cannot
// connect (nothing listens on port 1), so calls that reach Temporal fail
// fast. Everything logs into one buffer, Temporal's client included, as in
// production.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := testenv.NewDatabase(context.Background(), "keysmith_api")
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	buf := &testenv.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: tlog.NewStructuredLogger(logger)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &fixture{t: t, store: store.New(db.DB), log: buf, logger: logger, temporal: c, keyTimeout: time.Second}
}

// handler serves cfg; nil is testenv's configuration, which trusts no proxy.
// Every handler has its own authenticator: remembered credentials and
// failure allowances start afresh.
func (f *fixture) handler(cfg *config.Config) http.Handler {
	if cfg == nil {
		cfg = parsedConfig(f.t)
	}
	tmpl, err := mail.LoadTemplates("") // the built-in ones, as in production
	require.NoError(f.t, err)
	return api.NewHandler(api.Deps{
		Config:     cfg,
		Store:      f.store,
		Temporal:   f.temporal,
		Templates:  tmpl,
		TaskQueue:  "x",
		KeyTimeout: f.keyTimeout,
		Log:        f.logger,
	})
}

// storeOrder saves an order line with its keys, as the workflow would have.
func (f *fixture) storeOrder(provider, purchaseID, runningNo string, keys ...string) {
	f.t.Helper()
	o := &store.OrderRow{
		LineRecord: store.LineRecord{
			Provider: provider, PurchaseID: purchaseID, RunningNo: runningNo,
			OrderDate: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			Fields:    map[string]string{}, Args: map[string]string{},
			WorkflowID: "IssueLicense:" + provider + ":" + purchaseID + "-" + runningNo,
		},
		ProductID: 1, Major: 1, Minor: 0, ProductName: "Demo App",
		Quantity: 1, Features: "0:3;1:1", LicenseModel: "permanent",
	}
	rows := make([]store.LicenseKey, len(keys))
	for i, k := range keys {
		rows[i] = store.LicenseKey{Position: i + 1, Key: k, Serial: fmt.Sprintf("%s-%s-%s-%d", provider, purchaseID, runningNo, i), Seats: 1}
	}
	require.NoError(f.t, f.store.SaveOrder(context.Background(),
		&store.Customer{Email: "buyer@example.com", Name: "Ada Buyer"}, o, rows))
}

// call serves one request directly, so RemoteAddr is httptest's 192.0.2.1.
func call(h http.Handler, method, target, body string, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// from makes a call come from addr (a TCP peer, "host:port").
func from(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

func orderForm(purchaseID string) string {
	return "PURCHASE_ID=" + purchaseID + "&RUNNING_NO=1&PURCHASE_DATE=26/11/2026&PRODUCT_ID=300000001&QUANTITY=1&ENCODING=UTF8" +
		"&FIRSTNAME=Ada&LASTNAME=Buyer&EMAIL=buyer%40example.com"
}

// requirePlain checks a plain-text answer of one line.
func requirePlain(t *testing.T, w *httptest.ResponseRecorder, status int, contains string) string {
	t.Helper()
	body := w.Body.String()
	require.Equal(t, status, w.Code, "body %q", body)
	assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
	assert.True(t, strings.HasSuffix(body, "\n") && strings.Count(body, "\n") == 1, "want one line, got %q", body)
	assert.Contains(t, body, contains)
	return strings.TrimSuffix(body, "\n")
}

// temporalReasons are the answers of a call that passed authentication and
// decoding and then asked the unreachable Temporal for keys.
var temporalReasons = []string{
	"key service temporarily unavailable; try again",
	"key generation is taking too long; try again",
}

// requireKeyStep checks that the call for order line id (provider:purchase-1)
// got past authentication and decoding to the key step: with the fixture's
// Temporal that is a 503 from Temporal, whose failure is logged with the line.
func (f *fixture) requireKeyStep(t *testing.T, w *httptest.ResponseRecorder, id string) {
	t.Helper()
	reason := requirePlain(t, w, http.StatusServiceUnavailable, "try again")
	assert.Contains(t, temporalReasons, reason, "a 503 that is not Temporal's")
	assert.Contains(t, f.log.String(), `msg="Issue keys" order=`+id+" ", "no failed key step logged for %s", id)
}

func TestSecretsNeverReachLogsOrAnswers(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	wrong := "wrong-91be4d-secret"
	long := password + strings.Repeat("L", 73-len(password))
	f.storeOrder("shareit", "P1", "1", "STORED-KEY-1")

	cases := []struct {
		name    string
		target  string
		body    string
		edit    func(*http.Request)
		status  int
		secrets []string
	}{
		{"keyed from Postgres", getKey + "?" + qlmQuery, orderForm("P1"), nil, 200, []string{password}},
		{"Temporal unreachable", getKey + "?" + qlmQuery, orderForm("P2"), nil, 503, []string{password}},
		{"QLM guide's URL", guideURL, orderForm("P2"), nil, 503, []string{password}},
		{"webhook, Temporal unreachable", "/qlmservice.asmx/qlmwebhookhandler?is_vendor=shareit&is_user=shareit&is_pwd=" + password, orderForm("P3"), nil, 503, []string{password}},
		{"wrong password", getKey + "?" + strings.Replace(qlmQuery, password, wrong, 1), orderForm("P2"), nil, 401, []string{wrong}},
		{"73-byte password", getKey + "?" + strings.Replace(qlmQuery, password, long, 1), orderForm("P2"), nil, 401, []string{long, password}},
		{"password given twice", getKey + "?" + qlmQuery + "&is_pwd=" + wrong, orderForm("P2"), nil, 400, []string{password, wrong}},
		{"malformed password", getKey + "?" + strings.Replace(qlmQuery, password, wrong+"%zz", 1), orderForm("P2"), nil, 400, []string{wrong}},
		{"wrong basic auth", getKey + "?" + strings.Replace(qlmQuery, "ShareIt", "guarded", 1), orderForm("P2"),
			func(r *http.Request) { r.SetBasicAuth("basic", wrong) }, 401, []string{wrong}},
		{"GET with everything in the query", getKey + "?" + qlmQuery + "&" + orderForm("P4"), "", nil, 503, []string{password}},
		{"refused date", getKey + "?" + qlmQuery + "&is_expduration=100000", orderForm("P5"), nil, 400, []string{password}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			w := call(h, http.MethodPost, tc.target, tc.body, tc.edit)
			assert.Less(t, time.Since(start), 10*time.Second)
			assert.Equal(t, tc.status, w.Code, "body %q", w.Body.String())
			for _, s := range tc.secrets {
				assert.NotContains(t, w.Body.String(), s, "the answer shows a secret")
				for name, vs := range w.Header() {
					assert.NotContains(t, strings.Join(vs, " "), s, "header %s shows a secret", name)
				}
			}
		})
	}

	// Throttled: the address has used up its wrong credentials.
	for range 12 {
		call(h, http.MethodPost, getKey+"?"+strings.Replace(qlmQuery, password, wrong, 1), orderForm("P6"), from("198.51.100.99:1"))
	}
	w := call(h, http.MethodPost, getKey+"?"+strings.Replace(qlmQuery, password, wrong, 1), orderForm("P6"), from("198.51.100.99:1"))
	requirePlain(t, w, http.StatusTooManyRequests, "too many")
	assert.NotContains(t, w.Body.String(), wrong)

	logs := f.log.String()
	// Not vacuous: the calls were logged, the failures with their cause.
	assert.Contains(t, logs, "HTTP")
	assert.Contains(t, logs, "status=503")
	assert.Contains(t, logs, "status=429")
	assert.Contains(t, logs, "Issue keys")
	for _, s := range []string{password, wrong, long, "is_pwd", "is_user"} {
		assert.NotContains(t, logs, s, "the log shows %q", s)
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

func TestStoredOrderAnsweredWithoutTemporal(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	f.storeOrder("shareit", "P100", "1", "AAAAA-BBBBB-CCCCC", "DDDDD-EEEEE-FFFFF", "GGGGG-HHHHH-JJJJJ")

	w := call(h, http.MethodPost, getKey+"?"+qlmQuery, orderForm("P100"), nil)
	require.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())
	assert.Equal(t, "AAAAA-BBBBB-CCCCC\nDDDDD-EEEEE-FFFFF\nGGGGG-HHHHH-JJJJJ\n", w.Body.String())
	assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	// Another line of the same purchase is not stored: Temporal would have
	// to key it, and it cannot be reached.
	start := time.Now()
	w = call(h, http.MethodPost, getKey+"?"+qlmQuery, strings.Replace(orderForm("P100"), "RUNNING_NO=1", "RUNNING_NO=2", 1), nil)
	elapsed := time.Since(start)
	reason := requirePlain(t, w, http.StatusServiceUnavailable, "try again")
	assert.NotEmpty(t, strings.TrimSpace(reason))
	assert.NotContains(t, reason, "AAAAA")
	assert.NotContains(t, reason, "IssueLicense", "the cause belongs in the log, not the answer")
	assert.Less(t, elapsed, 5*time.Second, "KeyTimeout is 1s")
}

func TestPaths(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	f.storeOrder("shareit", "P200", "1", "KKKKK-11111")

	for _, path := range []string{
		"/QLMSERVICE.ASMX/GETACTIVATIONKEY",
		"/QlmService.asmx/GetActivationKey",
		"/qlmservice.asmx/GetActivationKeyWithExpiryDate",
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKey",
		"/QLMLICENSESERVER/QLMSERVICE.ASMX/GETACTIVATIONKEYWITHEXPIRYDATE",
		"/yourvirtualdirectory/qlmservice.asmx/GetActivationKey",
		"/a/b/c/d/qlmLicenseServer/QlmService.Asmx/getActivationKey",
		"/qlm%20server/qlmservice.asmx/GetActivationKey",
	} {
		w := call(h, http.MethodPost, path+"?"+qlmQuery, orderForm("P200"), nil)
		assert.Equal(t, http.StatusOK, w.Code, "%s: %q", path, w.Body.String())
		assert.Equal(t, "KKKKK-11111\n", w.Body.String(), path)
	}
	// GET with the order in the query, as QLM's test page calls it.
	w := call(h, http.MethodGet, getKey+"?"+qlmQuery+"&"+orderForm("P200"), "", nil)
	assert.Equal(t, http.StatusOK, w.Code, "GET: %q", w.Body.String())
	assert.Equal(t, "KKKKK-11111\n", w.Body.String())

	for _, path := range []string{"/healthz", "/HEALTHZ"} {
		w := call(h, http.MethodGet, path, "", nil)
		assert.Equal(t, http.StatusOK, w.Code, path)
		assert.Equal(t, "ok\n", w.Body.String(), path)
		assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"), path)
	}

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/qlmservice.asmx/nope", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodPut, getKey, http.StatusMethodNotAllowed},
		{http.MethodDelete, "/QLMSERVICE.ASMX/GETACTIVATIONKEY", http.StatusMethodNotAllowed},
		{http.MethodPut, "/qlmLicenseServer/qlmservice.asmx/GetActivationKey", http.StatusMethodNotAllowed},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := call(h, tc.method, tc.path+"?"+qlmQuery, "", nil)
			requirePlain(t, w, tc.status, "")
			assert.NotContains(t, w.Body.String(), password)
		})
	}
}

// QLM's methods match under any virtual directory, in any case, and only
// as the last two path elements; what matches reaches the key step.
func TestQLMPaths(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)

	t.Run("guide's URL verbatim", func(t *testing.T) {
		f.storeOrder("shareit", "P210", "1", "GUIDE-KEY")
		w := call(h, http.MethodPost, guideURL, orderForm("P210"), nil)
		assert.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())
		assert.Equal(t, "GUIDE-KEY\n", w.Body.String())

		// Not stored: decoded and handed to Temporal.
		w = call(h, http.MethodPost, guideURL, orderForm("P211"), nil)
		f.requireKeyStep(t, w, "shareit:P211-1")
	})

	reached := []string{
		"/yourvirtualdirectory/qlmservice.asmx/GetActivationKey",
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKey",
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKeyWithExpiryDate",
		"/qlmLicenseServer/qlmservice.asmx/QlmWebHookHandler",
		"/sites/vendor/licensing/v5/qlmLicenseServer/qlmservice.asmx/GetActivationKey",
		"/QLMLICENSESERVER/QLMSERVICE.ASMX/GETACTIVATIONKEY",
		"/QlmLicenseServer/QLMService.asmx/getactivationkeywithexpirydate",
		"/qlmservice.asmx/qlmWEBhookHANDLER",
	}
	for i, path := range reached {
		t.Run(path, func(t *testing.T) {
			stored, fresh := fmt.Sprintf("P22%d", i), fmt.Sprintf("P23%d", i)
			key := fmt.Sprintf("PATH-KEY-%d", i)
			f.storeOrder("shareit", stored, "1", key)
			target := path + "?" + qlmQuery

			w := call(h, http.MethodPost, target, orderForm(stored), nil)
			assert.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())
			assert.Equal(t, key+"\n", w.Body.String())

			w = call(h, http.MethodPost, target, orderForm(fresh), nil)
			f.requireKeyStep(t, w, "shareit:"+fresh+"-1")

			// GET with the order in the query.
			w = call(h, http.MethodGet, target+"&"+orderForm(stored), "", nil)
			assert.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())
			assert.Equal(t, key+"\n", w.Body.String())
		})
	}

	f.storeOrder("shareit", "P240", "1", "NEVER-SHOWN")
	for _, path := range []string{
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKeys",
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKey/extra",
		"/qlmLicenseServer/qlmservice.asmx/NoSuchMethod",
		"/qlmLicenseServer/qlmservice.asmx/GetActivationKeyWithExpiry",
		"/qlmLicenseServer/qlmservice.asmx",
		"/qlmLicenseServer/otherservice.asmx/GetActivationKey",
		"/qlmLicenseServer/notqlmservice.asmx/GetActivationKey",
		"/qlmLicenseServer/qlmservice.asmx.GetActivationKey",
		"/qlmLicenseServer/GetActivationKey",
		"/getactivationkey",
	} {
		t.Run("unknown "+path, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				w := call(h, method, path+"?"+qlmQuery, orderForm("P240"), nil)
				requirePlain(t, w, http.StatusNotFound, "no such endpoint")
				assert.NotContains(t, w.Body.String(), "NEVER-SHOWN")
			}
		})
	}
	assert.NotContains(t, f.log.String(), "P240", "an unknown method decoded the order")
}

func TestTrustedProxies(t *testing.T) {
	f := newFixture(t)
	f.storeOrder("faraway", "P300", "1", "FARAWAY-KEY")
	f.storeOrder("local", "P300", "1", "LOCAL-KEY")
	direct := f.handler(nil)
	// httptest's peer 192.0.2.1 is a proxy, and so is a load balancer in
	// 10.0.0.0/8 in front of it.
	proxied := f.handler(trusting(t, "192.0.2.1", "10.0.0.0/8"))
	// Trusting another address does not trust the peer.
	elsewhere := f.handler(trusting(t, "203.0.113.0/24", "::ffff:10.9.9.9"))

	for _, tc := range []struct {
		name   string
		h      http.Handler
		vendor string
		xff    []string
		status int
	}{
		{"not trusted: header ignored, caller refused", direct, "faraway", []string{"198.51.100.7"}, 403},
		{"peer not among trusted proxies: header ignored", elsewhere, "faraway", []string{"198.51.100.7"}, 403},
		{"trusted: header honoured", proxied, "faraway", []string{"198.51.100.7"}, 200},
		{"trusted: IPv4-mapped IPv6 in header", proxied, "faraway", []string{"::ffff:198.51.100.7"}, 200},
		{"trusted: spaces around entries", proxied, "faraway", []string{" 198.51.100.7 "}, 200},
		{"trusted without header: remote address", proxied, "faraway", nil, 403},
		{"trusted: unparsable header falls back to remote address", proxied, "faraway", []string{"unknown"}, 403},
		{"trusted: caller behind two trusted proxies", proxied, "faraway", []string{"198.51.100.7, 10.1.2.3"}, 200},
		{"trusted: caller's own entries left of it ignored", proxied, "faraway", []string{"203.0.113.50, 198.51.100.7, 10.1.2.3"}, 200},
		{"trusted: spoofed entry left of the real caller", proxied, "faraway", []string{"198.51.100.7, 203.0.113.50, 10.1.2.3"}, 403},
		{"trusted: several header lines read as one list", proxied, "faraway", []string{"203.0.113.50", "198.51.100.7"}, 200},
		{"trusted: spoof in the first of several header lines", proxied, "faraway", []string{"198.51.100.7", "203.0.113.50"}, 403},
		{"trusted: unparsable entry stops at the last readable one", proxied, "faraway", []string{"198.51.100.7, garbage, 10.1.2.3"}, 403},
		{"trusted: only proxies in the header", proxied, "local", []string{"10.1.2.3"}, 403},
		{"not trusted: allowed caller whatever the header says", direct, "local", []string{"203.0.113.9"}, 200},
		{"peer not among trusted proxies: allowed whatever the header says", elsewhere, "local", []string{"203.0.113.9"}, 200},
		{"trusted: header names a caller outside the list", proxied, "local", []string{"203.0.113.9"}, 403},
		{"trusted without header: allowed remote address", proxied, "local", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := "is_vendor=" + tc.vendor + "&is_productid=1&is_majorversion=1&is_minorversion=0"
			w := call(tc.h, http.MethodPost, getKey+"?"+q, orderForm("P300"), func(r *http.Request) {
				require.Equal(t, "192.0.2.1:1234", r.RemoteAddr)
				for _, v := range tc.xff {
					r.Header.Add("X-Forwarded-For", v)
				}
			})
			assert.Equal(t, tc.status, w.Code, "body %q", w.Body.String())
			if tc.status == http.StatusForbidden {
				requirePlain(t, w, 403, "not allowed")
			} else {
				assert.Equal(t, strings.ToUpper(tc.vendor)+"-KEY\n", w.Body.String())
			}
		})
	}
}

// A reverse proxy such as nginx with the usual
// "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" appends the
// address it saw to whatever the caller sent. Only that last entry is the
// proxy's word; the first is the caller's own claim and must not open the
// allow-list.
func TestTrustedProxyIgnoresCallerSuppliedForwardedFor(t *testing.T) {
	f := newFixture(t)
	f.storeOrder("faraway", "P301", "1", "FARAWAY-KEY")
	h := f.handler(trusting(t, "192.0.2.1"))
	q := "is_vendor=faraway&is_productid=1&is_majorversion=1&is_minorversion=0"

	// The caller at 203.0.113.50 claims to be the allowed 198.51.100.7.
	w := call(h, http.MethodPost, getKey+"?"+q, orderForm("P301"), func(r *http.Request) {
		r.Header.Set("X-Forwarded-For", "198.51.100.7, 203.0.113.50")
	})
	assert.Equal(t, http.StatusForbidden, w.Code, "spoofed X-Forwarded-For got %q", w.Body.String())

	// The allowed caller through the same proxy.
	w = call(h, http.MethodPost, getKey+"?"+q, orderForm("P301"), func(r *http.Request) {
		r.Header.Set("X-Forwarded-For", "203.0.113.50, 198.51.100.7")
	})
	assert.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())
}

// is_features arrives with an unescaped ';', which url.Query would drop
// together with the whole pair: a bad set must still be seen and refused.
func TestFeaturesWithSemicolonHonoured(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	f.storeOrder("shareit", "P400", "1", "FEATURE-KEY")

	w := call(h, http.MethodPost, getKey+"?"+qlmQuery, orderForm("P400"), nil)
	assert.Equal(t, http.StatusOK, w.Code, "body %q", w.Body.String())

	for _, features := range []string{"0:3;9:1", "0:3;0:1", "0:3;1:256", "0:3;x"} {
		t.Run(features, func(t *testing.T) {
			q := strings.Replace(qlmQuery, "is_features=0:3;1:1", "is_features="+features, 1)
			w := call(h, http.MethodPost, getKey+"?"+q, orderForm("P400"), nil)
			reason := requirePlain(t, w, http.StatusBadRequest, "is_features")
			assert.NotContains(t, reason, "FEATURE-KEY")
		})
	}

	// Escaped, the same value is refused the same way.
	q := strings.Replace(qlmQuery, "is_features=0:3;1:1", "is_features="+url.QueryEscape("0:3;9:1"), 1)
	requirePlain(t, call(h, http.MethodPost, getKey+"?"+q, orderForm("P400"), nil), http.StatusBadRequest, "is_features")
}

// With Postgres down, readiness says so (liveness does not), and a key
// request still tries Temporal (which may save later) before giving up with
// a plain 503.
func TestDatabaseDown(t *testing.T) {
	f := newFixture(t)
	db, err := store.Open("postgres://postgres@127.0.0.1:1/keysmith?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	f.store = store.New(db)
	h := f.handler(nil)

	requirePlain(t, call(h, http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, "database, temporal unavailable")
	requirePlain(t, call(h, http.MethodGet, "/healthz", "", nil), http.StatusOK, "ok")

	w := call(h, http.MethodPost, getKey+"?"+qlmQuery, orderForm("P500"), nil)
	requirePlain(t, w, http.StatusServiceUnavailable, "try again")
	logs := f.log.String()
	assert.Contains(t, logs, "Look up stored order")
	assert.Contains(t, logs, "Issue keys")
	assert.NotContains(t, logs, password)
	assert.NotContains(t, logs, "is_pwd")
}

// A database that accepts connections and never answers must not use up
// the storefront's wait: the look-up gives up after its own deadline and
// Temporal is asked with the time left.
func TestDatabaseHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	f := newFixture(t)
	db, err := store.Open("postgres://postgres@" + ln.Addr().String() + "/keysmith?sslmode=disable&connect_timeout=30")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	f.store = store.New(db)
	f.keyTimeout = 4 * time.Second
	h := f.handler(nil)

	start := time.Now()
	w := call(h, http.MethodPost, getKey+"?"+qlmQuery, orderForm("P510"), nil)
	elapsed := time.Since(start)
	f.requireKeyStep(t, w, "shareit:P510-1")
	// Temporal was asked before the deadline, and refused the connection.
	assert.Equal(t, "key service temporarily unavailable; try again\n", w.Body.String())
	assert.Less(t, elapsed, 4*time.Second+time.Second, "the call outlived KeyTimeout")

	// When the look-up gave up, as the log's timestamps tell.
	var lookedUp time.Time
	for line := range strings.SplitSeq(f.log.String(), "\n") {
		if strings.Contains(line, `msg="Look up stored order"`) {
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			lookedUp, err = time.Parse(time.RFC3339Nano, ts)
			require.NoError(t, err, line)
			break
		}
	}
	require.False(t, lookedUp.IsZero(), "no failed look-up logged:\n%s", f.log.String())
	took := lookedUp.Sub(start)
	assert.GreaterOrEqual(t, took, 400*time.Millisecond)
	assert.Less(t, took, 2*time.Second, "the look-up did not stop at its own deadline (500 ms)")
}

// A vendor's URL with an empty path element ("//") or a dot segment is
// served like its clean form, as IIS serves it: not redirected, which
// would echo is_pwd in Location and turn the storefront's POST into a GET
// without the order.
func TestUncleanPathsServed(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	for i, path := range []string{
		"/qlmLicenseServer//qlmservice.asmx/GetActivationKey",
		"//qlmservice.asmx/GetActivationKey",
		"/qlmLicenseServer/./qlmservice.asmx/GetActivationKey",
	} {
		t.Run(path, func(t *testing.T) {
			purchase := fmt.Sprintf("P95%d", i)
			w := call(h, http.MethodPost, path+"?"+qlmQuery, orderForm(purchase), nil)
			for name, vs := range w.Header() {
				assert.NotContains(t, strings.Join(vs, " "), password, "header %s shows the password", name)
			}
			f.requireKeyStep(t, w, "shareit:"+purchase+"-1")
		})
	}
}
