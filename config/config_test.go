package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

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

// doc fills in a YAML document: every PLACEHOLDER becomes a bcrypt hash of
// the example's placeholder password, every HASH a bcrypt hash of
// "secret-password".
func doc(t testing.TB, yaml string) []byte {
	t.Helper()
	if strings.Contains(yaml, "PLACEHOLDER") {
		yaml = strings.ReplaceAll(yaml, "PLACEHOLDER", quickHash(t, placeholderPassword))
	}
	if strings.Contains(yaml, "HASH") {
		yaml = strings.ReplaceAll(yaml, "HASH", quickHash(t, "secret-password"))
	}
	return []byte(yaml)
}

func mustParse(t testing.TB, yaml string) *Config {
	t.Helper()
	c, err := Parse(doc(t, yaml))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, yaml)
	}
	return c
}

// parseErr parses a document that must be refused and returns the error.
func parseErr(t testing.TB, yaml string) error {
	t.Helper()
	c, err := Parse(doc(t, yaml))
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want an error\n%s", c, yaml)
	}
	if c != nil {
		t.Errorf("Parse returned a config with error %v", err)
	}
	return err
}

const validYAML = `
trusted_proxies: ["10.0.0.0/8", "192.0.2.1"]
maintenance_plan_days: 30
providers:
  - name: " ShareIt "
    user: shareit
    password_hash: "HASH"
    basic_auth: {user: basic, password_hash: "HASH"}
    allow_ips: ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
    encoding: UTF-8
    date_format: dd/MM/yyyy
    products:
      "300012345": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
  - name: Other
    unauthenticated: true
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
  template_names:
    "1. New Order": fancy
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
	want := Mail{
		From:          "Vendor <keys@example.com>",
		ReplyTo:       "support@example.com",
		TemplatesDir:  "templates",
		TemplateNames: map[string]string{"1. New Order": "fancy"},
	}
	if !reflect.DeepEqual(c.Mail, want) {
		t.Errorf("Mail = %+v, want %+v", c.Mail, want)
	}
	if c.MaintenancePlanDays != 30 {
		t.Errorf("MaintenancePlanDays = %d, want 30", c.MaintenancePlanDays)
	}
	if len(c.trusted) != 2 {
		t.Errorf("trusted = %v, want 2 prefixes", c.trusted)
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
	if !p.UTF8() || p.Encoding != "utf-8" {
		t.Errorf("Encoding = %q, UTF8() = %v; want utf-8, true", p.Encoding, p.UTF8())
	}
	if got := p.DateLayout(); got != "02/01/2006" {
		t.Errorf("DateLayout() = %q, want 02/01/2006", got)
	}
}

// TestParseDefaults: what a minimal document leaves unset gets its default.
func TestParseDefaults(t *testing.T) {
	c := mustParse(t, `
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`)
	if c.MaintenancePlanDays != defaultMaintenancePlanDays {
		t.Errorf("MaintenancePlanDays = %d, want %d", c.MaintenancePlanDays, defaultMaintenancePlanDays)
	}
	p, _ := c.Provider("")
	if p.UTF8() || p.Encoding != "iso-8859-1" {
		t.Errorf("Encoding = %q, UTF8() = %v; want iso-8859-1, false", p.Encoding, p.UTF8())
	}
	if got := p.DateLayout(); got != "" {
		t.Errorf("DateLayout() = %q, want empty without date_format", got)
	}
	if c.Mail.TemplateNames != nil {
		t.Errorf("TemplateNames = %v, want nil", c.Mail.TemplateNames)
	}
	if c.TrustsProxy(netip.MustParseAddr("127.0.0.1")) {
		t.Error("TrustsProxy(127.0.0.1) = true without trusted_proxies")
	}
}

func TestParseDefaultProviderAnyCase(t *testing.T) {
	c := mustParse(t, `
default_provider: OTHER
providers:
  - {name: shareit, unauthenticated: true}
  - {name: Other, unauthenticated: true}
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
providers: [{name: "  ", unauthenticated: true}]
mail: {from: a@example.com}
`, "missing or duplicate name"},
		{"duplicate provider", `
providers: [{name: shareit, unauthenticated: true}, {name: ShareIt, unauthenticated: true}]
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
		{"bad trusted_proxies", `
trusted_proxies: ["10.0.0.0/8", "proxy.example.com"]
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`, "trusted_proxies"},
		{"trusted_proxies prefix too long", `
trusted_proxies: ["2001:db8::/129"]
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`, "trusted_proxies"},
		{"negative maintenance_plan_days", `
maintenance_plan_days: -1
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`, "maintenance_plan_days"},
		{"default_provider not a provider", `
default_provider: qlm
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`, `default_provider "qlm" is not a provider`},
		{"product without name", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: 1, major: 1}]
mail: {from: a@example.com}
`, "product 1: missing name"},
		{"duplicate product id and version", `
providers: [{name: shareit, unauthenticated: true}]
products:
  - {id: 1, name: A, major: 1, minor: 0}
  - {id: 2, name: B, major: 1, minor: 0}
  - {id: 1, name: C, major: 1, minor: 0}
mail: {from: a@example.com}
`, "product 3: missing name or duplicate id/version"},
		{"feature set 4", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: 1, name: A, features: {4: [X]}}]
mail: {from: a@example.com}
`, "sets are 0-3"},
		{"feature set -1", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: 1, name: A, features: {-1: [X]}}]
mail: {from: a@example.com}
`, "sets are 0-3"},
		{"feature set with 9 names", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: 1, name: A, features: {0: [a, b, c, d, e, f, g, h, i]}}]
mail: {from: a@example.com}
`, "at most 8 names"},
		{"missing mail.from", `
providers: [{name: shareit, unauthenticated: true}]
mail: {reply_to: a@example.com}
`, "mail.from is required"},
		{"template name mapped to nothing", `
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com, template_names: {"1. New Order": ""}}
`, `"1. New Order" maps to no template`},
		{"template name mapped to blanks", `
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com, template_names: {"2. Renewal": "  "}}
`, `"2. Renewal" maps to no template`},
		{"unknown top-level field", `
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
bogus: 1
`, "bogus"},
		{"unknown provider field (typo)", `
providers: [{name: shareit, user: shareit, password: "HASH"}]
mail: {from: a@example.com}
`, "password"},
		{"unknown product field", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: 1, name: A, version: 1}]
mail: {from: a@example.com}
`, "version"},
		{"unknown mail field", `
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com, templates: x}
`, "templates"},
		{"negative product id", `
providers: [{name: shareit, unauthenticated: true}]
products: [{id: -1, name: A}]
mail: {from: a@example.com}
`, "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := parseErr(t, tt.yaml); !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestProviderAuthenticator: a provider needs credentials, basic auth or an
// address list, or must say that it means to let anyone get keys.
func TestProviderAuthenticator(t *testing.T) {
	const noAuth = "anyone could get keys"
	tests := []struct {
		name, provider string
		want           string // "" = accepted, else part of the error
	}{
		{"nothing", `{name: shareit}`, noAuth},
		{"unauthenticated false", `{name: shareit, unauthenticated: false}`, noAuth},
		{"empty allow_ips", `{name: shareit, allow_ips: []}`, noAuth},
		{"null basic_auth", `{name: shareit, basic_auth: null}`, noAuth},
		{"only products", `{name: shareit, products: {"1": "is_productid=1"}}`, noAuth},
		{"unauthenticated", `{name: shareit, unauthenticated: true}`, ""},
		{"only allow_ips", `{name: shareit, allow_ips: ["203.0.113.0/24"]}`, ""},
		{"only user and password_hash", `{name: shareit, user: shop, password_hash: "HASH"}`, ""},
		{"only basic_auth", `{name: shareit, basic_auth: {user: shop, password_hash: "HASH"}}`, ""},
		{"credentials and unauthenticated", `{name: shareit, user: shop, password_hash: "HASH", unauthenticated: true}`, ""},

		{"basic_auth without password_hash", `{name: shareit, basic_auth: {user: shop}}`, "basic_auth needs a user and a password_hash"},
		{"basic_auth without user", `{name: shareit, basic_auth: {password_hash: "HASH"}}`, "basic_auth needs a user and a password_hash"},
		{"empty basic_auth", `{name: shareit, basic_auth: {}, unauthenticated: true}`, "basic_auth needs a user and a password_hash"},
		{"basic_auth with blank user", `{name: shareit, basic_auth: {user: "", password_hash: "HASH"}, user: shop, password_hash: "HASH"}`, "basic_auth needs a user and a password_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "providers: [" + tt.provider + "]\nmail: {from: a@example.com}\n"
			if tt.want == "" {
				mustParse(t, yaml)
				return
			}
			err := parseErr(t, yaml)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "provider shareit") {
				t.Errorf("Parse error = %q, want it to name provider shareit and contain %q", err, tt.want)
			}
		})
	}
}

// changeMeNow is the bcrypt hash (at bcrypt.DefaultCost, as HashPassword
// makes) of "change-me-now" that deploy/keysmith.yaml ships.
const changeMeNow = "$2a$10$0G8H.8/FGbR.lGBRKs4aT.x9m371nu4eZ9Z.CgSoGuiAY844pp7Q6"

// TestPlaceholderPasswordRefused: a hash of the example's placeholder
// password, wherever it is, is refused with an error that says why.
func TestPlaceholderPasswordRefused(t *testing.T) {
	if bcrypt.CompareHashAndPassword([]byte(changeMeNow), []byte("change-me-now")) != nil {
		t.Fatal("changeMeNow is not a hash of change-me-now")
	}
	tests := []struct{ name, provider string }{
		{"qlm password (MinCost)", `{name: shareit, user: shop, password_hash: "PLACEHOLDER"}`},
		{"qlm password (the example's hash)", `{name: shareit, user: shop, password_hash: "` + changeMeNow + `"}`},
		{"basic auth password", `{name: shareit, basic_auth: {user: shop, password_hash: "PLACEHOLDER"}}`},
		{"basic auth beside a real password", `{name: shareit, user: shop, password_hash: "HASH", basic_auth: {user: shop, password_hash: "PLACEHOLDER"}}`},
		{"with unauthenticated", `{name: shareit, user: shop, password_hash: "PLACEHOLDER", unauthenticated: true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, "providers: ["+tt.provider+"]\nmail: {from: a@example.com}\n")
			for _, want := range []string{"provider shareit", "placeholder", `"change-me-now"`, "hash-password"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Parse error = %q, want it to contain %q", err, want)
				}
			}
		})
	}
	// A hash of a password that merely resembles the placeholder is fine.
	for _, pw := range []string{"change-me-now ", "Change-me-now", "change-me-now!"} {
		if _, err := Parse([]byte("providers: [{name: s, user: u, password_hash: \"" + quickHash(t, pw) + "\"}]\nmail: {from: a@example.com}\n")); err != nil {
			t.Errorf("hash of %q: %v", pw, err)
		}
	}
}

func TestProviderNames(t *testing.T) {
	tests := []struct {
		name string
		want string // the stored name, "" = refused
	}{
		{"shareit", "shareit"},
		{" ShareIt ", "shareit"},
		{"Share_It.v-2", "share_it.v-2"},
		{"2checkout", "2checkout"},
		{"share it", ""},
		{"a:b", ""},
		{"a/b", ""},
		{"a,b", ""},
		{"a@b", ""},
		{"shäreit", ""},
		{"share\tit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := `providers: [{name: "` + tt.name + `", unauthenticated: true}]` + "\nmail: {from: a@example.com}\n"
			if tt.want == "" {
				err := parseErr(t, yaml)
				if !strings.Contains(err.Error(), "a name is letters, digits") {
					t.Errorf("Parse error = %q, want it to explain names", err)
				}
				return
			}
			c := mustParse(t, yaml)
			if got := c.Providers[0].Name; got != tt.want {
				t.Errorf("name = %q, want %q", got, tt.want)
			}
			if p, ok := c.Provider(tt.name); !ok || p.Name != tt.want {
				t.Errorf("Provider(%q) = %+v, %v", tt.name, p, ok)
			}
		})
	}
}

func TestProviderEncoding(t *testing.T) {
	tests := []struct {
		encoding string
		want     string // normalized Encoding, "" = refused
	}{
		{"", "iso-8859-1"},
		{"iso-8859-1", "iso-8859-1"},
		{"ISO-8859-1", "iso-8859-1"},
		{"latin1", "iso-8859-1"},
		{"windows-1252", "iso-8859-1"},
		{"utf-8", "utf-8"},
		{"UTF-8", "utf-8"},
		{"utf8", "utf-8"},
		{" utf-8 ", "utf-8"},
		{"utf-16", ""},
		{"ascii", ""},
		{"iso-8859-15", ""},
		{"latin-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			yaml := `providers: [{name: shareit, unauthenticated: true, encoding: "` + tt.encoding + `"}]` + "\nmail: {from: a@example.com}\n"
			if tt.want == "" {
				if err := parseErr(t, yaml); !strings.Contains(err.Error(), "encoding") {
					t.Errorf("Parse error = %q, want it to name encoding", err)
				}
				return
			}
			p, _ := mustParse(t, yaml).Provider("")
			if p.Encoding != tt.want || p.UTF8() != (tt.want == "utf-8") {
				t.Errorf("Encoding = %q, UTF8() = %v; want %q", p.Encoding, p.UTF8(), tt.want)
			}
		})
	}
}

func TestProviderDateFormat(t *testing.T) {
	c := mustParse(t, `
providers:
  - {name: eu, unauthenticated: true, date_format: "dd/MM/yyyy"}
  - {name: us, unauthenticated: true, date_format: "MM/dd/yyyy hh:mm tt"}
  - {name: plain, unauthenticated: true}
mail: {from: a@example.com}
`)
	tests := []struct{ provider, layout string }{
		{"eu", "02/01/2006"},
		{"us", "01/02/2006 03:04 PM"},
		{"plain", ""},
	}
	for _, tt := range tests {
		p, _ := c.Provider(tt.provider)
		if got := p.DateLayout(); got != tt.layout {
			t.Errorf("%s: DateLayout() = %q, want %q", tt.provider, got, tt.layout)
		}
		if p.DateFormat == "" != (tt.layout == "") {
			t.Errorf("%s: DateFormat = %q", tt.provider, p.DateFormat)
		}
	}

	for _, format := range []string{"yyyy-MM-dd Q", "dd/MM/yyyy 1", "'dd/MM/yyyy", "HH:mm"} {
		err := parseErr(t, `providers: [{name: shareit, unauthenticated: true, date_format: "`+format+`"}]`+"\nmail: {from: a@example.com}\n")
		if !strings.Contains(err.Error(), "provider shareit: date_format") {
			t.Errorf("date_format %q: Parse error = %q, want it to name the provider and date_format", format, err)
		}
	}
}

func TestMaintenancePlanDays(t *testing.T) {
	tests := []struct {
		yaml string // the maintenance_plan_days line
		want int    // 0 = refused
	}{
		{"", 365},
		{"maintenance_plan_days: 0", 365},
		{"maintenance_plan_days: 1", 1},
		{"maintenance_plan_days: 30", 30},
		{"maintenance_plan_days: 730", 730},
		{"maintenance_plan_days: -1", 0},
		{"maintenance_plan_days: -365", 0},
		{"maintenance_plan_days: a year", 0},
	}
	for _, tt := range tests {
		yaml := tt.yaml + "\nproviders: [{name: shareit, unauthenticated: true}]\nmail: {from: a@example.com}\n"
		if tt.want == 0 {
			c, err := Parse([]byte(yaml))
			if err == nil {
				t.Errorf("%q: Parse succeeded with %d days, want an error", tt.yaml, c.MaintenancePlanDays)
			}
			continue
		}
		if got := mustParse(t, yaml).MaintenancePlanDays; got != tt.want {
			t.Errorf("%q: MaintenancePlanDays = %d, want %d", tt.yaml, got, tt.want)
		}
	}
}

func TestTrustsProxy(t *testing.T) {
	c := mustParse(t, `
trusted_proxies: ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::ffff:198.51.100.0/120", "172.16.1.2/12"]
providers: [{name: shareit, unauthenticated: true}]
mail: {from: a@example.com}
`)
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"11.0.0.1", false},
		{"192.0.2.1", true}, // a single address
		{"192.0.2.2", false},
		{"::ffff:10.1.2.3", true}, // an IPv4 caller on a dual-stack listener
		{"::ffff:192.0.2.1", true},
		{"198.51.100.9", true}, // an entry written IPv4-mapped
		{"::ffff:198.51.100.9", true},
		{"198.51.101.9", false},
		{"172.31.0.1", true}, // host bits in the entry are ignored
		{"172.32.0.1", false},
		{"2001:db8::1", true},
		{"2001:db9::1", false},
		{"127.0.0.1", false},
		{"::1", false},
	}
	for _, tt := range tests {
		if got := c.TrustsProxy(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("TrustsProxy(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if c.TrustsProxy(netip.Addr{}) {
		t.Error("TrustsProxy(zero Addr) = true")
	}
}

func TestTemplate(t *testing.T) {
	c := mustParse(t, `
providers: [{name: shareit, unauthenticated: true}]
mail:
  from: a@example.com
  template_names:
    "1. New Order": new-order
    "2. Renewal": missing
    "3. Upgrade": default
`)
	templates := map[string]bool{"default": true, "fancy": true, "new-order": true}
	has := func(name string) bool { return templates[name] }
	tests := []struct {
		qlmName, want string
		ok            bool
	}{
		{"default", "default", true},
		{"fancy", "fancy", true},
		{"new-order", "new-order", true},
		{"1. New Order", "new-order", true},
		{"1. new order", "new-order", true},
		{"1. NEW ORDER", "new-order", true},
		{" 1. New Order ", "new-order", true},
		{"3. Upgrade", "default", true},
		{"2. Renewal", "", false}, // mapped to a template that does not exist
		{"1. New Orders", "", false},
		{"4. Other", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := c.Template(tt.qlmName, has)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Template(%q) = %q, %v; want %q, %v", tt.qlmName, got, ok, tt.want, tt.ok)
		}
	}

	// Without template_names only the templates themselves are found.
	plain := mustParse(t, "providers: [{name: s, unauthenticated: true}]\nmail: {from: a@example.com}\n")
	if got, ok := plain.Template("fancy", has); got != "fancy" || !ok {
		t.Errorf("Template(fancy) without template_names = %q, %v", got, ok)
	}
	if got, ok := plain.Template("1. New Order", has); got != "" || ok {
		t.Errorf("Template(1. New Order) without template_names = %q, %v", got, ok)
	}
}

func TestParseBoundaries(t *testing.T) {
	// Set 3 with 8 names, and the same product id in two versions, are fine.
	c := mustParse(t, `
providers: [{name: shareit, unauthenticated: true}]
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
	// The result points into the config, not at a copy.
	a, _ := c.Provider("shareit")
	b, _ := c.Provider("SHAREIT")
	if a != b || a != &c.Providers[0] {
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

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name, password string
		ok             bool
	}{
		{"empty", "", false},
		{"5 characters", "short", false},
		{"7 characters", "1234567", false},
		{"8 characters", "12345678", true},
		{"72 bytes", strings.Repeat("a", 72), true},
		{"73 bytes", strings.Repeat("a", 73), false},
		{"100 bytes", strings.Repeat("a", 100), false},
		{"36 two-byte runes (72 bytes)", strings.Repeat("é", 36), true},
		{"37 two-byte runes (74 bytes)", strings.Repeat("é", 37), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // bcrypt at DefaultCost is slow, more so with -race
			h, err := HashPassword(tt.password)
			if !tt.ok {
				if err == nil {
					t.Errorf("HashPassword(%d bytes) = %q, want an error", len(tt.password), h)
				}
				return
			}
			if err != nil {
				t.Fatalf("HashPassword(%d bytes): %v", len(tt.password), err)
			}
			if bcrypt.CompareHashAndPassword([]byte(h), []byte(tt.password)) != nil {
				t.Error("hash does not match its password")
			}
			if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
				t.Errorf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
			}
		})
	}

	// The error says why: bcrypt would ignore what follows byte 72.
	if _, err := HashPassword(strings.Repeat("a", 73)); err == nil || !strings.Contains(err.Error(), "72") {
		t.Errorf("HashPassword(73 bytes) error = %v, want it to name the 72-byte limit", err)
	}

	// The hash goes into the config file as is, quoted or not (a bcrypt
	// hash has no YAML specials).
	h, err := HashPassword("12345678")
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []string{`"` + h + `"`, h} {
		c, err := Parse([]byte("providers: [{name: s, user: u, password_hash: " + hash + "}]\nmail: {from: a@example.com}\n"))
		if err != nil {
			t.Fatalf("Parse with HashPassword's hash %s: %v", hash, err)
		}
		if p, _ := c.Provider(""); p.PasswordHash != h {
			t.Errorf("PasswordHash = %q, want %q", p.PasswordHash, h)
		}
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
	p, ok := c.Provider("ShareIt")
	if !ok || p.User != "shareit" || bcrypt.CompareHashAndPassword([]byte(p.PasswordHash), []byte("secret-password")) != nil {
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

// TestDeployExample: the example configuration that docker-compose mounts
// is refused as shipped, because its hashes are of the placeholder
// password its comment names; with real hashes in their place it is valid.
func TestDeployExample(t *testing.T) {
	path := filepath.Join("..", "deploy", "keysmith.yaml")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("deploy/keysmith.yaml: Load error = %v, want one about the placeholder password", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bcryptHash := regexp.MustCompile(`\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}`)
	if !bcryptHash.Match(b) {
		t.Fatal("deploy/keysmith.yaml: no bcrypt hash found")
	}
	c, err := Parse(bcryptHash.ReplaceAllLiteral(b, []byte(quickHash(t, "a-real-password"))))
	if err != nil {
		t.Fatalf("deploy/keysmith.yaml with real hashes: %v", err)
	}
	p, ok := c.Provider("")
	if !ok || p.Name != "shareit" {
		t.Fatalf("default provider = %+v, %v", p, ok)
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
