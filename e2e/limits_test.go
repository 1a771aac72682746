package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// 500 wrong passwords from 500 addresses of one IPv6 /64, through a
// trusted proxy, are throttled as if from one address (401 for the first
// ten, then 429), while ShareIt's calls from another prefix keep getting
// keys at the same time.
func TestLimitsOnePrefixManyAddresses(t *testing.T) {
	s := newStack(t)
	proxy := behindProxy(t, s)
	wrong := s.api.URL + getKey + "?" + strings.Replace(qlmQuery, password, "guess", 1)

	var mu sync.Mutex
	statuses := map[int]int{}
	var refusal, retryAfter string
	var g errgroup.Group
	g.SetLimit(8)
	for i := range 500 {
		g.Go(func() error {
			attacker := proxy.from(fmt.Sprintf("2001:db8:1:2::%x", i+1))
			status, header, body, err := postBody(attacker, strings.Replace(wrong, "guess", fmt.Sprintf("guess-%d", i), 1), orderForm(s.purchase(1000+i), 1))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == http.StatusTooManyRequests {
				refusal, retryAfter = body, header.Get("Retry-After")
			}
			return err
		})
	}
	keys := s.shareItOrders(&g, proxy.from("2001:db8:ffff:1::1"), 1, 20)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrong passwords answered %v", statuses)
	if statuses[http.StatusUnauthorized] > 11 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 500 {
		t.Errorf("wrong passwords answered %v, want at most ten (and one refilled) 401, the rest 429", statuses)
	}
	if refusal != "too many wrong credentials from this address; try later" {
		t.Errorf("429 said %q", refusal)
	}
	if retryAfter == "" || retryAfter == "0" {
		t.Errorf("429 without Retry-After: %q", retryAfter)
	}
	s.checkSigned(keys)
}

// Wrong passwords from 150 different /64s, each with its own allowance,
// get 429 past the provider's budget (100 a minute), while ShareIt's
// calls with its verified credentials keep getting keys.
func TestLimitsProviderBudget(t *testing.T) {
	s := newStack(t)
	proxy := behindProxy(t, s)
	shareit := proxy.from("2001:db8:ffff:1::1")
	first := s.shareItOrders(nil, shareit, 1, 1) // verifies ShareIt's credentials
	wrong := s.api.URL + getKey + "?" + strings.Replace(qlmQuery, password, "guess", 1)

	var mu sync.Mutex
	statuses := map[int]int{}
	refusals := map[string]int{}
	retryAfter := ""
	var g errgroup.Group
	g.SetLimit(8)
	start := time.Now()
	for i := range 150 {
		g.Go(func() error {
			attacker := proxy.from(fmt.Sprintf("2001:db8:%x:1::1", 0x100+i))
			status, header, body, err := postBody(attacker, strings.Replace(wrong, "guess", fmt.Sprintf("guess-%d", i), 1), orderForm(s.purchase(1000+i), 1))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == http.StatusTooManyRequests {
				refusals[body]++
				retryAfter = header.Get("Retry-After")
			}
			return err
		})
	}
	keys := s.shareItOrders(&g, shareit, 2, 20)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// One failure comes back every 600 ms.
	budget := 100 + int(time.Since(start)/(600*time.Millisecond)) + 1
	t.Logf("wrong passwords answered %v", statuses)
	if statuses[http.StatusUnauthorized] > budget || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 150 {
		t.Errorf("wrong passwords answered %v, want at most %d 401, the rest 429", statuses, budget)
	}
	if len(refusals) != 1 || refusals["too many wrong credentials for this provider; try later"] == 0 {
		t.Errorf("429 said %v, want the provider's budget", refusals)
	}
	if retryAfter == "" || retryAfter == "0" {
		t.Errorf("429 without Retry-After: %q", retryAfter)
	}
	s.checkSigned(append(first, keys...))
}

// proxy is a reverse proxy in front of the stack's API: the loopback
// address, trusted, that forwards calls on behalf of other addresses.
type proxy struct{ base http.RoundTripper }

// behindProxy makes the stack trust calls from 127.0.0.1 as a proxy's,
// and serves the API anew with that configuration.
func behindProxy(t *testing.T, s *stack) proxy {
	t.Helper()
	if err := s.app.Config.SetTrustedProxies([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	s.restartAPI()
	return proxy{base: clientFrom(t, "127.0.0.1").Transport}
}

// from is a client whose calls the proxy forwards for addr.
func (p proxy) from(addr string) *http.Client {
	return &http.Client{Transport: forwarding{addr: addr, base: p.base}}
}

type forwarding struct {
	addr string
	base http.RoundTripper
}

func (f forwarding) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.base.RoundTrip(r)
}

// shareItOrders orders n lines as ShareIt, purchases from, from+1, ...,
// each call expecting 200: in g (the keys are there once g is waited
// for), or at once when g is nil.
func (s *stack) shareItOrders(g *errgroup.Group, c *http.Client, from, n int) []string {
	s.t.Helper()
	keys := make([]string, n)
	wait := g == nil
	if wait {
		g = &errgroup.Group{}
	}
	for i := range keys {
		g.Go(func() error {
			status, _, body, err := postBody(c, s.api.URL+getKey+"?"+qlmQuery, orderForm(s.purchase(from+i), 1))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("ShareIt's call %d: %d %s", i, status, body)
			}
			keys[i] = body
			return err
		})
	}
	if wait {
		if err := g.Wait(); err != nil {
			s.t.Fatal(err)
		}
	}
	return keys
}

// checkSigned checks that every key is one the stack signed.
func (s *stack) checkSigned(keys []string) {
	s.t.Helper()
	for i, k := range keys {
		if _, err := s.ring.Verify(k); err != nil {
			s.t.Errorf("ShareIt's order %d: key %q: %v", i, k, err)
		}
	}
}
