package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// quickHash is a bcrypt hash at the lowest cost, so that tests that only
// need a valid hash stay fast.
func quickHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// doc fills in a YAML document: every HASH becomes a bcrypt hash of
// "secret-password".
func doc(t testing.TB, yaml string) []byte {
	t.Helper()
	return []byte(strings.ReplaceAll(yaml, "HASH", quickHash(t, "secret-password")))
}

func mustParse(t testing.TB, yaml string) *Config {
	t.Helper()
	c, err := Parse(doc(t, yaml))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, yaml)
	}
	return c
}

const validYAML = `
providers:
  - name: " ShareIt "
    user: shareit
    password_hash: "HASH"
    basic_auth: {user: basic, password_hash: "HASH"}
    allow_ips: ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
    products:
      "300012345": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
  - name: Other
products:
  - id: 1
    name: My App
    major: 1
    minor: 0
    features: {0: [Pro, Export], 1: [Cloud sync], 3: [A, B, C, D, E, F, G, H]}
  - id: 1
    name: My App
    major: 2
    minor: 5
    email_template: fancy
  - id: 2
    name: Other App
    major: 1
    minor: 0
mail:
  from: "Vendor <keys@example.com>"
  reply_to: support@example.com
  templates_dir: templates
`

func TestParseValid(t *testing.T) {
	c := mustParse(t, validYAML)

	if got := []string{c.Providers[0].Name, c.Providers[1].Name}; !reflect.DeepEqual(got, []string{"shareit", "other"}) {
		t.Errorf("provider names = %q, want trimmed and lower-cased", got)
	}
	if c.DefaultProvider != "shareit" {
		t.Errorf("DefaultProvider = %q, want the first provider", c.DefaultProvider)
	}
	if got := c.Products[0].EmailTemplate; got != "default" {
		t.Errorf("EmailTemplate = %q, want default when unset", got)
	}
	if got := c.Products[1].EmailTemplate; got != "fancy" {
		t.Errorf("EmailTemplate = %q, want fancy", got)
	}
	want := Mail{From: "Vendor <keys@example.com>", ReplyTo: "support@example.com", TemplatesDir: "templates"}
	if c.Mail != want {
		t.Errorf("Mail = %+v, want %+v", c.Mail, want)
	}
	p := &c.Providers[0]
	if p.BasicAuth == nil || p.BasicAuth.User != "basic" {
		t.Errorf("BasicAuth = %+v", p.BasicAuth)
	}
	if got := p.Products["300012345"]; !strings.HasPrefix(got, "is_productid=1&") {
		t.Errorf("Products[300012345] = %q", got)
	}
	if len(p.allow) != 3 {
		t.Errorf("allow = %v, want 3 prefixes", p.allow)
	}
}

func TestParseDefaultProviderAnyCase(t *testing.T) {
	c := mustParse(t, `
default_provider: OTHER
providers:
  - name: shareit
  - name: Other
mail: {from: a@example.com}
`)
	if c.DefaultProvider != "other" {
		t.Errorf("DefaultProvider = %q, want other", c.DefaultProvider)
	}
	if p, ok := c.Provider(""); !ok || p.Name != "other" {
		t.Errorf(`Provider("") = %v, %v; want other`, p, ok)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty document", ``, "parse config"},
		{"no providers", `
providers: []
mail: {from: a@example.com}
`, "no providers"},
		{"provider without name", `
providers: [{name: "  "}]
mail: {from: a@example.com}
`, "missing or duplicate name"},
		{"duplicate provider", `
providers: [{name: shareit}, {name: ShareIt}]
mail: {from: a@example.com}
`, "provider 2: missing or duplicate name"},
		{"user without password_hash", `
providers: [{name: shareit, user: shareit}]
mail: {from: a@example.com}
`, "user and password_hash go together"},
		{"password_hash without user", `
providers: [{name: shareit, password_hash: "HASH"}]
mail: {from: a@example.com}
`, "user and password_hash go together"},
		{"plain password instead of hash", `
providers: [{name: shareit, user: shareit, password_hash: "secret-password"}]
mail: {from: a@example.com}
`, "not bcrypt"},
		{"sha256 hex instead of bcrypt", `
providers: [{name: shareit, user: shareit, password_hash: "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}]
mail: {from: a@example.com}
`, "not bcrypt"},
		{"basic auth not bcrypt", `
providers: [{name: shareit, basic_auth: {user: u, password_hash: "nope"}}]
mail: {from: a@example.com}
`, "not bcrypt"},
		{"bad allow_ips", `
providers: [{name: shareit, allow_ips: ["203.0.113.0/24", "not-an-ip"]}]
mail: {from: a@example.com}
`, "allow_ips"},
		{"allow_ips prefix too long", `
providers: [{name: shareit, allow_ips: ["203.0.113.0/33"]}]
mail: {from: a@example.com}
`, "allow_ips"},
		{"default_provider not a provider", `
default_provider: qlm
providers: [{name: shareit}]
mail: {from: a@example.com}
`, `default_provider "qlm" is not a provider`},
		{"product without name", `
providers: [{name: shareit}]
products: [{id: 1, major: 1}]
mail: {from: a@example.com}
`, "product 1: missing name"},
		{"duplicate product id and version", `
providers: [{name: shareit}]
products:
  - {id: 1, name: A, major: 1, minor: 0}
  - {id: 2, name: B, major: 1, minor: 0}
  - {id: 1, name: C, major: 1, minor: 0}
mail: {from: a@example.com}
`, "product 3: missing name or duplicate id/version"},
		{"feature set 4", `
providers: [{name: shareit}]
products: [{id: 1, name: A, features: {4: [X]}}]
mail: {from: a@example.com}
`, "sets are 0-3"},
		{"feature set -1", `
providers: [{name: shareit}]
products: [{id: 1, name: A, features: {-1: [X]}}]
mail: {from: a@example.com}
`, "sets are 0-3"},
		{"feature set with 9 names", `
providers: [{name: shareit}]
products: [{id: 1, name: A, features: {0: [a, b, c, d, e, f, g, h, i]}}]
mail: {from: a@example.com}
`, "at most 8 names"},
		{"missing mail.from", `
providers: [{name: shareit}]
mail: {reply_to: a@example.com}
`, "mail.from is required"},
		{"unknown top-level field", `
providers: [{name: shareit}]
mail: {from: a@example.com}
bogus: 1
`, "bogus"},
		{"unknown provider field (typo)", `
providers: [{name: shareit, user: shareit, password: "HASH"}]
mail: {from: a@example.com}
`, "password"},
		{"unknown product field", `
providers: [{name: shareit}]
products: [{id: 1, name: A, version: 1}]
mail: {from: a@example.com}
`, "version"},
		{"negative product id", `
providers: [{name: shareit}]
products: [{id: -1, name: A}]
mail: {from: a@example.com}
`, "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(doc(t, tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error containing %q", c, tt.want)
			}
			if c != nil {
				t.Errorf("Parse returned a config with error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseBoundaries(t *testing.T) {
	// Set 3 with 8 names, and the same product id in two versions, are fine.
	c := mustParse(t, `
providers: [{name: shareit}]
products:
  - {id: 1, name: A, major: 1, minor: 0, features: {0: [a, b, c, d, e, f, g, h], 3: [z]}}
  - {id: 1, name: A, major: 1, minor: 1}
  - {id: 2, name: B, major: 1, minor: 0}
mail: {from: a@example.com}
`)
	if len(c.Products) != 3 {
		t.Errorf("got %d products, want 3", len(c.Products))
	}
}

func TestProviderLookup(t *testing.T) {
	c := mustParse(t, validYAML)
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"shareit", "shareit", true},
		{"ShareIt", "shareit", true},
		{"SHAREIT", "shareit", true},
		{"  shareit\t", "shareit", true},
		{"other", "other", true},
		{"OTHER", "other", true},
		{"", "shareit", true},
		{"   ", "shareit", true},
		{"digitalriver", "", false},
	}
	for _, tt := range tests {
		p, ok := c.Provider(tt.name)
		if ok != tt.ok {
			t.Errorf("Provider(%q) ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if !ok {
			if p != nil {
				t.Errorf("Provider(%q) = %+v, want nil", tt.name, p)
			}
			continue
		}
		if p.Name != tt.want {
			t.Errorf("Provider(%q) = %q, want %q", tt.name, p.Name, tt.want)
		}
	}
	// The result points into the config, so its credential cache is shared.
	a, _ := c.Provider("shareit")
	b, _ := c.Provider("SHAREIT")
	if a != b {
		t.Error("Provider returns different pointers for the same provider")
	}
}

func TestProductAndVersions(t *testing.T) {
	c := mustParse(t, validYAML)
	p, ok := c.Product(1, 2, 5)
	if !ok || p.Name != "My App" || p.Major != 2 || p.Minor != 5 || p.EmailTemplate != "fancy" {
		t.Errorf("Product(1, 2, 5) = %+v, %v", p, ok)
	}
	if p, ok := c.Product(2, 1, 0); !ok || p.Name != "Other App" {
		t.Errorf("Product(2, 1, 0) = %+v, %v", p, ok)
	}
	for _, v := range [][3]uint32{{1, 2, 0}, {1, 1, 1}, {3, 1, 0}, {0, 0, 0}} {
		if p, ok := c.Product(v[0], v[1], v[2]); ok || p != nil {
			t.Errorf("Product%v = %+v, %v; want not found", v, p, ok)
		}
	}
	if got, want := c.Versions(1), []string{"1.0", "2.5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Versions(1) = %q, want %q", got, want)
	}
	if got, want := c.Versions(2), []string{"1.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Versions(2) = %q, want %q", got, want)
	}
	if got := c.Versions(99); len(got) != 0 {
		t.Errorf("Versions(99) = %q, want none", got)
	}
}

func TestFeatureNames(t *testing.T) {
	c := mustParse(t, validYAML)
	p, _ := c.Product(1, 1, 0)
	tests := []struct {
		sets [4]uint8
		want []string
	}{
		{[4]uint8{}, nil},
		{[4]uint8{1, 0, 0, 0}, []string{"Pro"}},
		{[4]uint8{3, 0, 0, 0}, []string{"Pro", "Export"}},
		{[4]uint8{2, 1, 0, 0}, []string{"Export", "Cloud sync"}},
		// Bits without a name fall back to "set:value".
		{[4]uint8{4 | 1, 2, 8, 0}, []string{"Pro", "0:4", "1:2", "2:8"}},
		{[4]uint8{128, 0, 0, 0}, []string{"0:128"}},
		{[4]uint8{0, 0, 0, 0x81}, []string{"A", "H"}},
		{[4]uint8{0, 0, 0, 0xff}, []string{"A", "B", "C", "D", "E", "F", "G", "H"}},
	}
	for _, tt := range tests {
		if got := p.FeatureNames(tt.sets); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FeatureNames(%v) = %q, want %q", tt.sets, got, tt.want)
		}
	}
	// A product without feature names uses "set:value" throughout.
	q, _ := c.Product(2, 1, 0)
	if got, want := q.FeatureNames([4]uint8{3, 0, 0, 64}), []string{"0:1", "0:2", "3:64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("FeatureNames without names = %q, want %q", got, want)
	}
}

func TestAllowsIP(t *testing.T) {
	c := mustParse(t, validYAML)
	p, _ := c.Provider("shareit")
	tests := []struct {
		addr string
		want bool
	}{
		{"203.0.113.0", true},
		{"203.0.113.77", true},
		{"203.0.113.255", true},
		{"203.0.114.1", false},
		{"203.0.112.255", false},
		{"198.51.100.7", true}, // a single address
		{"198.51.100.8", false},
		{"198.51.100.6", false},
		{"::ffff:203.0.113.9", true}, // IPv4-mapped IPv6, as a dual-stack listener reports it
		{"::ffff:198.51.100.7", true},
		{"::ffff:198.51.100.8", false},
		{"2001:db8::1", true},
		{"2001:db8:ffff::1", true},
		{"2001:db9::1", false},
		{"::1", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := p.AllowsIP(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("AllowsIP(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if p.AllowsIP(netip.Addr{}) {
		t.Error("AllowsIP(zero Addr) = true with an allow list")
	}

	// No allow_ips: everyone may call.
	other, _ := c.Provider("other")
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:10.0.0.1", "8.8.8.8", "2001:db8::1"} {
		if !other.AllowsIP(netip.MustParseAddr(a)) {
			t.Errorf("AllowsIP(%s) = false without an allow list", a)
		}
	}
}

func TestAllowsIPHostBitsInPrefix(t *testing.T) {
	// "10.1.2.3/8" is written sloppily but means 10.0.0.0/8.
	c := mustParse(t, `
providers: [{name: p, allow_ips: ["10.1.2.3/8"]}]
mail: {from: a@example.com}
`)
	p, _ := c.Provider("p")
	if !p.AllowsIP(netip.MustParseAddr("10.200.0.1")) || p.AllowsIP(netip.MustParseAddr("11.0.0.1")) {
		t.Error("a prefix with host bits set is not treated as its network")
	}
}

// TestAllowsIPMappedEntry: an allow_ips entry written as an IPv4-mapped
// IPv6 address (as a dual-stack listener or proxy logs an IPv4 caller) must
// either be rejected by Parse or match that caller. AllowsIP unmaps the
// caller's address, so an entry kept mapped could never match anything.
func TestAllowsIPMappedEntry(t *testing.T) {
	for _, entry := range []string{"::ffff:203.0.113.5", "::ffff:203.0.113.0/120"} {
		c, err := Parse([]byte(`
providers: [{name: p, allow_ips: ["` + entry + `"]}]
mail: {from: a@example.com}
`))
		if err != nil {
			continue // rejecting the entry is fine too
		}
		p, _ := c.Provider("p")
		for _, a := range []string{"203.0.113.5", "::ffff:203.0.113.5"} {
			if !p.AllowsIP(netip.MustParseAddr(a)) {
				t.Errorf("allow_ips %q accepted by Parse but AllowsIP(%s) = false: the entry can never match", entry, a)
			}
		}
		if p.AllowsIP(netip.MustParseAddr("203.0.114.5")) {
			t.Errorf("allow_ips %q allows 203.0.114.5", entry)
		}
	}
}

func TestCheckQLM(t *testing.T) {
	c := mustParse(t, validYAML)
	p, _ := c.Provider("shareit")
	tests := []struct {
		user, password string
		want           bool
	}{
		{"shareit", "secret-password", true},
		{"shareit", "secret-password ", false},
		{"shareit", "Secret-password", false},
		{"shareit", "", false},
		{"ShareIt", "secret-password", false}, // the user is compared exactly
		{"other", "secret-password", false},
		{"", "secret-password", false},
		{"", "", false},
	}
	// Twice: the second round runs with the remembered credentials.
	for round := 1; round <= 2; round++ {
		for _, tt := range tests {
			if got := p.CheckQLM(tt.user, tt.password); got != tt.want {
				t.Errorf("round %d: CheckQLM(%q, %q) = %v, want %v", round, tt.user, tt.password, got, tt.want)
			}
		}
	}

	// A provider without a user accepts anything, even nothing.
	other, _ := c.Provider("other")
	for _, up := range [][2]string{{"", ""}, {"x", "y"}, {"shareit", "secret-password"}} {
		if !other.CheckQLM(up[0], up[1]) {
			t.Errorf("CheckQLM(%q, %q) = false for a provider without user", up[0], up[1])
		}
	}
}

func TestCheckBasic(t *testing.T) {
	c := mustParse(t, validYAML)
	p, _ := c.Provider("shareit")
	tests := []struct {
		user, password string
		ok, want       bool
	}{
		{"basic", "secret-password", true, true},
		{"basic", "secret-password", false, false}, // no basic auth sent
		{"", "", false, false},
		{"basic", "wrong-password", true, false},
		{"shareit", "secret-password", true, false},
		{"Basic", "secret-password", true, false},
	}
	for round := 1; round <= 2; round++ {
		for _, tt := range tests {
			if got := p.CheckBasic(tt.user, tt.password, tt.ok); got != tt.want {
				t.Errorf("round %d: CheckBasic(%q, %q, %v) = %v, want %v", round, tt.user, tt.password, tt.ok, got, tt.want)
			}
		}
	}
	// Without basic_auth configured, anything (or nothing) passes.
	other, _ := c.Provider("other")
	if !other.CheckBasic("", "", false) || !other.CheckBasic("x", "y", true) {
		t.Error("CheckBasic = false for a provider without basic_auth")
	}
}

// changeMeNow is the bcrypt hash (at bcrypt.DefaultCost, as HashPassword
// makes) of "change-me-now" from deploy/keysmith.yaml.
const changeMeNow = "$2a$10$0G8H.8/FGbR.lGBRKs4aT.x9m371nu4eZ9Z.CgSoGuiAY844pp7Q6"

// TestRememberedCredentialsFast checks that a repeat of the right
// credentials skips bcrypt.
func TestRememberedCredentialsFast(t *testing.T) {
	if cost, _ := bcrypt.Cost([]byte(changeMeNow)); cost != bcrypt.DefaultCost {
		t.Fatalf("test hash has cost %d, want %d", cost, bcrypt.DefaultCost)
	}
	c, err := Parse([]byte(`
providers: [{name: a, user: shop, password_hash: "` + changeMeNow + `"}]
mail: {from: a@example.com}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Provider("a")

	start := time.Now()
	if !p.CheckQLM("shop", "change-me-now") {
		t.Fatal("CheckQLM rejected the right credentials")
	}
	first := time.Since(start)
	// The fastest of a few cached checks, so that one scheduling hiccup does
	// not count.
	cached := time.Hour
	for range 5 {
		start := time.Now()
		if !p.CheckQLM("shop", "change-me-now") {
			t.Fatal("CheckQLM rejected the right credentials the second time")
		}
		cached = min(cached, time.Since(start))
	}
	if cached*10 > first {
		t.Errorf("remembered check took %v, first (bcrypt) %v: want at least 10x faster", cached, first)
	}
	if n := syncMapLen(p.verified); n != 1 {
		t.Errorf("provider remembers %d credentials, want 1", n)
	}
}

// TestRememberedCredentialsSafe checks that the cache of credentials that
// passed bcrypt lets nothing else through.
func TestRememberedCredentialsSafe(t *testing.T) {
	hash := quickHash(t, "right-password")
	c, err := Parse([]byte(`
providers:
  - name: a
    user: shop
    password_hash: "` + hash + `"
    basic_auth: {user: shop, password_hash: "` + quickHash(t, "basic-password") + `"}
  - name: b
    user: shop
    password_hash: "` + quickHash(t, "other-password") + `"
mail: {from: a@example.com}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Provider("a")
	for range 2 {
		if !p.CheckQLM("shop", "right-password") {
			t.Fatal("CheckQLM rejected the right credentials")
		}
	}
	if p.CheckQLM("shop", "wrong-password") {
		t.Error("wrong password accepted after the right one was remembered")
	}
	if p.CheckQLM("shop", "right-password\x00") || p.CheckQLM("shop", "") {
		t.Error("altered password accepted after the right one was remembered")
	}
	if p.CheckQLM("shop2", "right-password") || p.CheckQLM("", "right-password") {
		t.Error("wrong user accepted after the right credentials were remembered")
	}
	// Remembered QLM credentials are not basic auth credentials...
	if p.CheckBasic("shop", "right-password", true) {
		t.Error("CheckBasic accepted the QLM password")
	}
	if !p.CheckBasic("shop", "basic-password", true) {
		t.Error("CheckBasic rejected the basic auth password")
	}
	if p.CheckBasic("shop", "basic-password", false) {
		t.Error("CheckBasic accepted remembered credentials without basic auth")
	}
	if p.CheckQLM("shop", "basic-password") {
		t.Error("CheckQLM accepted the basic auth password after it was remembered for basic auth")
	}
	// ...nor another provider's.
	b, _ := c.Provider("b")
	if b.CheckQLM("shop", "right-password") {
		t.Error("provider b accepted provider a's password")
	}
	if !b.CheckQLM("shop", "other-password") || p.CheckQLM("shop", "other-password") {
		t.Error("per-provider passwords mixed up")
	}
	if !p.CheckQLM("shop", "right-password") {
		t.Error("right credentials rejected at the end")
	}
	if n := syncMapLen(p.verified); n != 2 {
		t.Errorf("provider a remembers %d credentials, want 2 (qlm and basic)", n)
	}

	// A freshly parsed config starts with an empty cache.
	c2, err := Parse([]byte(`
providers: [{name: a, user: shop, password_hash: "` + hash + `"}]
mail: {from: a@example.com}
`))
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := c2.Provider("a")
	if n := syncMapLen(p2.verified); n != 0 {
		t.Errorf("new config remembers %d credentials", n)
	}
}

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

func TestCheckConcurrent(t *testing.T) {
	c := mustParse(t, validYAML)
	p, _ := c.Provider("shareit")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				right := i%2 == 0
				pw := "secret-password"
				if !right {
					pw = "wrong"
				}
				if got := p.CheckQLM("shareit", pw); got != right {
					t.Errorf("CheckQLM(%q) = %v", pw, got)
					return
				}
				if got := p.CheckBasic("basic", pw, true); got != right {
					t.Errorf("CheckBasic(%q) = %v", pw, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestHashPassword(t *testing.T) {
	for _, pw := range []string{"", "short", "1234567"} {
		if h, err := HashPassword(pw); err == nil {
			t.Errorf("HashPassword(%q) = %q, want error (fewer than 8 characters)", pw, h)
		}
	}
	h, err := HashPassword("12345678")
	if err != nil {
		t.Fatalf("HashPassword of 8 characters: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("12345678")) != nil {
		t.Error("hash does not match its password")
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	// The hash goes into the config file as is.
	c, err := Parse([]byte(`
providers: [{name: shareit, user: shareit, password_hash: "` + h + `"}]
mail: {from: a@example.com}
`))
	if err != nil {
		t.Fatalf("Parse with HashPassword's hash: %v", err)
	}
	p, _ := c.Provider("")
	if !p.CheckQLM("shareit", "12345678") {
		t.Error("CheckQLM with HashPassword's hash gives the wrong answer")
	}
	// Unquoted in YAML works as well: a bcrypt hash has no YAML specials.
	if _, err := Parse([]byte("providers: [{name: s, user: u, password_hash: " + h + "}]\nmail: {from: a@example.com}\n")); err != nil {
		t.Errorf("Parse with an unquoted hash: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keysmith.yaml")
	if err := os.WriteFile(path, doc(t, validYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p, ok := c.Provider("ShareIt"); !ok || !p.CheckQLM("shareit", "secret-password") {
		t.Errorf("loaded provider = %+v, %v", p, ok)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("Load of a missing file: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("providers: []\nmail: {from: a@example.com}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "no providers") {
		t.Errorf("Load of an invalid file: err = %v", err)
	}
}

// TestDeployExample keeps the example configuration that docker-compose
// mounts valid, and its comment ("change-me-now") true.
func TestDeployExample(t *testing.T) {
	c, err := Load(filepath.Join("..", "deploy", "keysmith.yaml"))
	if err != nil {
		t.Fatalf("deploy/keysmith.yaml: %v", err)
	}
	p, ok := c.Provider("")
	if !ok || p.Name != "shareit" {
		t.Fatalf("default provider = %+v, %v", p, ok)
	}
	if !p.CheckQLM("shareit", "change-me-now") {
		t.Error(`deploy/keysmith.yaml: the hash is not of "change-me-now" as its comment says`)
	}
	if p.Products["300012345"] == "" {
		t.Error("deploy/keysmith.yaml: PRODUCT_ID mapping missing")
	}
	prod, ok := c.Product(1, 1, 0)
	if !ok || prod.Name != "My App" {
		t.Errorf("Product(1, 1, 0) = %+v, %v", prod, ok)
	} else if got, want := prod.FeatureNames([4]uint8{3, 1, 0, 0}), []string{"Pro", "Export", "Cloud sync"}; !reflect.DeepEqual(got, want) {
		t.Errorf("FeatureNames = %q, want %q", got, want)
	}
	if c.Mail.From == "" {
		t.Error("mail.from is empty")
	}
}
