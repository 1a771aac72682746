// Package config holds what a vendor configures without touching code: the
// storefront providers that may call the key generator (with their
// credentials) and the products keys are issued for. It is read from one
// YAML file (keysmith.yaml); see keysmith.example.yaml for every field.
package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

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
}

// Provider is a storefront (ShareIt) allowed to ask for keys.
type Provider struct {
	Name string `yaml:"name"`
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

	allow    []netip.Prefix
	verified *sync.Map // sha256 of credentials that already passed bcrypt
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
}

// Mail configures the buyer's email.
type Mail struct {
	From    string `yaml:"from"`
	ReplyTo string `yaml:"reply_to"`
	// TemplatesDir holds <name>.subject.tmpl, <name>.txt.tmpl and
	// <name>.html.tmpl files that add to or replace the built-in ones.
	TemplatesDir string `yaml:"templates_dir"`
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
		seen[p.Name] = true
		if (p.User == "") != (p.PasswordHash == "") {
			return fmt.Errorf("provider %s: user and password_hash go together", p.Name)
		}
		for _, h := range []string{p.PasswordHash, basicHash(p.BasicAuth)} {
			if h == "" {
				continue
			}
			if _, err := bcrypt.Cost([]byte(h)); err != nil {
				return fmt.Errorf("provider %s: password hash is not bcrypt (use keysmith hash-password)", p.Name)
			}
		}
		for _, s := range p.AllowIPs {
			pfx, err := parsePrefix(s)
			if err != nil {
				return fmt.Errorf("provider %s: allow_ips: %w", p.Name, err)
			}
			p.allow = append(p.allow, pfx)
		}
		p.verified = new(sync.Map)
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
	}
	if c.Mail.From == "" {
		return errors.New("mail.from is required")
	}
	return nil
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

// CheckQLM checks QLM's is_user/is_pwd.
func (p *Provider) CheckQLM(user, password string) bool {
	if p.User == "" {
		return true
	}
	return p.check("qlm", p.User, p.PasswordHash, user, password)
}

// CheckBasic checks HTTP basic auth when the provider requires it.
func (p *Provider) CheckBasic(user, password string, ok bool) bool {
	if p.BasicAuth == nil {
		return true
	}
	return ok && p.check("basic", p.BasicAuth.User, p.BasicAuth.PasswordHash, user, password)
}

// check compares in constant time. bcrypt costs tens of milliseconds, which
// would sit in front of every order, so credentials that passed once are
// remembered by their SHA-256 (in memory only, never logged).
func (p *Provider) check(kind, wantUser, hash, user, password string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(wantUser)) == 1
	sum := sha256.Sum256([]byte(kind + "\x00" + user + "\x00" + password + "\x00" + hash))
	if _, ok := p.verified.Load(sum); ok {
		return userOK
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || !userOK {
		return false
	}
	p.verified.Store(sum, true)
	return true
}

// HashPassword makes the bcrypt hash stored in the config file.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password must have at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
