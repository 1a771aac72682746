package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/shareit"
)

// Limits on callers who are not the storefront. bcrypt costs tens of
// milliseconds of CPU a try: a few at a time, and an address that keeps
// sending wrong credentials waits.
const (
	bcryptSlots = 2
	// failureBurst wrong credentials from one address pass, then one more
	// every failureEvery.
	failureBurst = 10
	failureEvery = 6 * time.Second
	// maxTrackedAddrs bounds the failure table; past it, addresses with a
	// full allowance are forgotten.
	maxTrackedAddrs = 10_000
	// maxPasswordBytes: bcrypt reads 72 bytes and ignores the rest.
	maxPasswordBytes = 72
)

// authenticator checks the storefront's credentials: the IP allow-list,
// HTTP basic auth and QLM's is_user/is_pwd.
type authenticator struct {
	cfg   *config.Config
	slots *semaphore.Weighted
	// verified remembers, by SHA-256, credentials that passed bcrypt, so
	// that bcrypt does not sit in front of every order (memory only).
	verified sync.Map
	flights  singleflight.Group

	mu       sync.Mutex
	failures map[netip.Addr]*allowance
}

// allowance is one address's wrong credentials: what it may still spend,
// and how many of its checks are running (each may spend one).
type allowance struct {
	lim      *rate.Limiter
	checking int
}

func newAuthenticator(cfg *config.Config) *authenticator {
	return &authenticator{cfg: cfg, slots: semaphore.NewWeighted(bcryptSlots), failures: map[netip.Addr]*allowance{}}
}

// refusal is an answer that refuses a call.
type refusal struct {
	status     int
	reason     string
	retryAfter time.Duration // 429 only
}

// authenticate returns nil when the caller may ask p for keys.
func (a *authenticator) authenticate(ctx context.Context, r *http.Request, p *config.Provider, call *shareit.Call) *refusal {
	addr := a.clientAddr(r)
	if !p.AllowsIP(addr) {
		return &refusal{status: http.StatusForbidden, reason: "caller's address is not allowed"}
	}
	var checks []credential
	if p.BasicAuth != nil {
		user, pass, ok := r.BasicAuth()
		checks = append(checks, credential{"basic", p.BasicAuth.User, p.BasicAuth.PasswordHash, user, pass, ok,
			"wrong or missing basic auth credentials"})
	}
	if p.User != "" {
		user, pass := call.Credentials()
		checks = append(checks, credential{"qlm", p.User, p.PasswordHash, user, pass, true,
			"is_user/is_pwd: wrong or missing credentials"})
	}
	for _, c := range checks {
		ok, refused := a.check(ctx, addr, p.Name, c)
		if refused != nil {
			return refused
		}
		if !ok {
			return &refusal{status: http.StatusUnauthorized, reason: c.reason}
		}
	}
	return nil
}

// credential is one pair of credentials a provider requires, and what the
// caller sent.
type credential struct {
	kind, wantUser, hash string
	user, password       string
	present              bool
	reason               string // the answer when they do not match
}

// check compares credentials in constant time. Remembered ones pass at
// once; otherwise bcrypt runs, behind a small semaphore and only while the
// caller's address has failures left.
func (a *authenticator) check(ctx context.Context, addr netip.Addr, provider string, c credential) (bool, *refusal) {
	userOK := subtle.ConstantTimeCompare([]byte(c.user), []byte(c.wantUser)) == 1
	sum := sha256.Sum256([]byte(provider + "\x00" + c.kind + "\x00" + c.user + "\x00" + c.password + "\x00" + c.hash))
	if _, ok := a.verified.Load(sum); ok {
		return userOK, nil
	}
	// Identical credentials checked at once (the storefront's first burst
	// of calls) share one bcrypt run and count once against the address.
	v, _, _ := a.flights.Do(string(sum[:])+addr.String(), func() (any, error) {
		ok, refused := a.bcryptCheck(ctx, addr, c, userOK)
		if ok {
			a.verified.Store(sum, true)
		}
		return flight{ok, refused}, nil
	})
	f := v.(flight)
	return f.ok, f.refused
}

type flight struct {
	ok      bool
	refused *refusal
}

// bcryptCheck runs bcrypt for c, while addr has failures left.
func (a *authenticator) bcryptCheck(ctx context.Context, addr netip.Addr, c credential, userOK bool) (bool, *refusal) {
	if wait, ok := a.begin(addr); !ok {
		return false, &refusal{status: http.StatusTooManyRequests, reason: "too many wrong credentials from this address; try later", retryAfter: wait}
	}
	// bcrypt runs whether or not the user matches, so that the time taken
	// does not tell a caller that it guessed the user.
	ok := c.present && len(c.password) <= maxPasswordBytes
	if ok {
		if err := a.slots.Acquire(ctx, 1); err != nil {
			return false, &refusal{status: http.StatusServiceUnavailable, reason: "busy; try again"}
		}
		ok = bcrypt.CompareHashAndPassword([]byte(c.hash), []byte(c.password)) == nil && userOK
		a.slots.Release(1)
	}
	a.end(addr, ok)
	return ok, nil
}

// begin starts a check from addr when the address has a failure left for
// it, counting the checks under way, so that parallel guesses cannot all
// pass before any is counted. Otherwise it says how long to wait.
func (a *authenticator) begin(addr netip.Addr) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := a.allowanceLocked(addr)
	if left := al.lim.Tokens() - float64(al.checking); left < 1 {
		wait := time.Duration(math.Ceil((1-left)*failureEvery.Seconds())) * time.Second
		return max(wait, time.Second), false
	}
	al.checking++
	return 0, true
}

// end finishes a check from addr, spending one failure when it failed.
func (a *authenticator) end(addr netip.Addr, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := a.allowanceLocked(addr)
	al.checking--
	if !ok {
		al.lim.Allow()
	}
}

// limiter is addr's allowance of wrong credentials.
func (a *authenticator) limiter(addr netip.Addr) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.allowanceLocked(addr).lim
}

func (a *authenticator) allowanceLocked(addr netip.Addr) *allowance {
	if al, ok := a.failures[addr]; ok {
		return al
	}
	if len(a.failures) >= maxTrackedAddrs {
		for k, al := range a.failures {
			if al.checking == 0 && al.lim.Tokens() >= failureBurst {
				delete(a.failures, k)
			}
		}
	}
	al := &allowance{lim: rate.NewLimiter(rate.Every(failureEvery), failureBurst)}
	a.failures[addr] = al
	return al
}

// clientAddr is the caller's IP address. X-Forwarded-For counts only when
// the connection comes from a trusted proxy; then the entries are read from
// the right, skipping trusted proxies, and the first other one is the
// caller. Entries further left were written by the caller and prove nothing.
func (a *authenticator) clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, _ := netip.ParseAddr(host)
	peer = peer.Unmap()
	if !a.cfg.TrustsProxy(peer) {
		return peer
	}
	xff := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	entries := strings.Split(xff, ",")
	for i := len(entries) - 1; i >= 0; i-- {
		e, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			break // unreadable: stop at the last address we can vouch for
		}
		e = e.Unmap()
		if !a.cfg.TrustsProxy(e) {
			return e
		}
		peer = e
	}
	return peer
}
