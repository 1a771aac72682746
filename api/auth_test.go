package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/keysmith/keysmith/config"
)

// longPassword is exactly the 72 bytes bcrypt reads.
var longPassword = strings.Repeat("0123456789abcdef", 4) + "L72-pass"

// withLongProvider adds provider "long", whose is_pwd is longPassword.
func withLongProvider(t *testing.T) *config.Config {
	t.Helper()
	require.Len(t, longPassword, 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(longPassword), bcrypt.MinCost)
	require.NoError(t, err)
	return configWith(t, func(c *config.Config) {
		c.Providers = append(c.Providers, config.Provider{Name: "long", User: "long", PasswordHash: string(hash)})
	})
}

// credsQuery is qlmQuery for vendor with is_user and is_pwd replaced.
func credsQuery(vendor, user, pwd string) string {
	q := strings.Replace(qlmQuery, "is_vendor=ShareIt", "is_vendor="+vendor, 1)
	return strings.Replace(q, "is_user=shareit&is_pwd="+password, "is_user="+user+"&is_pwd="+pwd, 1)
}

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	h := f.handler(withLongProvider(t))
	basic := func(user, pwd string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pwd) }
	}

	for i, tc := range []struct {
		name   string
		query  string
		basic  func(*http.Request)
		status int    // 0: reaches the key step
		reason string // of a refusal
	}{
		{"right credentials", qlmQuery, nil, 0, ""},
		{"vendor in another case", credsQuery("SHAREIT", "shareit", password), nil, 0, ""},
		{"no is_vendor: the default provider", strings.Replace(qlmQuery, "is_vendor=ShareIt&", "", 1), nil, 0, ""},
		{"unknown vendor", credsQuery("nobody", "shareit", password), nil, 401, "is_vendor: unknown provider"},
		{"wrong password", credsQuery("ShareIt", "shareit", "not-the-password"), nil, 401, "is_user/is_pwd: wrong or missing credentials"},
		{"password in another case", credsQuery("ShareIt", "shareit", strings.ToUpper(password)), nil, 401, "is_user/is_pwd"},
		{"password with a space added", credsQuery("ShareIt", "shareit", password+"%20"), nil, 401, "is_user/is_pwd"},
		{"wrong user", credsQuery("ShareIt", "someone", password), nil, 401, "is_user/is_pwd"},
		{"user in another case", credsQuery("ShareIt", "ShareIt", password), nil, 401, "is_user/is_pwd"},
		{"empty password", credsQuery("ShareIt", "shareit", ""), nil, 401, "is_user/is_pwd"},
		{"no credentials", strings.Replace(qlmQuery, "&is_user=shareit&is_pwd="+password, "", 1), nil, 401, "is_user/is_pwd"},
		{"credentials of another provider", credsQuery("long", "shareit", password), nil, 401, "is_user/is_pwd"},
		{"72-byte password", credsQuery("long", "long", longPassword), nil, 0, ""},
		{"73-byte password that bcrypt would read as the right one", credsQuery("long", "long", longPassword+"x"), nil, 401, "is_user/is_pwd"},
		{"71 bytes of the password", credsQuery("long", "long", longPassword[:71]), nil, 401, "is_user/is_pwd"},
		{"basic auth provider: both", credsQuery("guarded", "shareit", password), basic("basic", password), 0, ""},
		{"basic auth provider: is_user/is_pwd only", credsQuery("guarded", "shareit", password), nil, 401, "wrong or missing basic auth credentials"},
		{"basic auth provider: basic auth only", strings.Replace(credsQuery("guarded", "", ""), "&is_user=&is_pwd=", "", 1), basic("basic", password), 401, "is_user/is_pwd"},
		{"basic auth provider: wrong is_pwd", credsQuery("guarded", "shareit", "nope-nope"), basic("basic", password), 401, "is_user/is_pwd"},
		{"basic auth provider: wrong basic password", credsQuery("guarded", "shareit", password), basic("basic", "nope-nope"), 401, "basic auth"},
		{"basic auth provider: wrong basic user", credsQuery("guarded", "shareit", password), basic("shareit", password), 401, "basic auth"},
		{"basic auth provider: 73-byte basic password", credsQuery("guarded", "shareit", password), basic("basic", password+strings.Repeat("x", 73-len(password))), 401, "basic auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each from its own address: no case spends another's failures.
			addr := fmt.Sprintf("192.0.2.%d:1234", 10+i)
			purchase := fmt.Sprintf("P6%02d", i)
			w := call(h, http.MethodPost, getKey+"?"+tc.query, orderForm(purchase), func(r *http.Request) {
				r.RemoteAddr = addr
				if tc.basic != nil {
					tc.basic(r)
				}
			})
			if tc.status == 0 {
				f.requireKeyStep(t, w, keyStepProvider(tc.query)+":"+purchase+"-1")
				return
			}
			reason := requirePlain(t, w, tc.status, tc.reason)
			assert.NotContains(t, reason, password)
			assert.NotContains(t, f.log.String(), ":"+purchase+"-1", "a refused call reached the order")
			if strings.Contains(tc.reason, "basic auth") {
				assert.Equal(t, `Basic realm="keysmith"`, w.Header().Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, w.Header().Get("WWW-Authenticate"))
			}
			assert.Empty(t, w.Header().Get("Retry-After"))
		})
	}
}

// keyStepProvider is the provider a query names, as order IDs spell it.
func keyStepProvider(query string) string {
	for pair := range strings.SplitSeq(query, "&") {
		if v, ok := strings.CutPrefix(pair, "is_vendor="); ok {
			return strings.ToLower(v)
		}
	}
	return "shareit"
}

// wrongCalls sends n calls with a wrong password from the request's edit
// and returns their statuses; every 429 is checked on the way.
func wrongCalls(t *testing.T, h http.Handler, n int, edit func(*http.Request)) []int {
	t.Helper()
	target := getKey + "?" + credsQuery("ShareIt", "shareit", "guess-"+strconv.Itoa(n))
	codes := make([]int, n)
	for i := range codes {
		w := call(h, http.MethodPost, target, orderForm("P700"), edit)
		codes[i] = w.Code
		if w.Code == http.StatusTooManyRequests {
			requireThrottled(t, w)
		}
	}
	return codes
}

// requireThrottled checks a 429: a plain reason and a Retry-After of whole
// seconds, at least 1 and at most the 6 s a failure takes to come back.
func requireThrottled(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	requirePlain(t, w, http.StatusTooManyRequests, "too many wrong credentials from this address; try later")
	after, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", w.Header().Get("Retry-After"))
	assert.GreaterOrEqual(t, after, 1)
	assert.LessOrEqual(t, after, 6)
}

// requireThrottledAfter10 checks that the first 10 wrong credentials were
// refused as such and the rest throttled: one more 401 per 6 s the calls
// took is allowed.
func requireThrottledAfter10(t *testing.T, codes []int, took time.Duration) {
	t.Helper()
	for i, c := range codes[:10] {
		require.Equal(t, http.StatusUnauthorized, c, "call %d", i+1)
	}
	require.Equal(t, http.StatusTooManyRequests, codes[10], "call 11")
	refilled := 0
	for i, c := range codes[10:] {
		switch c {
		case http.StatusTooManyRequests:
		case http.StatusUnauthorized:
			refilled++
		default:
			t.Fatalf("call %d: status %d", 11+i, c)
		}
	}
	assert.LessOrEqual(t, refilled, int(took/(6*time.Second)), "more failures than the allowance refills")
}

func TestWrongCredentialsThrottledByAddress(t *testing.T) {
	f := newFixture(t)
	right := getKey + "?" + qlmQuery

	t.Run("others and remembered credentials pass", func(t *testing.T) {
		h := f.handler(nil)
		attacker := from("198.51.100.66:4000")
		start := time.Now()
		requireThrottledAfter10(t, wrongCalls(t, h, 200, attacker), time.Since(start))

		// Right credentials that no call has proved yet are not checked
		// for the throttled address either.
		requireThrottled(t, call(h, http.MethodPost, right, orderForm("P701"), attacker))

		// Another address keeps its own allowance: the storefront is not
		// locked out by someone else's guesses.
		w := call(h, http.MethodPost, right, orderForm("P702"), from("192.0.2.77:5555"))
		f.requireKeyStep(t, w, "shareit:P702-1")
		requirePlain(t, call(h, http.MethodPost, getKey+"?"+credsQuery("ShareIt", "shareit", "guess"), orderForm("P703"),
			from("192.0.2.77:5555")), http.StatusUnauthorized, "is_user/is_pwd")

		// Now remembered, they pass from the throttled address as well,
		// while its wrong ones stay throttled.
		w = call(h, http.MethodPost, right, orderForm("P704"), attacker)
		f.requireKeyStep(t, w, "shareit:P704-1")
		requireThrottled(t, call(h, http.MethodPost, getKey+"?"+credsQuery("ShareIt", "shareit", "guess"), orderForm("P705"), attacker))
	})

	t.Run("remembered before the throttling", func(t *testing.T) {
		h := f.handler(nil)
		storefront := from("192.0.2.1:1234")
		f.requireKeyStep(t, call(h, http.MethodPost, right, orderForm("P710"), storefront), "shareit:P710-1")

		start := time.Now()
		requireThrottledAfter10(t, wrongCalls(t, h, 200, storefront), time.Since(start))

		for _, purchase := range []string{"P711", "P712", "P713"} {
			f.requireKeyStep(t, call(h, http.MethodPost, right, orderForm(purchase), storefront), "shareit:"+purchase+"-1")
		}
		// What is remembered is one provider's credentials: those of
		// another provider are still unproved and not checked.
		requireThrottled(t, call(h, http.MethodPost, getKey+"?"+credsQuery("guarded", "shareit", password), orderForm("P714"),
			func(r *http.Request) { r.RemoteAddr = "192.0.2.1:1234"; r.SetBasicAuth("basic", password) }))
	})

	t.Run("IPv4-mapped IPv6 peer is the same address", func(t *testing.T) {
		h := f.handler(nil)
		requireThrottledAfter10(t, wrongCalls(t, h, 11, from("198.51.100.67:4000")), 0)
		requireThrottled(t, call(h, http.MethodPost, getKey+"?"+credsQuery("ShareIt", "shareit", "x"), orderForm("P720"), from("[::ffff:198.51.100.67]:4001")))
	})
}

// X-Forwarded-For names the address whose failures count only when the
// peer is a trusted proxy: otherwise a caller would write itself a fresh
// allowance into every call.
func TestThrottlingAndForwardedFor(t *testing.T) {
	f := newFixture(t)
	wrong := getKey + "?" + credsQuery("ShareIt", "shareit", "guess")
	right := getKey + "?" + qlmQuery
	xff := func(addr string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Forwarded-For", addr) }
	}

	t.Run("untrusted peer: header ignored", func(t *testing.T) {
		h := f.handler(nil) // trusts no proxy
		for i := range 10 {
			w := call(h, http.MethodPost, wrong, orderForm("P800"), xff(fmt.Sprintf("203.0.113.%d", i+1)))
			requirePlain(t, w, http.StatusUnauthorized, "is_user/is_pwd")
		}
		requireThrottled(t, call(h, http.MethodPost, wrong, orderForm("P800"), xff("203.0.113.200")))
		requireThrottled(t, call(h, http.MethodPost, wrong, orderForm("P800"), nil))
	})

	t.Run("untrusted peer behind a trusted network: header ignored", func(t *testing.T) {
		h := f.handler(trusting(t, "10.0.0.0/8"))
		for i := range 10 {
			call(h, http.MethodPost, wrong, orderForm("P801"), xff(fmt.Sprintf("203.0.113.%d", i+1)))
		}
		requireThrottled(t, call(h, http.MethodPost, wrong, orderForm("P801"), xff("10.1.1.1")))
	})

	t.Run("trusted proxy: header honoured", func(t *testing.T) {
		h := f.handler(trusting(t, "192.0.2.1"))
		attacker := xff("203.0.113.66")
		requireThrottledAfter10(t, wrongCalls(t, h, 20, attacker), 0)
		requireThrottled(t, call(h, http.MethodPost, right, orderForm("P810"), attacker))

		// Another caller through the same proxy has its own allowance...
		requirePlain(t, call(h, http.MethodPost, wrong, orderForm("P811"), xff("203.0.113.67")), http.StatusUnauthorized, "is_user/is_pwd")
		f.requireKeyStep(t, call(h, http.MethodPost, right, orderForm("P812"), xff("203.0.113.67")), "shareit:P812-1")
		// ...and so has the proxy itself.
		f.requireKeyStep(t, call(h, http.MethodPost, right, orderForm("P813"), nil), "shareit:P813-1")
		// The caller cannot escape by prepending an address of its own:
		// the proxy appends the one it saw.
		requireThrottled(t, call(h, http.MethodPost, wrong, orderForm("P814"), xff("198.51.100.1, 203.0.113.66")))
	})
}

// Different wrong credentials sent at once from one address get no more
// tries than sent one after another.
func TestConcurrentWrongCredentialsThrottled(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)

	start := time.Now()
	codes := make([]int, 100)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			target := getKey + "?" + credsQuery("ShareIt", "shareit", fmt.Sprintf("guess-%d", i))
			codes[i] = call(h, http.MethodPost, target, orderForm("P900"), from("198.51.100.70:1")).Code
		})
	}
	wg.Wait()
	took := time.Since(start)
	counts := map[int]int{}
	for _, c := range codes {
		counts[c]++
	}
	assert.LessOrEqual(t, counts[http.StatusUnauthorized], 10+int(took/(6*time.Second)), "statuses %v", counts)
	assert.Equal(t, len(codes), counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests], "statuses %v", counts)
}

// The storefront's first burst: the same right credentials, sent at once
// before any was remembered, all pass (they share bcrypt runs, and no check
// of right credentials counts against the address).
func TestConcurrentRightCredentialsPass(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	target := getKey + "?" + credsQuery("ShareIt", "shareit", password)
	codes := make([]int, 50)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			codes[i] = call(h, http.MethodPost, target, orderForm(fmt.Sprintf("P95%d", i)), from("198.51.100.71:1")).Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		// 503: past authentication, at the (unreachable) Temporal.
		assert.Equal(t, http.StatusServiceUnavailable, c, "call %d", i)
	}
}
