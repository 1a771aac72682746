package api

import (
	"cmp"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits on the public /v1 routes: per caller address and per key, so
// that neither a script hammering one key nor one address trying many keys
// gets far, while an office activating its seats one after another does.
// An application checks its key about once a month.
const (
	defaultPerAddressPerMinute = 300
	defaultPerKeyPerMinute     = 60
)

// perMinute is a bucket of n requests that refills in a minute.
func perMinute(n int) limit { return limit{every: time.Minute / time.Duration(n), burst: n} }

// maxTracked is how many limiters are kept before full ones are dropped.
const maxTracked = 50_000

type limit struct {
	every time.Duration
	burst int
}

// limiters hands out one token bucket per name.
type limiters struct {
	limit
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiters(l limit) *limiters { return &limiters{limit: l, m: map[string]*rate.Limiter{}} }

// allow takes a token for name, or says how long until one is there.
func (l *limiters) allow(name string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[name]
	if !ok {
		if len(l.m) >= maxTracked {
			for k, old := range l.m {
				if old.Tokens() >= float64(l.burst) {
					delete(l.m, k)
				}
			}
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[name] = lim
	}
	if lim.Allow() {
		return 0, true
	}
	wait := time.Duration(math.Ceil((1-lim.Tokens())*l.every.Seconds())) * time.Second
	return max(wait, time.Second), false
}

// tooMany answers 429 with Retry-After.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
	writeJSON(w, http.StatusTooManyRequests, errorBody{"too many requests; try later"})
}

// guard admits a public /v1 request under both limits.
type guard struct {
	auth  *authenticator // for the caller's address, behind trusted proxies
	addrs *limiters
	keys  *limiters
}

func newGuard(auth *authenticator, perAddress, perKey int) *guard {
	return &guard{auth: auth,
		addrs: newLimiters(perMinute(cmp.Or(perAddress, defaultPerAddressPerMinute))),
		keys:  newLimiters(perMinute(cmp.Or(perKey, defaultPerKeyPerMinute)))}
}

// admit answers 429 itself and returns false when a limit is reached.
func (g *guard) admit(w http.ResponseWriter, r *http.Request, key string) bool {
	if wait, ok := g.addrs.allow(g.auth.clientAddr(r).String()); !ok {
		tooMany(w, wait)
		return false
	}
	if wait, ok := g.keys.allow(keyName(key)); !ok {
		tooMany(w, wait)
		return false
	}
	return true
}

// keyName is a key as typed any way (case, dashes, spaces).
func keyName(key string) string {
	out := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}
