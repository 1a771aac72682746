package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
)

// 200 wrong passwords from one address are throttled (401 for the first
// ten, then 429 with Retry-After) while ShareIt's calls from another
// address keep getting keys, at the same time and on the same server.
func TestWrongPasswordsThrottledShareItServed(t *testing.T) {
	s := newStack(t)
	attacker := clientFrom(t, "127.0.0.2")
	shareit := clientFrom(t, "127.0.0.1")
	wrong := s.api.URL + getKey + "?" + strings.Replace(qlmQuery, password, "guess", 1)

	var mu sync.Mutex
	statuses := map[int]int{}
	retryAfter := ""
	var g errgroup.Group
	g.SetLimit(8)
	for i := range 200 {
		g.Go(func() error {
			status, header, err := postWith(attacker, strings.Replace(wrong, "guess", fmt.Sprintf("guess-%d", i), 1), orderForm(s.purchase(1000+i), 1))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == http.StatusTooManyRequests {
				retryAfter = header.Get("Retry-After")
			}
			return err
		})
	}
	keys := make([]string, 20)
	for i := range keys {
		g.Go(func() error {
			status, _, body, err := postBody(shareit, s.api.URL+getKey+"?"+qlmQuery, orderForm(s.purchase(i), 1))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("ShareIt's call %d: %d %s", i, status, body)
			}
			keys[i] = body
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if statuses[http.StatusUnauthorized] > 11 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 200 {
		t.Errorf("wrong passwords answered %v, want at most ten (and one refilled) 401, the rest 429", statuses)
	}
	if retryAfter == "" || retryAfter == "0" {
		t.Errorf("429 without Retry-After: %q", retryAfter)
	}
	for i, k := range keys {
		if _, err := s.ring.Verify(k); err != nil {
			t.Errorf("ShareIt's order %d: key %q: %v", i, k, err)
		}
	}
}

// clientFrom is an HTTP client whose connections come from a loopback
// address of its own.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16}}
}

func postWith(c *http.Client, target, body string) (int, http.Header, error) {
	status, header, _, err := postBody(c, target, body)
	return status, header, err
}

func postBody(c *http.Client, target, body string) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimRight(string(b), "\n"), err
}
