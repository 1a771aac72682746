package api

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/internal/testenv"
)

func TestCallerPrefix(t *testing.T) {
	for _, tc := range []struct {
		addr string
		bits int
		want string
	}{
		{"192.0.2.1", 64, "192.0.2.1/32"},
		{"192.0.2.1", 48, "192.0.2.1/32"}, // the IPv6 length is not for IPv4
		{"::ffff:192.0.2.1", 64, "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56"},
		{"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 32, "2001:db8::/32"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"fe80::1%eth0", 64, "fe80::/64"}, // the zone names no other caller
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.addr, tc.bits), func(t *testing.T) {
			assert.Equal(t, netip.MustParsePrefix(tc.want), callerPrefix(netip.MustParseAddr(tc.addr), tc.bits))
		})
	}
	t.Run("no address", func(t *testing.T) {
		assert.Equal(t, netip.Prefix{}, callerPrefix(netip.Addr{}, 64))
	})
}

// ipv6Caller is the i-th of many distinct /64s, host ::1.
func ipv6Caller(i int) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	binary.BigEndian.PutUint32(b[4:8], uint32(i))
	b[15] = 1
	return netip.AddrFrom16(b)
}

// The tables stay at their size however many callers come, forgetting
// the one heard from least recently.
func TestTablesAreBounded(t *testing.T) {
	cfg := lineConfig(t, nil)

	t.Run("failures", func(t *testing.T) {
		a := newAuthenticator(cfg, 0, math.MaxInt32) // the provider budget out of the way
		first := callerPrefix(ipv6Caller(0), defaultIPv6Bits)
		for i := range maxTrackedCallers + 1000 {
			at, refused := a.begin(callerPrefix(ipv6Caller(i), defaultIPv6Bits), "shareit")
			require.Nil(t, refused)
			a.end(at, false)
			require.LessOrEqual(t, a.failures.Len(), maxTrackedCallers)
		}
		assert.Equal(t, maxTrackedCallers, a.failures.Len())
		assert.False(t, a.failures.Contains(first))
	})

	t.Run("a caller forgotten while its check runs", func(t *testing.T) {
		a := newAuthenticator(cfg, 0, math.MaxInt32)
		victim := caller("2001:db8:ffff:ffff::1")
		at, refused := a.begin(victim, "shareit")
		require.Nil(t, refused)
		for i := range maxTrackedCallers {
			at, refused := a.begin(callerPrefix(ipv6Caller(i), defaultIPv6Bits), "shareit")
			require.Nil(t, refused)
			a.end(at, true)
		}
		require.False(t, a.failures.Contains(victim))
		a.end(at, false)
		assert.Equal(t, 0, at.caller.checking)
		assert.Equal(t, 0, a.providers["shareit"].checking, "the provider's checks under way")
	})

	t.Run("limiters", func(t *testing.T) {
		l := newLimiters[netip.Prefix](perMinute(2))
		hammering := caller("2001:db8:ffff::1")
		l.allow(hammering)
		l.allow(hammering)
		for i := range 2 * maxTracked {
			l.allow(callerPrefix(ipv6Caller(i), defaultIPv6Bits))
			require.LessOrEqual(t, l.m.Len(), maxTracked)
			if i%1000 == 0 {
				// A caller being throttled keeps calling, so it is never
				// the one forgotten.
				_, ok := l.allow(hammering)
				require.False(t, ok, "after %d other callers", i)
			}
		}
		assert.Equal(t, maxTracked, l.m.Len())
	})
}

// The /v1 limits count an IPv6 caller by its /64.
func TestGuardCountsPrefixes(t *testing.T) {
	g := newGuard(newAuthenticator(lineConfig(t, nil), 0, 0), 2, 100)
	admit := func(remote string) int {
		r := httptest.NewRequest(http.MethodPost, "/v1/validate", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		g.admit(w, r, fmt.Sprintf("KEY-%s", remote))
		return w.Code
	}
	assert.Equal(t, http.StatusOK, admit("[2001:db8:1:2::1]:1"))
	assert.Equal(t, http.StatusOK, admit("[2001:db8:1:2::2]:1"))
	assert.Equal(t, http.StatusTooManyRequests, admit("[2001:db8:1:2:ffff::3]:1"), "another address of the same /64")
	assert.Equal(t, http.StatusOK, admit("[2001:db8:1:3::1]:1"), "the next /64")
	assert.Equal(t, http.StatusOK, admit("192.0.2.7:1"))
}

// Past the provider's budget, wrong credentials are refused before bcrypt
// from any caller, counting the checks under way; verified credentials
// still pass, and other providers have budgets of their own.
func TestProviderBudget(t *testing.T) {
	const budget = 5 // a minute: none comes back during the test
	cfg := lineConfig(t, nil)
	p, _ := cfg.Provider("shareit")
	legacy, _ := cfg.Provider("legacy")
	a := newAuthenticator(cfg, 0, budget)
	ctx := context.Background()
	right := qlmCredential(p, "shareit", testenv.Password)
	ok, refused := a.check(ctx, caller("192.0.2.1"), p.Name, right)
	require.True(t, ok)
	require.Nil(t, refused)

	// With every bcrypt slot held, the checks that may run wait for one;
	// the others are refused at once.
	require.NoError(t, a.slots.Acquire(ctx, bcryptSlots))
	type result struct {
		ok      bool
		refused *refusal
	}
	results := make(chan result)
	var wg sync.WaitGroup
	for i := range 3 * budget {
		wg.Go(func() {
			ok, refused := a.check(ctx, callerPrefix(ipv6Caller(i), defaultIPv6Bits), p.Name, qlmCredential(p, "shareit", fmt.Sprintf("guess-%d", i)))
			results <- result{ok, refused}
		})
	}
	counts := map[int]int{}
	for range 2 * budget {
		r := <-results
		require.NotNil(t, r.refused, "a check ran bcrypt while every slot was held")
		assert.Equal(t, http.StatusTooManyRequests, r.refused.status)
		assert.Equal(t, "too many wrong credentials for this provider; try later", r.refused.reason)
		assert.Greater(t, r.refused.retryAfter, time.Duration(0))
		assert.LessOrEqual(t, r.refused.retryAfter, time.Minute/budget)
		assert.Equal(t, time.Duration(0), r.refused.retryAfter%time.Second, "whole seconds for Retry-After")
		counts[r.refused.status]++
	}
	a.slots.Release(bcryptSlots)
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		assert.False(t, r.ok)
		assert.Nil(t, r.refused, "a check that had begun")
		counts[http.StatusUnauthorized]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: budget, http.StatusTooManyRequests: 2 * budget}, counts)
	assert.Equal(t, 1+budget, a.failures.Len(), "refused callers were added to the failure table")

	require.NoError(t, a.slots.Acquire(ctx, bcryptSlots))
	defer a.slots.Release(bcryptSlots)
	// A check that waited for a slot would end, at this deadline, in 503.
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	t.Run("a fresh caller, wrong", func(t *testing.T) {
		ok, refused := a.check(ctx, caller("2001:db8:aaaa:1::1"), p.Name, qlmCredential(p, "shareit", "guess"))
		assert.False(t, ok)
		require.NotNil(t, refused)
		assert.Equal(t, http.StatusTooManyRequests, refused.status)
	})
	t.Run("a fresh caller, right but not verified", func(t *testing.T) {
		_, refused := a.check(ctx, caller("2001:db8:aaaa:2::1"), p.Name, qlmCredential(p, "shareit", testenv.Password+"-other"))
		require.NotNil(t, refused)
		assert.Equal(t, http.StatusTooManyRequests, refused.status)
	})
	t.Run("a fresh caller, verified", func(t *testing.T) {
		ok, refused := a.check(ctx, caller("2001:db8:aaaa:3::1"), p.Name, right)
		assert.True(t, ok)
		assert.Nil(t, refused)
	})
	t.Run("another provider", func(t *testing.T) {
		_, refused := a.check(ctx, caller("2001:db8:aaaa:4::1"), legacy.Name, qlmCredential(legacy, "shareit", "guess"))
		require.NotNil(t, refused)
		assert.Equal(t, http.StatusServiceUnavailable, refused.status, "waited for bcrypt: its budget is its own")
	})
}

// BenchmarkNewCallers sends b.N distinct callers (IPv6 /64s) through the
// /v1 per-address limiter and the failure allowance (one wrong
// credential each, without bcrypt), and reports the heap the tables hold
// afterwards (in use: spans included; live: their objects) and the cost
// of one new caller:
//
//	go test ./api/ -run '^$' -bench BenchmarkNewCallers -benchtime 1000000x
func BenchmarkNewCallers(b *testing.B) {
	cfg, err := testenv.Config()
	require.NoError(b, err)
	// The provider budget out of the way: every caller reaches the table.
	a := newAuthenticator(cfg, 0, math.MaxInt32)
	g := newGuard(a, 0, 0)
	took := make([]time.Duration, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		addr := ipv6Caller(i)
		start := time.Now()
		caller := callerPrefix(addr, a.ipv6Bits)
		g.addrs.allow(caller)
		at, refused := a.begin(caller, "shareit")
		if refused != nil {
			b.Fatalf("caller %d refused: %s", i, refused.reason)
		}
		a.end(at, false)
		took[i] = time.Since(start)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(g)
	slices.Sort(took)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/1e6, "heap-MB")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, "live-MB")
	b.ReportMetric(float64(took[len(took)*50/100]), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100]), "p99-ns")
}
