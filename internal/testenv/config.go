package testenv

import (
	"fmt"
	"os"
	"sync"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/keysmith/keysmith/config"
)

// Password is every test provider's is_pwd (and basic auth password):
// distinctive, so that finding it in a log, a body or a history is a leak.
const Password = "pw-7f3a9c-never-log-me"

// configYAML has the ShareIt provider of every test (its PRODUCT_ID mappings
// as QLM's MyCommerce guide writes them); one that also wants basic auth; two
// limited by address (httptest.NewRequest calls come from 192.0.2.1, real
// ones from 127.0.0.1); one that declares UTF-8 and its own date format; a
// FastSpring, a Stripe and a Paddle provider with their signing secrets;
// and two versions of a product.
const configYAML = `
providers:
  - name: shareit
    user: shareit
    password_hash: %[1]q
    products:
      "300000001": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3;1:1"
      "300000002": "&is_productid=1&is_majorversion=1&is_minorversion=0&is_productname=MyProduct&is_emailtemplate=1. New Order"
  - name: legacy
    user: shareit
    password_hash: %[1]q
    encoding: utf-8
    date_format: dd/MM/yyyy
  - name: guarded
    user: shareit
    password_hash: %[1]q
    basic_auth: {user: basic, password_hash: %[1]q}
  - name: faraway
    allow_ips: ["198.51.100.0/24"]
  - name: local
    allow_ips: ["192.0.2.0/24"]
  - name: fastspring
    kind: fastspring
    user: fastspring
    password_hash: %[1]q
    private_key_env: KEYSMITH_TEST_FASTSPRING_PRIVATE_KEY
    webhook_secret_env: KEYSMITH_TEST_FASTSPRING_WEBHOOK_SECRET
    products:
      "demo-app": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
  - name: stripe
    kind: stripe
    user: stripe
    password_hash: %[1]q
    webhook_secret_env: KEYSMITH_TEST_STRIPE_WEBHOOK_SECRET
    api_key_env: KEYSMITH_TEST_STRIPE_API_KEY
    products:
      "prod_mapped": "is_productid=7&is_majorversion=3&is_minorversion=1"
  - name: paddle
    kind: paddle
    user: paddle
    password_hash: %[1]q
    webhook_secret_env: KEYSMITH_TEST_PADDLE_WEBHOOK_SECRET
    api_key_env: KEYSMITH_TEST_PADDLE_API_KEY
    products:
      "pro_01hdemoapp0000000000000000": "is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
      "pro_01hsingletool0000000000000": "is_productid=7&is_majorversion=3&is_minorversion=1"
  - name: 2checkout
    kind: 2checkout
    user: 2checkout
    password_hash: %[1]q
    webhook_secret_env: KEYSMITH_TEST_2CHECKOUT_SECRET_KEY
    products:
      "8019770900775": "&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:3"
      "pid_4711": "is_productid=7&is_majorversion=3&is_minorversion=1"
products:
  - id: 1
    name: Demo App
    major: 1
    minor: 0
    features: {0: [Pro, Export], 1: [Cloud sync]}
  - id: 1
    name: Demo App
    major: 2
    minor: 0
  - id: 7
    name: Single Tool
    major: 3
    minor: 1
    on_refund: keep
  - id: 9
    name: Short Keys App
    major: 1
    minor: 0
    key_format: short
admin_tokens:
  - {name: "Rita Refunds", sha256: "b98c9b93bcac5ddbf030a130b46430d0cac4e591c55b0c65072eebb9c4739985"}
mail:
  from: "Demo Vendor <keys@vendor.example>"
  template_names: {"1. New Order": default}
`

var passwordHash = sync.OnceValues(func() ([]byte, error) {
	// The cheapest cost: bcrypt at the default cost takes about a second
	// under the race detector, and the cost is not what tests check.
	return bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
})

// FastSpringPrivateKey and FastSpringWebhookSecret sign the calls of the
// tests' FastSpring provider (the fulfillment's private key, the webhook's
// HMAC secret); Config puts them in the environment variables its
// configuration names.
const (
	FastSpringPrivateKey    = "fs-private-key-3b9e-never-log-me"
	FastSpringWebhookSecret = "fs-webhook-secret-51c0-never-log-me"
)

// StripeWebhookSecret signs the events of the tests' Stripe provider;
// StripeAPIKey is the secret key it reads orders with, which the tests'
// stand-in of Stripe's API (stripetest) accepts. The provider's api_url is
// the stand-in's, set by the test that starts it.
const (
	StripeWebhookSecret = "whsec_test-8d2f-never-log-me"
	StripeAPIKey        = "sk_test_keysmith-61b4-never-log-me"
)

// PaddleWebhookSecret is the secret key of the tests' Paddle notification
// destination (its Paddle-Signature); PaddleAPIKey is the sandbox API key
// the provider reads what a notification names with, which the tests'
// stand-in of Paddle's API (paddletest) accepts. The provider's api_url is
// the stand-in's, set by the test that starts it (without it, Paddle's
// sandbox, which no test calls).
const (
	PaddleWebhookSecret = "pdl_ntfset_01htest0000000000000000000_never-log-me"
	PaddleAPIKey        = "pdl_sdbx_apikey_01htest0000000000000000000_never-log-me"
)

// TwoCheckoutSecretKey is the IPN secret key of the tests' 2Checkout
// provider (its HASH and read receipt).
const TwoCheckoutSecretKey = "2co-ipn-secret-9e4d-never-log-me"

// Config is the configuration of the API and end-to-end tests.
func Config() (*config.Config, error) {
	hash, err := passwordHash()
	if err != nil {
		return nil, err
	}
	for name, value := range map[string]string{
		"KEYSMITH_TEST_FASTSPRING_PRIVATE_KEY":    FastSpringPrivateKey,
		"KEYSMITH_TEST_FASTSPRING_WEBHOOK_SECRET": FastSpringWebhookSecret,
		"KEYSMITH_TEST_STRIPE_WEBHOOK_SECRET":     StripeWebhookSecret,
		"KEYSMITH_TEST_STRIPE_API_KEY":            StripeAPIKey,
		"KEYSMITH_TEST_PADDLE_WEBHOOK_SECRET":     PaddleWebhookSecret,
		"KEYSMITH_TEST_PADDLE_API_KEY":            PaddleAPIKey,
		"KEYSMITH_TEST_2CHECKOUT_SECRET_KEY":      TwoCheckoutSecretKey,
	} {
		if err := os.Setenv(name, value); err != nil {
			return nil, err
		}
	}
	return config.Parse(fmt.Appendf(nil, configYAML, hash))
}

// AdminToken is the admin API token of the tests (named "Rita Refunds").
const AdminToken = "admin-token-for-tests"

// CodecKeys is the payload codec key of the tests and of the histories they
// record for the replay test: a test key, public by design.
var CodecKeys = map[uint32][]byte{1: []byte("keysmith-test-codec-key-32-bytes")}

// ConfigWith is Config edited by edit and read again, as a vendor's file
// with those changes would be.
func ConfigWith(edit func(*config.Config)) (*config.Config, error) {
	cfg, err := Config()
	if err != nil || edit == nil {
		return cfg, err
	}
	edit(cfg)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return config.Parse(b)
}
