// Package app wires keysmith together from its environment: the API server
// and the worker, for the keysmith command and the end-to-end tests.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/uptrace/bun"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/mail"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/telemetry"
	"github.com/keysmith/keysmith/worker"
)

// Env is keysmith's configuration from the environment. Temporal's own
// variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS_*) are read by Temporal's envconfig.
type Env struct {
	DatabaseURL string `env:"KEYSMITH_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/keysmith?sslmode=disable"`
	ConfigFile  string `env:"KEYSMITH_CONFIG" envDefault:"keysmith.yaml"`
	KeysDir     string `env:"KEYSMITH_KEYS_DIR" envDefault:".data/keys"`
	Listen      string `env:"KEYSMITH_LISTEN" envDefault:":8080"`
	// KeyTimeout bounds how long a storefront call waits for its key.
	KeyTimeout time.Duration `env:"KEYSMITH_KEY_TIMEOUT" envDefault:"10s"`
	// DeliveryReportWait is how long a line's workflow waits for the
	// API's report that the storefront received the keys before it holds
	// the line (the API reports within milliseconds of answering).
	DeliveryReportWait time.Duration `env:"KEYSMITH_DELIVERY_REPORT_WAIT" envDefault:"1m"`
	// ResendAPIKey empty: mail goes to the Outbox folder instead.
	ResendAPIKey  string `env:"RESEND_API_KEY"`
	ResendBaseURL string `env:"KEYSMITH_RESEND_BASE_URL"`
	Outbox        string `env:"KEYSMITH_OUTBOX" envDefault:".data/outbox"`
	LogLevel      string `env:"KEYSMITH_LOG_LEVEL" envDefault:"info"`
	// LogFormat is text or json.
	LogFormat string `env:"KEYSMITH_LOG_FORMAT" envDefault:"text"`
	// MetricsListen is the worker's address for /metrics, /healthz and
	// /readyz ("" for none; the API serves them on its own port).
	MetricsListen string `env:"KEYSMITH_METRICS_LISTEN" envDefault:":9090"`
	// WorkerStopTimeout is how long a stopping worker lets running
	// activities finish.
	WorkerStopTimeout time.Duration `env:"KEYSMITH_WORKER_STOP_TIMEOUT" envDefault:"30s"`
	TaskQueue         string        `env:"KEYSMITH_TASK_QUEUE" envDefault:"keysmith"`

	// The payload codec's keys: KEYSMITH_CODEC_KEYS ("1:<base64>,...")
	// or the codec-<id>.key files in KEYSMITH_CODEC_KEYS_DIR.
	CodecKeys    string `env:"KEYSMITH_CODEC_KEYS"`
	CodecKeysDir string `env:"KEYSMITH_CODEC_KEYS_DIR" envDefault:".data/codec"`
	// The codec server (keysmith codec) for the Temporal UI and CLI.
	CodecListen  string   `env:"KEYSMITH_CODEC_LISTEN" envDefault:":8081"`
	CodecToken   string   `env:"KEYSMITH_CODEC_TOKEN"`
	CodecOrigins []string `env:"KEYSMITH_CODEC_ORIGINS" envSeparator:","`
	// Requests a minute on the public /v1 routes, per caller address and
	// per key.
	RatePerAddress int `env:"KEYSMITH_RATE_PER_ADDRESS" envDefault:"300"`
	RatePerKey     int `env:"KEYSMITH_RATE_PER_KEY" envDefault:"60"`
	// IPv6Prefix is how many leading bits of an IPv6 caller's address
	// count as one caller for every per-address limit (32 to 128): a host
	// is given a /64 and may use any address in it.
	IPv6Prefix int `env:"KEYSMITH_IPV6_PREFIX" envDefault:"64"`
	// ProviderFailuresPerMinute is each provider's wrong credentials a
	// minute from all callers together, for a guesser with many networks.
	ProviderFailuresPerMinute int `env:"KEYSMITH_PROVIDER_FAILURES_PER_MINUTE" envDefault:"100"`
	// Seats a key may release (a computer moved) per period.
	ReleaseLimit  int           `env:"KEYSMITH_RELEASE_LIMIT" envDefault:"3"`
	ReleasePeriod time.Duration `env:"KEYSMITH_RELEASE_PERIOD" envDefault:"720h"`
	// UIURL is the Temporal UI, for links to workflows.
	UIURL string `env:"KEYSMITH_UI_URL" envDefault:"http://localhost:8233"`
	// CodecTrustOrigins lets the UI at CodecOrigins in without the token.
	CodecTrustOrigins bool `env:"KEYSMITH_CODEC_TRUST_ORIGINS"`
}

// Codec is the payload codec from the keys the environment names.
func (e Env) Codec() (*codec.Codec, error) {
	var keys map[uint32][]byte
	var err error
	if e.CodecKeys != "" {
		keys, err = codec.ParseKeys(e.CodecKeys)
	} else {
		keys, err = codec.LoadDir(e.CodecKeysDir)
	}
	if err != nil {
		return nil, err
	}
	return codec.New(keys)
}

// LoadEnv reads Env.
func LoadEnv() (Env, error) {
	e, err := env.ParseAs[Env]()
	if err != nil {
		return Env{}, fmt.Errorf("environment: %w", err)
	}
	// Out of range, these would not fail but count callers wrongly (a
	// prefix under 32 bits is a whole provider's network) or not at all.
	if e.IPv6Prefix < 32 || e.IPv6Prefix > 128 {
		return Env{}, fmt.Errorf("environment: KEYSMITH_IPV6_PREFIX=%d: a prefix length from 32 to 128 (64 counts each IPv6 host's /64 as one caller)", e.IPv6Prefix)
	}
	if e.ProviderFailuresPerMinute < 1 {
		return Env{}, fmt.Errorf("environment: KEYSMITH_PROVIDER_FAILURES_PER_MINUTE=%d: must be at least 1", e.ProviderFailuresPerMinute)
	}
	return e, nil
}

// Logger is the process's structured logger.
func (e Env) Logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(e.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(e.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// App is keysmith with its dependencies open.
type App struct {
	Env       Env
	Log       *slog.Logger
	Config    *config.Config
	DB        *bun.DB
	Store     *store.Store
	Temporal  client.Client
	Namespace string
	Templates *mail.Templates
	Telemetry *telemetry.Telemetry
	// Codec decodes payloads for the audit.
	Codec *codec.Codec

	signer  *license.SigningKey // nil when this process has no signing key
	keyring license.Keyring
	held    sync.Once // the held-lines gauge, registered with the first API
}

// CodecServer serves the payload codec to the Temporal UI and CLI until
// ctx ends.
func CodecServer(ctx context.Context, e Env, c *codec.Codec, log *slog.Logger) error {
	srv := &http.Server{
		Addr: e.CodecListen,
		Handler: c.Handler(codec.ServerOptions{
			Token: e.CodecToken, Origins: e.CodecOrigins, TrustOrigins: e.CodecTrustOrigins,
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Info("Codec server listening", "addr", e.CodecListen, "key_id", c.KeyID())
	return serveUntil(ctx, srv)
}

// Open reads the configuration and connects to Postgres and Temporal:
// temporalAddress, or where Temporal's environment variables say when it
// is empty.
func Open(ctx context.Context, e Env, temporalAddress string) (*App, error) {
	cfg, err := config.Load(e.ConfigFile)
	if err != nil {
		return nil, err
	}
	cdc, err := e.Codec()
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.New(ctx, telemetry.Options{})
	if err != nil {
		return nil, err
	}
	db, err := store.Open(e.DatabaseURL)
	if err != nil {
		return nil, err
	}
	c, namespace, err := DialTemporal(ctx, e.Logger(), temporalAddress, cdc, tel)
	if err != nil {
		db.Close()
		return nil, err
	}
	a, err := New(e, cfg, db, c, namespace, tel, cdc)
	if err != nil {
		c.Close()
		db.Close()
		return nil, err
	}
	return a, nil
}

// New assembles keysmith from a configuration and open connections, and
// loads the email templates the configuration names.
func New(e Env, cfg *config.Config, db *bun.DB, c client.Client, namespace string, tel *telemetry.Telemetry, cdc *codec.Codec) (*App, error) {
	tmpl, err := mail.LoadTemplates(cfg.Mail.TemplatesDir)
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Products {
		if !tmpl.Has(p.EmailTemplate) {
			return nil, fmt.Errorf("product %s: no email template %q", p.Name, p.EmailTemplate)
		}
	}
	// The API signs computer licenses when it has a signing key; the
	// worker always needs one (Activities). No key directory is no key; a
	// directory that does not read (a broken key file, two keys under one
	// id) must not start either.
	signer, ring, err := license.LoadDirRetiring(e.KeysDir, cfg.Retired)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("signing keys in %s: %w", e.KeysDir, err)
	}
	return &App{
		signer:    signer,
		keyring:   ring,
		Env:       e,
		Log:       e.Logger(),
		Config:    cfg,
		DB:        db,
		Store:     store.New(db),
		Temporal:  c,
		Namespace: namespace,
		Templates: tmpl,
		Telemetry: tel,
		Codec:     cdc,
	}, nil
}

// DialTemporal connects with the options from Temporal's environment
// variables (default: localhost:7233, namespace "default"); a non-empty
// address replaces TEMPORAL_ADDRESS. Every payload goes through the codec.
func DialTemporal(ctx context.Context, logger *slog.Logger, address string, cdc *codec.Codec, tel *telemetry.Telemetry) (client.Client, string, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, "", fmt.Errorf("temporal client options: %w", err)
	}
	if address != "" {
		opts.HostPort = address
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = log.NewStructuredLogger(logger)
	cdc.Apply(&opts)
	if err := tel.Temporal(&opts); err != nil {
		return nil, "", err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, "", fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	return c, opts.Namespace, nil
}

// Close releases the connections.
func (a *App) Close() {
	if a.Temporal != nil {
		a.Temporal.Close()
	}
	if a.DB != nil {
		a.DB.Close()
	}
	if a.Telemetry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Telemetry.Shutdown(ctx) // flushes the last spans
	}
}

// Handler is the HTTP API.
func (a *App) Handler() http.Handler {
	a.held.Do(func() {
		a.Telemetry.HeldLines(func() (int, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return a.Store.CountHeld(ctx)
		})
	})
	return api.NewHandler(api.Deps{
		Config:     a.Config,
		Store:      a.Store,
		Temporal:   a.Temporal,
		Templates:  a.Templates,
		TaskQueue:  a.Env.TaskQueue,
		KeyTimeout: a.Env.KeyTimeout,
		Log:        a.Log,

		Metrics:        a.Telemetry.Metrics,
		MetricsHandler: a.Telemetry.MetricsHandler(),
		Signer:         a.signer,
		Keyring:        a.keyring,
		RatePerAddress: a.Env.RatePerAddress,
		RatePerKey:     a.Env.RatePerKey,
		ReleaseLimit:   a.Env.ReleaseLimit,
		ReleasePeriod:  a.Env.ReleasePeriod,
		ReportWithin:   a.Env.DeliveryReportWait,

		IPv6Prefix:                a.Env.IPv6Prefix,
		ProviderFailuresPerMinute: a.Env.ProviderFailuresPerMinute,
	})
}

// Server is the API's HTTP server. Its timeouts cut off a client that
// trickles its request (headers within 10 s, the whole request within
// 30 s), leave room for the storefront's wait for its key, and close idle
// connections after two minutes; headers are limited to 64 KiB and bodies
// (by the handlers) to 1 MiB.
func (a *App) Server() *http.Server {
	return &http.Server{
		Addr:              a.Env.Listen,
		Handler:           a.Telemetry.HTTP(a.Handler(), "keysmith api"),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      a.Env.KeyTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve runs the HTTP API until ctx ends, then drains it.
func (a *App) Serve(ctx context.Context) error {
	a.Log.Info("API listening", "addr", a.Env.Listen)
	return serveUntil(ctx, a.Server())
}

// serveUntil runs srv until ctx ends, then drains it.
func serveUntil(ctx context.Context, srv *http.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Activities builds the activities with the signing key and the mailer.
func (a *App) Activities() (*activities.Activities, error) {
	signer, _, err := license.LoadDirRetiring(a.Env.KeysDir, a.Config.Retired)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if signer == nil {
		return nil, fmt.Errorf("no signing key in %s that is not retired: create one with `keysmith keygen -dir %s -id N`", a.Env.KeysDir, a.Env.KeysDir)
	}
	var sender mail.Sender = mail.Outbox{Dir: a.Env.Outbox}
	if a.Env.ResendAPIKey != "" {
		if sender, err = mail.NewResend(a.Env.ResendAPIKey, a.Env.ResendBaseURL, nil); err != nil {
			return nil, err
		}
	} else {
		a.Log.Warn("RESEND_API_KEY is not set: emails go to the outbox folder", "dir", a.Env.Outbox)
	}
	return &activities.Activities{
		Signer:    signer,
		Store:     a.Store,
		Mailer:    sender,
		Templates: a.Templates,
		From:      a.Config.Mail.From,
		ReplyTo:   a.Config.Mail.ReplyTo,
		Metrics:   a.Telemetry.Metrics,
		Config:    a.Config,
	}, nil
}

// RunWorker runs the Temporal worker until ctx ends.
func (a *App) RunWorker(ctx context.Context) error {
	acts, err := a.Activities()
	if err != nil {
		return err
	}
	if err := worker.EnsureSearchAttributes(ctx, a.Temporal, a.Namespace); err != nil {
		// Temporal Cloud refuses this to workers: register it there once.
		a.Log.Warn("Search attributes", "error", err)
	}
	fatal := make(chan error, 1)
	w := worker.New(a.Temporal, a.Env.TaskQueue, acts, worker.Options{
		StopTimeout: a.Env.WorkerStopTimeout,
		OnFatal:     func(err error) { fatal <- err },
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop() // lets running activities finish, up to WorkerStopTimeout
	a.Log.Info("Worker started", "task_queue", a.Env.TaskQueue)

	ops := make(chan error, 1)
	if a.Env.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Telemetry.MetricsHandler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		mux.Handle("GET /readyz", api.Readyz(a.Store, a.Temporal, a.Log))
		srv := &http.Server{Addr: a.Env.MetricsListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { ops <- serveUntil(ctx, srv) }()
		a.Log.Info("Worker metrics listening", "addr", a.Env.MetricsListen)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-fatal:
		// The SDK gave up (say, the namespace is gone): exit, so that the
		// process manager restarts the worker or someone looks.
		return fmt.Errorf("worker: %w", err)
	case err := <-ops:
		return err
	}
}
