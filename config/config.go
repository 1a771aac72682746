// Package config holds what a vendor configures without touching code: the
// storefront providers that may call the key generator (with their
// credentials) and the products keys are issued for. It is read from one
// YAML file (keysmith.yaml); deploy/keysmith.yaml is a commented example.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Config is the whole file.
type Config struct {
	// DefaultProvider answers calls without is_vendor. Empty: the first provider.
	DefaultProvider string     `yaml:"default_provider"`
	Providers       []Provider `yaml:"providers"`
	Products        []Product  `yaml:"products"`
	Mail            Mail       `yaml:"mail"`
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// whose X-Forwarded-For entries are believed; from anyone else the
	// header is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminTokens may call the admin API (/v1/admin/...), each under its
	// name (the actor on the record); only the SHA-256 of each token is
	// kept (keysmith admin-token).
	AdminTokens []AdminToken `yaml:"admin_tokens"`
	// RetiredKeys are signing key ids no longer trusted (a compromised
	// key): keys they signed are reported revoked, and the next key signs.
	RetiredKeys []uint16 `yaml:"retired_keys"`
	// MaintenancePlanDays is the length of a maintenance plan bought with
	// is_maintenance_plan=1 and no is_maintduration (QLM's
	// maintenancePlanPeriodInDays, 365 by default).
	MaintenancePlanDays int `yaml:"maintenance_plan_days"`

	trusted []netip.Prefix
}

// Provider is a storefront allowed to ask for keys.
type Provider struct {
	Name string `yaml:"name"`
	// Kind is the storefront's kind, which says how its calls are read,
	// signed and answered: "shareit" (the default), "fastspring",
	// "stripe" or "paddle".
	Kind string `yaml:"kind"`
	// User and PasswordHash check QLM's is_user/is_pwd. PasswordHash is a
	// bcrypt hash (keysmith hash-password); an empty User means the
	// provider sends no is_user/is_pwd.
	User         string `yaml:"user"`
	PasswordHash string `yaml:"password_hash"`
	// BasicAuth, when set, must also match (https://user:pass@host/...).
	BasicAuth *Credentials `yaml:"basic_auth"`
	// AllowIPs limits callers to these addresses or CIDR prefixes.
	AllowIPs []string `yaml:"allow_ips"`
	// Products maps the storefront's PRODUCT_ID to QLM arguments, for the
	// QlmWebHookHandler style where the URL names no product, e.g.
	// "300012345": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3".
	Products map[string]string `yaml:"products"`
	// Unauthenticated must be set to accept calls from a provider with no
	// credentials, basic auth or address list: anyone could get keys.
	Unauthenticated bool `yaml:"unauthenticated"`
	// Encoding is how a call without ENCODING is read: "iso-8859-1"
	// (ShareIt's default; read as Windows-1252) or "utf-8" (what QLM has
	// vendors choose in ShareIt's control panel).
	Encoding string `yaml:"encoding"`
	// DateFormat is QLM's dateFormat for is_expdate and is_maintdate, in
	// .NET notation such as "dd/MM/yyyy", for a vendor who changed QLM's
	// default (yyyy-MM-dd, which is always read too).
	DateFormat string `yaml:"date_format"`
	// Unconfirmed is what becomes of a line whose keys the storefront did
	// not receive (keysmith answered an error, timed out, or the caller was
	// gone): "hold" (the default: no email, the keys do not activate until
	// the storefront calls again or support confirms), or "mail" for a
	// storefront that completes its purchases regardless.
	Unconfirmed string `yaml:"unconfirmed"`
	// CancelUnconfirmedAfterDays cancels a held line, revoking its keys,
	// this many days after it was held (14 by default).
	CancelUnconfirmedAfterDays int `yaml:"cancel_unconfirmed_after_days"`
	// Upstream, when set, is forward mode: the vendor's old QLM License
	// Server keys this provider's calls, keysmith records them.
	Upstream *Upstream `yaml:"upstream"`
	// PrivateKeyEnv and WebhookSecretEnv name the environment variables
	// that hold what a FastSpring store signs its calls with (never the
	// secrets themselves, which stay out of this file): the Private Key of
	// the license fulfillment's Security tab (its security_request_hash),
	// and the webhook's HMAC SHA256 Secret (its X-FS-Signature).
	// WebhookSecretEnv also names a Stripe endpoint's signing secret
	// (whsec_..., its Stripe-Signature), and a Paddle notification
	// destination's secret key (pdl_ntfset_..., its Paddle-Signature).
	PrivateKeyEnv    string `yaml:"private_key_env"`
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// APIKeyEnv names the environment variable holding a Stripe account's
	// secret key (sk_... or a restricted rk_...), with which keysmith
	// reads the order a Stripe event names, as QLM does; required for
	// stripe. APIURL replaces Stripe's API (https://api.stripe.com), for
	// tests against a local stand-in.
	//
	// For paddle, APIKeyEnv is optional: a Paddle Billing API key
	// (pdl_live_apikey_... or pdl_sdbx_apikey_...) with which keysmith reads
	// what a notification leaves out (the buyer of a transaction, the
	// items an adjustment refunds). APIURL replaces Paddle's API
	// (https://api.paddle.com, or https://sandbox-api.paddle.com for a
	// sandbox key).
	APIKeyEnv string `yaml:"api_key_env"`
	APIURL    string `yaml:"api_url"`

	allow                             []netip.Prefix
	dateLayout                        string
	privateKey, webhookSecret, apiKey string
}

// Storefront kinds (Provider.Kind).
const (
	KindShareIt    = "shareit"
	KindFastSpring = "fastspring"
	KindStripe     = "stripe"
	KindPaddle     = "paddle"
	// KindTwoCheckout is 2Checkout (Verifone, formerly Avangate): its IPN,
	// signed with the IPN's secret key (webhook_secret_env).
	KindTwoCheckout = "2checkout"
)

// Kinds are the storefront kinds keysmith serves.
var Kinds = []string{KindShareIt, KindFastSpring, KindStripe, KindPaddle, KindTwoCheckout}

// PrivateKey is the FastSpring license fulfillment's private key, "" when
// not configured.
func (p *Provider) PrivateKey() string { return p.privateKey }

// WebhookSecret is the FastSpring webhook's HMAC secret, the Stripe
// endpoint's signing secret, or the Paddle notification destination's
// secret key, "" when not configured.
func (p *Provider) WebhookSecret() string { return p.webhookSecret }

// APIKey is the Stripe account's secret key, or the Paddle API key, ""
// for other kinds or when not configured.
func (p *Provider) APIKey() string { return p.apiKey }

// SetAPIURL replaces api_url, checked as reading the file checks it: for a
// configuration built in code, such as a test's that points a provider at
// its own stand-in of the storefront's API.
func (p *Provider) SetAPIURL(raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("api_url: %q is not an http(s) URL without query or credentials", raw)
	}
	p.APIURL = strings.TrimRight(u.String(), "/")
	return nil
}

// ValidProviderName reports whether name may name a provider: lower-case
// letters, digits, '_', '.' and '-' (it is part of every workflow ID and key
// serial).
func ValidProviderName(name string) bool {
	return name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == ""
}

// What becomes of a line whose keys the storefront did not receive.
const (
	UnconfirmedHold = "hold"
	UnconfirmedMail = "mail"
	// DefaultCancelUnconfirmedAfterDays is how long a held line waits.
	DefaultCancelUnconfirmedAfterDays = 14
)

// Upstream is a QLM License Server that keys a provider's calls while
// its vendor's applications still check QLM's keys: each call is forwarded
// to it as it came, its answer returned to the storefront, and the line
// recorded with QLM's keys as legacy keys. Removing it switches the
// provider to keysmith's own keys.
type Upstream struct {
	// URL is the server's qlmservice.asmx, such as
	// https://qlm.example.com/qlmLicenseServer/qlmservice.asmx; the
	// method the storefront called is appended.
	URL string `yaml:"url"`
	// Mail, when true, has keysmith mail the buyer QLM's keys (QLM mails
	// its own by default, so keysmith does not).
	Mail bool `yaml:"mail"`
}

// Forwards reports whether some provider is in forward mode.
func (c *Config) Forwards() bool {
	for i := range c.Providers {
		if c.Providers[i].Upstream != nil {
			return true
		}
	}
	return false
}

// Holds reports whether the provider's lines wait for the storefront to
// receive their keys.
func (p *Provider) Holds() bool { return p.Unconfirmed != UnconfirmedMail }

// AdminToken is an admin API caller: a name and the hex SHA-256 of its
// token.
type AdminToken struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// Credentials is a user with a bcrypt password hash.
type Credentials struct {
	User         string `yaml:"user"`
	PasswordHash string `yaml:"password_hash"`
}

// Product is one version of a vendor's product that keys are issued for.
type Product struct {
	ID    uint32 `yaml:"id"`
	Name  string `yaml:"name"`
	Major uint32 `yaml:"major"`
	Minor uint32 `yaml:"minor"`
	// Features names the features of each set (0-3) in bit order: the
	// first name is value 1, the second 2, the third 4, and so on.
	Features map[int][]string `yaml:"features"`
	// EmailTemplate names the mail template (default: "default").
	EmailTemplate string `yaml:"email_template"`
	// KeyFormat is "signed" (the default: verifiable offline, about 177
	// characters) or "short" (XXXX-XXXX-XXXX-XXXX-XXXX, valid only
	// through the server: activation and validation).
	KeyFormat string `yaml:"key_format"`
	// OnRefund is what a storefront's refund or chargeback does to the
	// line's keys: "revoke" (the default) or "keep". OnCancel is what a
	// cancelled subscription does: "expire" (the default: the keys run to
	// the end of the period paid for) or "revoke" (at once).
	OnRefund string `yaml:"on_refund"`
	OnCancel string `yaml:"on_cancel"`
}

// What a storefront's refund or cancellation does (Product.OnRefund,
// OnCancel).
const (
	Revoke = "revoke"
	Keep   = "keep"
	Expire = "expire"
)

// QLM's maintenancePlanPeriodInDays default.
const defaultMaintenancePlanDays = 365

// Mail configures the buyer's email.
type Mail struct {
	From    string `yaml:"from"`
	ReplyTo string `yaml:"reply_to"`
	// TemplatesDir holds <name>.subject.tmpl, <name>.txt.tmpl and
	// <name>.html.tmpl files that add to or replace the built-in ones.
	TemplatesDir string `yaml:"templates_dir"`
	// TemplateNames maps QLM's email template names, as vendors' URLs give
	// them in is_emailtemplate ("1. New Order"), to keysmith's templates.
	TemplateNames map[string]string `yaml:"template_names"`
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Parse validates a config document.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	if len(c.Providers) == 0 {
		return errors.New("no providers")
	}
	seen := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		p.Name = strings.ToLower(strings.TrimSpace(p.Name))
		if p.Name == "" || seen[p.Name] {
			return fmt.Errorf("provider %d: missing or duplicate name", i+1)
		}
		if !ValidProviderName(p.Name) {
			// The name is part of every workflow ID and key serial.
			return fmt.Errorf("provider %q: a name is letters, digits, '_', '.' and '-'", p.Name)
		}
		seen[p.Name] = true
		if err := p.validate(); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	if err := c.SetTrustedProxies(c.TrustedProxies); err != nil {
		return err
	}
	for i, t := range c.AdminTokens {
		if strings.TrimSpace(t.Name) == "" || len(t.SHA256) != 64 || strings.Trim(strings.ToLower(t.SHA256), "0123456789abcdef") != "" {
			return fmt.Errorf("admin_tokens[%d]: a name and the 64 hex digits of the token's SHA-256 (keysmith admin-token)", i)
		}
		c.AdminTokens[i].SHA256 = strings.ToLower(t.SHA256)
	}
	switch {
	case c.MaintenancePlanDays == 0:
		c.MaintenancePlanDays = defaultMaintenancePlanDays
	case c.MaintenancePlanDays < 0:
		return errors.New("maintenance_plan_days: must be positive")
	}
	c.DefaultProvider = strings.ToLower(strings.TrimSpace(c.DefaultProvider))
	if c.DefaultProvider == "" {
		c.DefaultProvider = c.Providers[0].Name
	}
	if !seen[c.DefaultProvider] {
		return fmt.Errorf("default_provider %q is not a provider", c.DefaultProvider)
	}
	type version struct{ id, major, minor uint32 }
	products := map[version]bool{}
	for i := range c.Products {
		p := &c.Products[i]
		v := version{p.ID, p.Major, p.Minor}
		if p.Name == "" || products[v] {
			return fmt.Errorf("product %d: missing name or duplicate id/version", i+1)
		}
		products[v] = true
		for set, names := range p.Features {
			if set < 0 || set > 3 || len(names) > 8 {
				return fmt.Errorf("product %s: features: sets are 0-3 with at most 8 names", p.Name)
			}
		}
		if p.EmailTemplate == "" {
			p.EmailTemplate = "default"
		}
		switch p.OnRefund {
		case "":
			p.OnRefund = Revoke
		case Revoke, Keep:
		default:
			return fmt.Errorf("product %s: on_refund %q is not revoke or keep", p.Name, p.OnRefund)
		}
		switch p.OnCancel {
		case "":
			p.OnCancel = Expire
		case Expire, Revoke:
		default:
			return fmt.Errorf("product %s: on_cancel %q is not expire or revoke", p.Name, p.OnCancel)
		}
		switch p.KeyFormat {
		case "", "signed":
			p.KeyFormat = "signed"
		case "short":
		default:
			return fmt.Errorf("product %s: key_format %q is not signed or short", p.Name, p.KeyFormat)
		}
	}
	if c.Mail.From == "" {
		return errors.New("mail.from is required")
	}
	names := map[string]bool{}
	for qlmName, name := range c.Mail.TemplateNames {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("mail.template_names: %q maps to no template", qlmName)
		}
		key := strings.ToLower(strings.TrimSpace(qlmName))
		if names[key] {
			return fmt.Errorf("mail.template_names: %q is given twice (names are matched in any case)", qlmName)
		}
		names[key] = true
	}
	return nil
}

// placeholderPassword is the password whose hash deploy/keysmith.yaml ships.
const placeholderPassword = "change-me-now"

func (p *Provider) validate() error {
	p.Kind = strings.ToLower(strings.TrimSpace(p.Kind))
	if p.Kind == "" {
		p.Kind = KindShareIt
	}
	if !slices.Contains(Kinds, p.Kind) {
		return fmt.Errorf("kind: %q is not one of %s", p.Kind, strings.Join(Kinds, ", "))
	}
	for _, s := range []struct {
		field, env string
		into       *string
		kinds      []string
	}{
		{"private_key_env", p.PrivateKeyEnv, &p.privateKey, []string{KindFastSpring}},
		{"webhook_secret_env", p.WebhookSecretEnv, &p.webhookSecret, []string{KindFastSpring, KindStripe, KindPaddle, KindTwoCheckout}},
		{"api_key_env", p.APIKeyEnv, &p.apiKey, []string{KindStripe, KindPaddle}},
	} {
		if s.env == "" {
			continue
		}
		if !slices.Contains(s.kinds, p.Kind) {
			return fmt.Errorf("%s: only for a %s provider", s.field, strings.Join(s.kinds, " provider or a "))
		}
		if *s.into = os.Getenv(s.env); *s.into == "" {
			return fmt.Errorf("%s: the environment variable %s is not set", s.field, s.env)
		}
	}
	switch {
	case p.Kind == KindStripe && p.apiKey == "":
		// Stripe's events name the order; only the API has its lines.
		return errors.New("api_key_env: required for a stripe provider (the secret key keysmith reads orders with)")
	case p.APIURL != "" && p.Kind != KindStripe && p.Kind != KindPaddle:
		return errors.New("api_url: only for a stripe provider or a paddle provider")
	case p.APIURL != "":
		if err := p.SetAPIURL(p.APIURL); err != nil {
			return err
		}
	}
	if (p.User == "") != (p.PasswordHash == "") {
		return errors.New("user and password_hash go together")
	}
	if p.BasicAuth != nil && (p.BasicAuth.User == "" || p.BasicAuth.PasswordHash == "") {
		return errors.New("basic_auth needs a user and a password_hash")
	}
	for _, h := range []string{p.PasswordHash, basicHash(p.BasicAuth)} {
		if h == "" {
			continue
		}
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return errors.New("password hash is not bcrypt (use keysmith hash-password)")
		}
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(placeholderPassword)) == nil {
			return fmt.Errorf("password hash is the example's placeholder (%q): make a real one with keysmith hash-password", placeholderPassword)
		}
	}
	for _, s := range p.AllowIPs {
		pfx, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("allow_ips: %w", err)
		}
		p.allow = append(p.allow, pfx)
	}
	if p.User == "" && p.BasicAuth == nil && len(p.allow) == 0 && p.privateKey == "" && p.webhookSecret == "" && !p.Unauthenticated {
		return errors.New("no user/password_hash, basic_auth, allow_ips or signing secret: anyone could get keys (set unauthenticated: true if that is meant)")
	}
	switch strings.ToLower(strings.TrimSpace(p.Encoding)) {
	case "", "iso-8859-1", "latin1", "windows-1252":
		p.Encoding = "iso-8859-1"
	case "utf-8", "utf8":
		p.Encoding = "utf-8"
	default:
		return fmt.Errorf("encoding: %q is not utf-8 or iso-8859-1", p.Encoding)
	}
	if u := p.Upstream; u != nil {
		parsed, err := url.Parse(strings.TrimSpace(u.URL))
		if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" || parsed.RawQuery != "" || parsed.User != nil {
			return fmt.Errorf("upstream.url: %q is not an http(s) URL of QLM's qlmservice.asmx without query or credentials", u.URL)
		}
		u.URL = strings.TrimRight(parsed.String(), "/")
	}
	switch p.Unconfirmed {
	case "":
		p.Unconfirmed = UnconfirmedHold
	case UnconfirmedHold, UnconfirmedMail:
	default:
		return fmt.Errorf("unconfirmed: %q is not %q or %q", p.Unconfirmed, UnconfirmedHold, UnconfirmedMail)
	}
	switch {
	case p.CancelUnconfirmedAfterDays == 0:
		p.CancelUnconfirmedAfterDays = DefaultCancelUnconfirmedAfterDays
	case p.CancelUnconfirmedAfterDays < 1 || p.CancelUnconfirmedAfterDays > 3650:
		return fmt.Errorf("cancel_unconfirmed_after_days: %d is not 1 to 3650", p.CancelUnconfirmedAfterDays)
	}
	for product, mapping := range p.Products {
		args, err := url.ParseQuery(strings.ReplaceAll(mapping, ";", "%3B"))
		named := slices.ContainsFunc(slices.Collect(maps.Keys(args)), func(k string) bool {
			return strings.EqualFold(k, "is_productid") && strings.TrimSpace(args.Get(k)) != ""
		})
		if err != nil || !named {
			return fmt.Errorf("products: %q: %q is not QLM arguments naming is_productid (is_productid=1&is_majorversion=1&...)", product, mapping)
		}
	}
	if p.DateFormat != "" {
		layout, err := DotNetLayout(p.DateFormat)
		if err != nil {
			return fmt.Errorf("date_format: %w", err)
		}
		p.dateLayout = layout
	}
	return nil
}

// UTF8 reports whether a call without ENCODING is read as UTF-8.
func (p *Provider) UTF8() bool { return p.Encoding == "utf-8" }

// DateLayout is the Go layout of DateFormat, "" when not set.
func (p *Provider) DateLayout() string { return p.dateLayout }

// Retired reports whether the signing key with this id is retired.
func (c *Config) Retired(id uint16) bool { return slices.Contains(c.RetiredKeys, id) }

// SetTrustedProxies replaces trusted_proxies (addresses or CIDR
// prefixes), as reading the file does: for a configuration built in code,
// such as a test's that puts its own proxy in front of keysmith.
func (c *Config) SetTrustedProxies(proxies []string) error {
	var trusted []netip.Prefix
	for _, s := range proxies {
		pfx, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("trusted_proxies: %w", err)
		}
		trusted = append(trusted, pfx)
	}
	c.TrustedProxies, c.trusted = proxies, trusted
	return nil
}

// TrustsProxy reports whether addr is a trusted reverse proxy.
func (c *Config) TrustsProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pfx := range c.trusted {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// Template returns the keysmith template for QLM's is_emailtemplate name:
// the name itself or its template_names entry (any case), and whether one
// exists as far as the configuration knows (has says which templates exist).
func (c *Config) Template(qlmName string, has func(string) bool) (string, bool) {
	if has(qlmName) {
		return qlmName, true
	}
	for from, to := range c.Mail.TemplateNames {
		if strings.EqualFold(strings.TrimSpace(from), strings.TrimSpace(qlmName)) && has(to) {
			return to, true
		}
	}
	return "", false
}

func basicHash(c *Credentials) string {
	if c == nil {
		return ""
	}
	return c.PasswordHash
}

// parsePrefix reads an address or CIDR prefix. IPv4-mapped IPv6 forms
// (::ffff:203.0.113.5, as dual-stack servers log IPv4 callers) become plain
// IPv4, as callers' addresses do in AllowsIP.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Provider finds a provider by name, any case; "" is the default provider.
func (c *Config) Provider(name string) (*Provider, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		name = c.DefaultProvider
	}
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i], true
		}
	}
	return nil, false
}

// Product finds a product version.
func (c *Config) Product(id, major, minor uint32) (*Product, bool) {
	for i := range c.Products {
		p := &c.Products[i]
		if p.ID == id && p.Major == major && p.Minor == minor {
			return p, true
		}
	}
	return nil, false
}

// Versions lists the configured versions of a product, "1.0, 2.0".
func (c *Config) Versions(id uint32) []string {
	var vs []string
	for _, p := range c.Products {
		if p.ID == id {
			vs = append(vs, fmt.Sprintf("%d.%d", p.Major, p.Minor))
		}
	}
	return vs
}

// FeatureNames lists the names of the enabled features, "set:name" when a
// feature has no configured name.
func (p *Product) FeatureNames(sets [4]uint8) []string {
	var names []string
	for set, bits := range sets {
		for bit := 0; bit < 8; bit++ {
			if bits&(1<<bit) == 0 {
				continue
			}
			if n := p.Features[set]; bit < len(n) {
				names = append(names, n[bit])
			} else {
				names = append(names, fmt.Sprintf("%d:%d", set, 1<<bit))
			}
		}
	}
	return names
}

// AllowsIP reports whether addr may call for this provider.
func (p *Provider) AllowsIP(addr netip.Addr) bool {
	if len(p.allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, pfx := range p.allow {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// bcrypt reads at most 72 bytes of a password: a longer one would match
// on its first 72 bytes alone.
const maxPasswordBytes = 72

// HashPassword makes the bcrypt hash stored in the config file.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password must have at least 8 characters")
	}
	if len(password) > maxPasswordBytes {
		return "", fmt.Errorf("password must have at most %d bytes (bcrypt ignores the rest)", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
