package api

import (
	"cmp"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Limits on the public /v1 routes: per caller and per key, so that
// neither a script hammering one key nor one caller trying many keys
// gets far, while an office activating its seats one after another does.
// An application checks its key about once a month.
const (
	defaultPerAddressPerMinute = 300
	defaultPerKeyPerMinute     = 60
)

// perMinute is a bucket of n requests that refills in a minute.
func perMinute(n int) limit { return limit{every: time.Minute / time.Duration(n), burst: n} }

// maxTracked bounds each table of limiters; past it, the name heard from
// least recently is forgotten (a caller or key being throttled is heard
// from all the time, so it stays). An entry (the table's slot and its
// rate.Limiter) is about 300 bytes for a caller and 420 for a key (its
// text, about 180 bytes), measured once a table has turned over a
// million names: at most 15 MB of heap for the callers and 21 MB for the
// keys. A limiter refills within a minute, so forgetting one that was
// quiet longer gives its caller nothing.
const maxTracked = 50_000

type limit struct {
	every time.Duration
	burst int
}

// limiters hands out one token bucket per name: a caller's prefix, a key.
type limiters[K comparable] struct {
	limit
	mu sync.Mutex
	m  *simplelru.LRU[K, *rate.Limiter]
}

func newLimiters[K comparable](l limit) *limiters[K] {
	m, err := simplelru.NewLRU[K, *rate.Limiter](maxTracked, nil)
	if err != nil {
		panic(err) // only for a size below one
	}
	return &limiters[K]{limit: l, m: m}
}

// allow takes a token for name, or says how long until one is there.
func (l *limiters[K]) allow(name K) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m.Get(name)
	if !ok {
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m.Add(name, lim)
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
	auth  *authenticator // for the caller, behind trusted proxies
	addrs *limiters[netip.Prefix]
	keys  *limiters[string]
}

func newGuard(auth *authenticator, perAddress, perKey int) *guard {
	return &guard{auth: auth,
		addrs: newLimiters[netip.Prefix](perMinute(cmp.Or(perAddress, defaultPerAddressPerMinute))),
		keys:  newLimiters[string](perMinute(cmp.Or(perKey, defaultPerKeyPerMinute)))}
}

// admit answers 429 itself and returns false when a limit is reached. A
// caller is its address's prefix (callerPrefix), as for wrong credentials.
func (g *guard) admit(w http.ResponseWriter, r *http.Request, key string) bool {
	caller := callerPrefix(g.auth.clientAddr(r), g.auth.ipv6Bits)
	if wait, ok := g.addrs.allow(caller); !ok {
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
