package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/store"
)

const password = testenv.Password

const (
	getKey = "/qlmservice.asmx/getactivationkey"
	// qlmQuery is a Key Generator URL's query as vendors write it for QLM,
	// with the ';' of is_features unescaped.
	qlmQuery = "is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3;1:1&is_user=shareit&is_pwd=" + password
)

// parsedConfig is the shared test configuration.
func parsedConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := testenv.Config()
	require.NoError(t, err)
	return cfg
}

// syncBuffer is a bytes.Buffer for a logger that Temporal's client may
// also write to from its own goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	t        *testing.T
	store    *store.Store
	log      *syncBuffer
	logger   *slog.Logger
	temporal client.Client
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
	buf := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: tlog.NewStructuredLogger(logger)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &fixture{t: t, store: &store.Store{DB: db.DB}, log: buf, logger: logger, temporal: c}
}

func (f *fixture) handler(trustProxy bool) http.Handler {
	return api.NewHandler(api.Deps{
		Config:     parsedConfig(f.t),
		Store:      f.store,
		Temporal:   f.temporal,
		TaskQueue:  "x",
		KeyTimeout: time.Second,
		TrustProxy: trustProxy,
		Log:        f.logger,
	})
}

// storeOrder saves an order line with its keys, as the workflow would have.
func (f *fixture) storeOrder(provider, purchaseID, runningNo string, keys ...string) {
	f.t.Helper()
	o := &store.Order{
		Provider: provider, PurchaseID: purchaseID, RunningNo: runningNo,
		ProductID: 1, Major: 1, Minor: 0, ProductName: "Demo App",
		Quantity: 1, Features: "0:3;1:1", LicenseModel: "permanent",
		OrderDate: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Fields:    map[string]string{}, Args: map[string]string{},
		WorkflowID: "IssueLicense:" + provider + ":" + purchaseID + "-" + runningNo,
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

func TestSecretsNeverReachLogsOrAnswers(t *testing.T) {
	f := newFixture(t)
	h := f.handler(false)
	wrong := "wrong-91be4d-secret"
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
		{"webhook, Temporal unreachable", "/qlmservice.asmx/qlmwebhookhandler?is_vendor=shareit&is_user=shareit&is_pwd=" + password, orderForm("P3"), nil, 503, []string{password}},
		{"wrong password", getKey + "?" + strings.Replace(qlmQuery, password, wrong, 1), orderForm("P2"), nil, 401, []string{wrong}},
		{"password given twice", getKey + "?" + qlmQuery + "&is_pwd=" + wrong, orderForm("P2"), nil, 400, []string{password, wrong}},
		{"malformed password", getKey + "?" + strings.Replace(qlmQuery, password, wrong+"%zz", 1), orderForm("P2"), nil, 400, []string{wrong}},
		{"wrong basic auth", getKey + "?" + strings.Replace(qlmQuery, "ShareIt", "guarded", 1), orderForm("P2"),
			func(r *http.Request) { r.SetBasicAuth("basic", wrong) }, 401, []string{wrong}},
		{"GET with everything in the query", getKey + "?" + qlmQuery + "&" + orderForm("P4"), "", nil, 503, []string{password}},
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

	logs := f.log.String()
	// Not vacuous: the calls were logged, the failures with their cause.
	assert.Contains(t, logs, "HTTP")
	assert.Contains(t, logs, "status=503")
	assert.Contains(t, logs, "Issue keys")
	for _, s := range []string{password, wrong, "is_pwd", "is_user"} {
		assert.NotContains(t, logs, s, "the log shows %q", s)
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

func TestStoredOrderAnsweredWithoutTemporal(t *testing.T) {
	f := newFixture(t)
	h := f.handler(false)
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
	h := f.handler(false)
	f.storeOrder("shareit", "P200", "1", "KKKKK-11111")

	for _, path := range []string{
		"/QLMSERVICE.ASMX/GETACTIVATIONKEY",
		"/QlmService.asmx/GetActivationKey",
		"/qlmservice.asmx/GetActivationKeyWithExpiryDate",
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
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := call(h, tc.method, tc.path+"?"+qlmQuery, "", nil)
			requirePlain(t, w, tc.status, "")
			assert.NotContains(t, w.Body.String(), password)
		})
	}
}

func TestTrustProxy(t *testing.T) {
	f := newFixture(t)
	f.storeOrder("faraway", "P300", "1", "FARAWAY-KEY")
	f.storeOrder("local", "P300", "1", "LOCAL-KEY")
	direct, proxied := f.handler(false), f.handler(true)

	for _, tc := range []struct {
		name   string
		trust  bool
		vendor string
		xff    string
		status int
	}{
		{"not trusted: header ignored, caller refused", false, "faraway", "198.51.100.7", 403},
		{"trusted: header honoured", true, "faraway", "198.51.100.7", 200},
		{"trusted: IPv4-mapped IPv6 in header", true, "faraway", "::ffff:198.51.100.7", 200},
		{"trusted without header: remote address", true, "faraway", "", 403},
		{"trusted: unparsable header falls back to remote address", true, "faraway", "unknown", 403},
		{"not trusted: allowed caller whatever the header says", false, "local", "203.0.113.9", 200},
		{"trusted: header names a caller outside the list", true, "local", "203.0.113.9", 403},
		{"trusted without header: allowed remote address", true, "local", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := direct
			if tc.trust {
				h = proxied
			}
			q := "is_vendor=" + tc.vendor + "&is_productid=1&is_majorversion=1&is_minorversion=0"
			w := call(h, http.MethodPost, getKey+"?"+q, orderForm("P300"), func(r *http.Request) {
				require.Equal(t, "192.0.2.1:1234", r.RemoteAddr)
				if tc.xff != "" {
					r.Header.Set("X-Forwarded-For", tc.xff)
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
func TestTrustProxyIgnoresCallerSuppliedForwardedFor(t *testing.T) {
	f := newFixture(t)
	f.storeOrder("faraway", "P301", "1", "FARAWAY-KEY")
	h := f.handler(true)
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
	h := f.handler(false)
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

// With Postgres down, health says so, and a key request still tries
// Temporal (which may save later) before giving up with a plain 503.
func TestDatabaseDown(t *testing.T) {
	f := newFixture(t)
	db, err := store.Open("postgres://postgres@127.0.0.1:1/keysmith?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	f.store = &store.Store{DB: db}
	h := f.handler(false)

	requirePlain(t, call(h, http.MethodGet, "/healthz", "", nil), http.StatusServiceUnavailable, "database unavailable")

	w := call(h, http.MethodPost, getKey+"?"+qlmQuery, orderForm("P500"), nil)
	requirePlain(t, w, http.StatusServiceUnavailable, "try again")
	logs := f.log.String()
	assert.Contains(t, logs, "Look up stored order")
	assert.Contains(t, logs, "Issue keys")
	assert.NotContains(t, logs, password)
	assert.NotContains(t, logs, "is_pwd")
}
