package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/workflows"
)

// qlmCredential is what shareit's is_user/is_pwd check looks like.
func qlmCredential(p *config.Provider, user, password string) credential {
	return credential{"qlm", p.User, p.PasswordHash, user, password, true, "is_user/is_pwd: wrong or missing credentials"}
}

// caller is the prefix counted for addr, IPv6 by its /64.
func caller(addr string) netip.Prefix {
	return callerPrefix(netip.MustParseAddr(addr), defaultIPv6Bits)
}

// bcrypt sits behind the semaphore: with every slot held, a check that
// would run it waits, and one that does not answers at once. Throttled
// calls, passwords over 72 bytes, missing credentials and remembered ones
// must not run it.
func TestChecksThatRunNoBcrypt(t *testing.T) {
	cfg := lineConfig(t, nil)
	p, _ := cfg.Provider("shareit")
	a := newAuthenticator(cfg, 0, 0)
	ctx := context.Background()
	storefront := caller("192.0.2.1")
	attacker := caller("198.51.100.5")
	fresh := caller("198.51.100.6")
	right := qlmCredential(p, "shareit", testenv.Password)
	wrong := qlmCredential(p, "shareit", "guess")

	ok, refused := a.check(ctx, storefront, p.Name, right)
	require.True(t, ok)
	require.Nil(t, refused)
	for i := range failureBurst {
		ok, refused := a.check(ctx, attacker, p.Name, wrong)
		require.False(t, ok, "failure %d", i+1)
		require.Nil(t, refused, "failure %d", i+1)
	}

	require.NoError(t, a.slots.Acquire(ctx, bcryptSlots))
	defer a.slots.Release(bcryptSlots)
	// A check that waited for a slot would end, at this deadline, in 503.
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()

	for _, tc := range []struct {
		name    string
		addr    netip.Prefix
		c       credential
		ok      bool
		status  int // of the refusal, 0 for none
		spends  bool
		comment string
	}{
		{"throttled, wrong", attacker, wrong, false, 429, false, ""},
		{"throttled, right but not remembered", attacker, qlmCredential(p, "shareit", testenv.Password+"-other-"), false, 429, false, ""},
		{"throttled, remembered", attacker, right, true, 0, false, ""},
		{"remembered", fresh, right, true, 0, false, ""},
		{"73 bytes", fresh, qlmCredential(p, "shareit", testenv.Password+strings.Repeat("x", 73-len(testenv.Password))), false, 0, true, ""},
		{"missing basic auth", fresh, credential{"basic", "basic", p.PasswordHash, "", "", false, "basic"}, false, 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.limiter(tc.addr).Tokens()
			start := time.Now()
			ok, refused := a.check(ctx, tc.addr, p.Name, tc.c)
			assert.Less(t, time.Since(start), 200*time.Millisecond, "waited for bcrypt")
			assert.Equal(t, tc.ok, ok)
			if tc.status == 0 {
				assert.Nil(t, refused)
			} else {
				require.NotNil(t, refused)
				assert.Equal(t, tc.status, refused.status)
				assert.Equal(t, "too many wrong credentials from this address; try later", refused.reason)
				assert.Greater(t, refused.retryAfter, time.Duration(0))
				assert.LessOrEqual(t, refused.retryAfter, failureEvery)
				assert.Equal(t, time.Duration(0), refused.retryAfter%time.Second, "whole seconds for Retry-After")
			}
			after := a.limiter(tc.addr).Tokens()
			if tc.spends {
				assert.InDelta(t, before-1, after, 0.1, "a failure was not counted")
			} else {
				assert.InDelta(t, before, after, 0.1, "the allowance changed")
			}
		})
	}

	t.Run("a check that needs bcrypt waits for a slot", func(t *testing.T) {
		_, refused := a.check(ctx, fresh, p.Name, wrong)
		require.NotNil(t, refused)
		assert.Equal(t, http.StatusServiceUnavailable, refused.status)
		assert.Equal(t, "busy; try again", refused.reason)
	})
}

// The remembered credentials are those of one provider, kind, user and
// password: anything else needs bcrypt, which waits here, since every
// slot is held.
func TestRememberedCredentialsAreExact(t *testing.T) {
	cfg := lineConfig(t, nil)
	shareitP, _ := cfg.Provider("shareit")
	guarded, _ := cfg.Provider("guarded")
	a := newAuthenticator(cfg, 0, 0)
	addr := caller("192.0.2.1")
	remembered := qlmCredential(shareitP, "shareit", testenv.Password)

	ok, refused := a.check(context.Background(), addr, shareitP.Name, remembered)
	require.True(t, ok)
	require.Nil(t, refused)

	require.NoError(t, a.slots.Acquire(context.Background(), bcryptSlots))
	defer a.slots.Release(bcryptSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()

	ok, refused = a.check(ctx, addr, shareitP.Name, remembered)
	assert.True(t, ok)
	assert.Nil(t, refused)

	for _, tc := range []struct {
		name, provider string
		c              credential
	}{
		{"another provider with the same hash", guarded.Name, qlmCredential(guarded, "shareit", testenv.Password)},
		{"another kind", shareitP.Name, credential{"basic", "shareit", shareitP.PasswordHash, "shareit", testenv.Password, true, "basic"}},
		{"another user", shareitP.Name, qlmCredential(shareitP, "Shareit", testenv.Password)},
		{"another password", shareitP.Name, qlmCredential(shareitP, "shareit", testenv.Password+" ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, refused := a.check(ctx, addr, tc.provider, tc.c)
			assert.False(t, ok)
			require.NotNil(t, refused, "answered without bcrypt")
			assert.Equal(t, http.StatusServiceUnavailable, refused.status)
		})
	}
}

func TestClientAddr(t *testing.T) {
	cfg := lineConfig(t, func(c *config.Config) {
		c.TrustedProxies = []string{"192.0.2.1", "10.0.0.0/8", "2001:db8:1::/48", "::ffff:172.16.0.1"}
	})
	a := newAuthenticator(cfg, 0, 0)
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"198.51.100.1:1", []string{"203.0.113.1"}, "198.51.100.1"},
		{"[::ffff:198.51.100.1]:1", []string{"203.0.113.1"}, "198.51.100.1"},
		{"192.0.2.1:1", nil, "192.0.2.1"},
		{"192.0.2.1:1", []string{"203.0.113.1"}, "203.0.113.1"},
		{"192.0.2.1:1", []string{"203.0.113.1, 10.0.0.5"}, "203.0.113.1"},
		{"192.0.2.1:1", []string{"203.0.113.9, 203.0.113.1, 10.0.0.5"}, "203.0.113.1"},
		{"192.0.2.1:1", []string{"203.0.113.1", "10.0.0.5"}, "203.0.113.1"},
		{"192.0.2.1:1", []string{"10.0.0.5"}, "10.0.0.5"},
		{"192.0.2.1:1", []string{"203.0.113.1, junk, 10.0.0.5"}, "10.0.0.5"},
		{"192.0.2.1:1", []string{"203.0.113.1:4711"}, "192.0.2.1"},
		{"192.0.2.1:1", []string{""}, "192.0.2.1"},
		{"[2001:db8:1::7]:443", []string{"2001:db8:2::1"}, "2001:db8:2::1"},
		{"[2001:db8:2::7]:443", []string{"203.0.113.1"}, "2001:db8:2::7"},
		{"172.16.0.1:1", []string{"::ffff:203.0.113.1"}, "203.0.113.1"},
		{"10.1.1.1:1", []string{"198.51.100.1, ::ffff:192.0.2.1"}, "198.51.100.1"},
	} {
		t.Run(tc.remote+" "+strings.Join(tc.xff, "|"), func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, netip.MustParseAddr(tc.want), a.clientAddr(r))
		})
	}
}

func TestIssueFailure(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("issue-key update IssueLicense:shareit:P1-1: %w", err) }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		reason string
	}{
		{"key generation failed", context.Background(),
			wrap(temporal.NewNonRetryableApplicationError("signing key 3 is not loaded", workflows.KeyGenerationFailed, nil)),
			503, "key generation failed: signing key 3 is not loaded"},
		{"another application error", context.Background(),
			wrap(temporal.NewApplicationError("boom", "SomethingElse")), 500, "internal error; the order was not keyed"},
		{"any other error", context.Background(), errors.New("boom"), 500, "internal error; the order was not keyed"},
		{"Temporal unavailable", context.Background(), wrap(serviceerror.NewUnavailable("no")), 503, "key service temporarily unavailable; try again"},
		{"Temporal overloaded", context.Background(),
			wrap(serviceerror.NewResourceExhausted(enums.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "slow down")), 503, "key service temporarily unavailable; try again"},
		{"deadline", context.Background(), wrap(context.DeadlineExceeded), 503, errTimeout.Error()},
		{"Temporal's deadline", context.Background(), wrap(serviceerror.NewDeadlineExceeded("late")), 503, errTimeout.Error()},
		{"update wait timed out", context.Background(), wrap(client.NewWorkflowUpdateServiceTimeoutOrCanceledError(errors.New("x"))), 503, errTimeout.Error()},
		{"caller gone", canceled, errors.New("boom"), 503, errTimeout.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason := issueFailure(tc.ctx, tc.err)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.reason, reason)
			assert.NotContains(t, reason, "IssueLicense", "the cause belongs in the log")
		})
	}
}
