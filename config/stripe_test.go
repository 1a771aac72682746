package config

import (
	"strings"
	"testing"
)

// stripeDoc is a stripe provider whose entry adds extra (YAML lines
// indented four spaces).
func stripeDoc(extra string) string {
	return "providers:\n  - name: stripe\n    kind: stripe\n    user: stripe\n    password_hash: HASH\n" + extra +
		"products:\n  - {id: 1, name: App, major: 1, minor: 0}\nmail: {from: keys@example.com}\n"
}

func TestStripeProvider(t *testing.T) {
	t.Setenv("KS_TEST_STRIPE_KEY", "sk_test_123")
	t.Setenv("KS_TEST_STRIPE_WHSEC", "whsec_456")
	c := mustParse(t, stripeDoc("    api_key_env: KS_TEST_STRIPE_KEY\n    webhook_secret_env: KS_TEST_STRIPE_WHSEC\n    api_url: http://127.0.0.1:8111/\n"))
	p, _ := c.Provider("stripe")
	if p.Kind != KindStripe || p.APIKey() != "sk_test_123" || p.WebhookSecret() != "whsec_456" || p.APIURL != "http://127.0.0.1:8111" {
		t.Errorf("provider: kind %q, key %q, secret %q, api_url %q", p.Kind, p.APIKey(), p.WebhookSecret(), p.APIURL)
	}
	if err := p.SetAPIURL("ftp://example.com"); err == nil {
		t.Error("SetAPIURL accepted ftp")
	}

	for extra, want := range map[string]string{
		"":                                     "api_key_env: required for a stripe provider",
		"    api_key_env: KS_TEST_UNSET_VAR\n": "the environment variable KS_TEST_UNSET_VAR is not set",
		"    api_key_env: KS_TEST_STRIPE_KEY\n    private_key_env: KS_TEST_STRIPE_KEY\n":      "private_key_env: only for a fastspring provider",
		"    api_key_env: KS_TEST_STRIPE_KEY\n    api_url: \"https://u:p@api.example.com\"\n": "api_url:",
		"    api_key_env: KS_TEST_STRIPE_KEY\n    api_url: \"not a url\"\n":                   "api_url:",
	} {
		if err := parseErr(t, stripeDoc(extra)); !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q, want it to hold %q", extra, err, want)
		}
	}
	// Stripe's settings are Stripe's.
	for _, extra := range []string{"    api_key_env: KS_TEST_STRIPE_KEY\n", "    api_url: https://api.stripe.com\n"} {
		doc := strings.Replace(stripeDoc(extra), "kind: stripe", "kind: shareit", 1)
		if err := parseErr(t, doc); !strings.Contains(err.Error(), "only for a stripe provider") {
			t.Errorf("shareit with %q: %v", extra, err)
		}
	}
}
