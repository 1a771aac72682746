package api

import (
	"cmp"
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

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
)

// Limits on callers who are not the storefront. bcrypt costs tens of
// milliseconds of CPU a try: a few at a time, and a caller that keeps
// sending wrong credentials waits.
const (
	bcryptSlots = 2
	// failureBurst wrong credentials from one caller pass, then one more
	// every failureEvery.
	failureBurst = 10
	failureEvery = 6 * time.Second
	// defaultProviderFailuresPerMinute is every caller's wrong credentials
	// together for one provider: what a guesser with many networks gets.
	defaultProviderFailuresPerMinute = 100
	// maxTrackedCallers bounds the failure table; past it, the caller
	// heard from least recently is forgotten. An entry (the table's slot,
	// the allowance and its rate.Limiter) is about 400 bytes once the
	// table has turned over: 4 MB at most. Only checks within a
	// provider's budget add callers, so at the default budget the one
	// forgotten was last heard from 100 minutes ago or more (divided by
	// the providers under attack at once), and had its whole allowance
	// back a minute after it.
	maxTrackedCallers = 10_000
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
	// ipv6Bits is how much of an IPv6 address names the caller.
	ipv6Bits int
	// providerFailures is each provider's budget of wrong credentials.
	providerFailures limit

	mu       sync.Mutex
	failures *simplelru.LRU[netip.Prefix, *allowance]
	// providers is bounded by the configuration's providers.
	providers map[string]*allowance
}

// allowance is one caller's, or one provider's, wrong credentials: what
// it may still spend, and how many of its checks are running (each may
// spend one).
type allowance struct {
	lim      *rate.Limiter
	checking int
}

func newAllowance(l limit) *allowance {
	return &allowance{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
}

// wait is how long until a check more may start, 0 when one may now.
// Whole seconds, at least one, for Retry-After.
func (al *allowance) wait() time.Duration {
	left := al.lim.Tokens() - float64(al.checking)
	if left >= 1 {
		return 0
	}
	wait := time.Duration(math.Ceil((1-left)/float64(al.lim.Limit()))) * time.Second
	return max(wait, time.Second)
}

// newAuthenticator counts IPv6 callers by their first ipv6Bits bits
// (default 64) and lets each provider have providerFailuresPerMinute
// wrong credentials a minute (default 100).
func newAuthenticator(cfg *config.Config, ipv6Bits, providerFailuresPerMinute int) *authenticator {
	failures, err := simplelru.NewLRU[netip.Prefix, *allowance](maxTrackedCallers, nil)
	if err != nil {
		panic(err) // only for a size below one
	}
	return &authenticator{
		cfg:              cfg,
		slots:            semaphore.NewWeighted(bcryptSlots),
		ipv6Bits:         cmp.Or(ipv6Bits, defaultIPv6Bits),
		providerFailures: perMinute(cmp.Or(providerFailuresPerMinute, defaultProviderFailuresPerMinute)),
		failures:         failures,
		providers:        map[string]*allowance{},
	}
}

// refusal is an answer that refuses a call.
type refusal struct {
	status     int
	reason     string
	retryAfter time.Duration // 429 only
}

// authenticate returns nil when the caller may ask p for keys.
func (a *authenticator) authenticate(ctx context.Context, r *http.Request, p *config.Provider, call *qlm.Call) *refusal {
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
		ok, refused := a.check(ctx, callerPrefix(addr, a.ipv6Bits), p.Name, c)
		if refused != nil {
			return refused
		}
		if !ok {
			return &refusal{status: http.StatusUnauthorized, reason: c.reason}
		}
	}
	return nil
}

// verify runs a storefront kind's own signature check (storefront.Kind's
// Verify), and throttles a caller whose signatures are wrong as a password
// guesser is: each wrong one spends one of the caller's wrong credentials,
// and past its allowance the answer is 429 with Retry-After, saying nothing
// of the signature. A right signature always passes: it cannot be guessed,
// so the storefront's own calls never wait behind a guesser's. Only the
// caller's allowance counts, not the provider's: checking a signature
// costs nothing worth guarding.
func (a *authenticator) verify(r *http.Request, check func() *refusal) *refusal {
	refused := check()
	if refused == nil {
		return nil
	}
	caller := callerPrefix(a.clientAddr(r), a.ipv6Bits)
	a.mu.Lock()
	defer a.mu.Unlock()
	al, known := a.failures.Get(caller)
	if !known {
		al = newAllowance(limit{every: failureEvery, burst: failureBurst})
		a.failures.Add(caller, al)
	}
	if wait := al.wait(); wait > 0 {
		return &refusal{status: http.StatusTooManyRequests, reason: "too many wrong credentials from this address; try later", retryAfter: wait}
	}
	al.lim.Allow()
	return refused
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
// caller and the provider both have failures left.
func (a *authenticator) check(ctx context.Context, caller netip.Prefix, provider string, c credential) (bool, *refusal) {
	userOK := subtle.ConstantTimeCompare([]byte(c.user), []byte(c.wantUser)) == 1
	sum := sha256.Sum256([]byte(provider + "\x00" + c.kind + "\x00" + c.user + "\x00" + c.password + "\x00" + c.hash))
	if _, ok := a.verified.Load(sum); ok {
		return userOK, nil
	}
	// Identical credentials checked at once (the storefront's first burst
	// of calls) share one bcrypt run and count once against the caller.
	v, _, _ := a.flights.Do(string(sum[:])+caller.String(), func() (any, error) {
		ok, refused := a.bcryptCheck(ctx, caller, provider, c, userOK)
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

// bcryptCheck runs bcrypt for c, while the caller and the provider have
// failures left.
func (a *authenticator) bcryptCheck(ctx context.Context, caller netip.Prefix, provider string, c credential, userOK bool) (bool, *refusal) {
	at, refused := a.begin(caller, provider)
	if refused != nil {
		return false, refused
	}
	// bcrypt runs whether or not the user matches, so that the time taken
	// does not tell a caller that it guessed the user.
	ok := c.present && len(c.password) <= maxPasswordBytes
	if ok {
		if err := a.slots.Acquire(ctx, 1); err != nil {
			a.end(at, true) // not a failure: the credentials were not checked
			return false, &refusal{status: http.StatusServiceUnavailable, reason: "busy; try again"}
		}
		ok = bcrypt.CompareHashAndPassword([]byte(c.hash), []byte(c.password)) == nil && userOK
		a.slots.Release(1)
	}
	a.end(at, ok)
	return ok, nil
}

// attempt is a check under way: the allowances it may spend. end gets
// them from begin rather than looking the caller up again, which may have
// been forgotten meanwhile.
type attempt struct{ caller, provider *allowance }

// begin starts a check when the caller and the provider both have a
// failure left for it, counting the checks under way, so that parallel
// guesses cannot all pass before any is counted. Otherwise it refuses,
// saying how long to wait. A caller is added to the table only when its
// check may run: refused calls cannot fill it.
func (a *authenticator) begin(caller netip.Prefix, provider string) (attempt, *refusal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al, known := a.failures.Get(caller)
	if known {
		if wait := al.wait(); wait > 0 {
			return attempt{}, &refusal{status: http.StatusTooManyRequests, reason: "too many wrong credentials from this address; try later", retryAfter: wait}
		}
	}
	budget := a.providerLocked(provider)
	if wait := budget.wait(); wait > 0 {
		return attempt{}, &refusal{status: http.StatusTooManyRequests, reason: "too many wrong credentials for this provider; try later", retryAfter: wait}
	}
	if !known {
		al = newAllowance(limit{every: failureEvery, burst: failureBurst})
		a.failures.Add(caller, al)
	}
	al.checking++
	budget.checking++
	return attempt{caller: al, provider: budget}, nil
}

// end finishes a check, spending one failure of the caller's and one of
// the provider's when it failed.
func (a *authenticator) end(at attempt, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range []*allowance{at.caller, at.provider} {
		al.checking--
		if !ok {
			al.lim.Allow()
		}
	}
}

// limiter is the caller's allowance of wrong credentials.
func (a *authenticator) limiter(caller netip.Prefix) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	al, ok := a.failures.Get(caller)
	if !ok {
		return rate.NewLimiter(rate.Every(failureEvery), failureBurst) // a full one
	}
	return al.lim
}

func (a *authenticator) providerLocked(name string) *allowance {
	al, ok := a.providers[name]
	if !ok {
		al = newAllowance(a.providerFailures)
		a.providers[name] = al
	}
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

// defaultIPv6Bits: an IPv6 host is given a /64 and may use any address in
// it, so a caller is its /64 unless configured otherwise.
const defaultIPv6Bits = 64

// callerPrefix is the block of addresses that the limits count as one
// caller: an IPv4 address by itself, an IPv6 one with the rest of its
// first ipv6Bits bits. IPv4-mapped IPv6 addresses count as IPv4.
func callerPrefix(addr netip.Addr, ipv6Bits int) netip.Prefix {
	addr = addr.Unmap()
	bits := ipv6Bits
	if addr.Is4() {
		bits = 32
	}
	p, err := addr.Prefix(bits)
	if err != nil { // no address, or bits out of range: the address alone
		return netip.PrefixFrom(addr, addr.BitLen())
	}
	return p
}
