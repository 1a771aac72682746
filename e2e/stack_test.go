// Package e2e tests keysmith end to end over real HTTP, against real
// Postgres, a real Temporal dev server and the real Resend and Stripe
// clients talking to local Resend- and Stripe-speaking servers.
package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/internal/devserver"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/mail/resendtest"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/storefront/stripe/stripetest"
	"github.com/keysmith/keysmith/telemetry"
	"github.com/keysmith/keysmith/workflows"
)

const password = testenv.Password

var (
	temporalServer *testsuite.DevServer
	// temporalDB is the dev server's SQLite file, read by the test that
	// looks for buyers' data in Temporal's database.
	temporalDB string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keysmith-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	temporalDB = filepath.Join(dir, "temporal.db")
	srv, err := devserver.Start(ctx, devserver.Options{DBFile: temporalDB})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start temporal dev server:", err)
		return 1
	}
	defer srv.Stop() //nolint:errcheck // end of tests
	temporalServer = srv
	return m.Run()
}

// stack is one keysmith: its own database, task queue, Resend server,
// Stripe API server, signing key, API server and worker, beside the
// shared Temporal server.
type stack struct {
	t      *testing.T
	app    *app.App
	db     *testenv.Database
	resend *resendtest.Server
	stripe *stripetest.Server // the stripe provider's API
	api    *httptest.Server
	ring   license.Keyring
	signer license.SigningKey // the worker's, for keys a test makes itself
	prefix string             // makes purchase IDs unique across tests on one server

	mu         sync.Mutex
	stopWorker func()
}

func newStack(t *testing.T) *stack {
	t.Helper()
	return newStackTraced(t, nil)
}

// newStackTraced is newStack whose traces go to spans (nil: none).
func newStackTraced(t *testing.T, spans sdktrace.SpanExporter) *stack {
	t.Helper()
	return newStackOn(t, temporalServer.FrontendHostPort(), spans)
}

// newStackOn is a stack on the Temporal server at hostPort.
func newStackOn(t *testing.T, hostPort string, spans sdktrace.SpanExporter) *stack {
	t.Helper()
	ctx := context.Background()
	db, err := testenv.NewDatabase(ctx, "keysmith_e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	keysDir := t.TempDir()
	k, err := license.GenerateSigningKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := license.WriteKeyPair(keysDir, k); err != nil {
		t.Fatal(err)
	}
	cfg, err := testenv.Config()
	if err != nil {
		t.Fatal(err)
	}
	st := stripetest.NewServer(t, testenv.StripeAPIKey)
	if p, ok := cfg.Provider("stripe"); !ok || p.SetAPIURL(st.URL()) != nil {
		t.Fatal("the test configuration's stripe provider cannot read from the stand-in")
	}
	cdc, err := codec.New(testenv.CodecKeys)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: hostPort, Logger: quietLogger{}}
	cdc.Apply(&opts)
	tel, err := telemetry.New(context.Background(), telemetry.Options{SpanExporter: spans})
	if err != nil {
		t.Fatal(err)
	}
	if err := tel.Temporal(&opts); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rs := resendtest.NewServer(t)
	id := strings.ToLower(rand.Text()[:8])
	a, err := app.New(app.Env{
		KeysDir:       keysDir,
		KeyTimeout:    10 * time.Second,
		ResendAPIKey:  rs.APIKey,
		ResendBaseURL: rs.URL(),
		TaskQueue:     "e2e-" + id,
		// The seat race sends 100 activations of one key at once; the
		// limits have a test of their own.
		RatePerAddress: 10_000,
		RatePerKey:     10_000,
	}, cfg, db.DB, c, client.DefaultNamespace, tel, cdc)
	if err != nil {
		t.Fatal(err)
	}
	a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &stack{
		t:      t,
		db:     db,
		resend: rs,
		stripe: st,
		ring:   license.Keyring{1: k.PublicKey()},
		signer: k,
		prefix: id,
		app:    a,
	}
	if testing.Verbose() {
		s.app.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s.restartAPI()
	t.Cleanup(func() { s.api.Close() })
	s.startWorker()
	t.Cleanup(s.stopWorkerNow)
	return s
}

// restartAPI serves the API anew, with the app's current settings.
func (s *stack) restartAPI() {
	if s.api != nil {
		s.api.Close()
	}
	s.api = httptest.NewServer(s.app.Telemetry.HTTP(s.app.Handler(), "keysmith api"))
}

// recordHistory writes the workflow's history as JSON into
// $KEYSMITH_RECORD_HISTORY_DIR (make history), for the replay test.
func (s *stack) recordHistory(id, name string) {
	s.t.Helper()
	dir := os.Getenv("KEYSMITH_RECORD_HISTORY_DIR")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), s.historyJSON(id), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// historyJSON is the workflow's history as `temporal workflow show -o json`
// writes it.
func (s *stack) historyJSON(id string) []byte {
	s.t.Helper()
	var events []*history.HistoryEvent
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatal(err)
		}
		events = append(events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&history.History{Events: events})
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

func (s *stack) startWorker() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.app.RunWorker(ctx) }()
	s.mu.Lock()
	s.stopWorker = func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("worker: %v", err)
		}
	}
	s.mu.Unlock()
}

func (s *stack) stopWorkerNow() {
	s.mu.Lock()
	stop := s.stopWorker
	s.stopWorker = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// purchase returns a purchase ID unique to this test.
func (s *stack) purchase(n int) string { return fmt.Sprintf("%s%d", s.prefix, n) }

// qlmQuery is the Key Generator URL's query as a vendor writes it for QLM:
// the ';' in is_features unescaped.
const qlmQuery = "is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3;1:1&is_user=shareit&is_pwd=" + password

// withExpiry is QLM's Key Generator method for keys that expire.
const withExpiry = "/qlmservice.asmx/GetActivationKeyWithExpiryDate"

// subscriptionQuery is the URL query of a subscription of product (version
// 1.0) for days, without features.
func subscriptionQuery(product, days int) string {
	return fmt.Sprintf("is_vendor=ShareIt&is_productid=%d&is_majorversion=1&is_minorversion=0&is_user=shareit&is_pwd=%s"+
		"&is_licensemodel=subscription&is_expduration=%d", product, password, days)
}

// post calls the API like ShareIt: query in the URL, order form in the body.
func (s *stack) post(path, query, body string) (int, string) {
	s.t.Helper()
	return s.do(http.MethodPost, path+"?"+query, body, nil)
}

func (s *stack) do(method, target, body string, edit func(*http.Request)) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.api.URL+target, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimRight(string(b), "\n")
}

// orderForm is a UTF-8 ShareIt order line; extra fields are appended raw.
func orderForm(purchase string, running int, extra ...string) string {
	f := []string{
		"PURCHASE_ID=" + purchase, fmt.Sprintf("RUNNING_NO=%d", running), "PURCHASE_DATE=26/11/2026",
		"PRODUCT_ID=300000001", "QUANTITY=1", "ENCODING=UTF8",
		"FIRSTNAME=J%C3%BCrgen", "LASTNAME=M%C3%BCller", "COMPANY=M%C3%BCller+GmbH",
		"EMAIL=juergen%40example.com", "PHONE=%2B49+30+1234", "STREET=Hauptstra%C3%9Fe+1", "CITY=K%C3%B6ln",
		"ZIP=50667", "COUNTRY=Germany", "ISO_CODE=DE", "LANGUAGE_ID=2",
	}
	return strings.Join(append(f, extra...), "&")
}

// waitWorkflow waits for the order line's workflow to close.
func (s *stack) waitWorkflow(id string) workflows.Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var r workflows.Result
	if err := s.app.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &r); err != nil {
		s.t.Fatalf("workflow %s: %v", id, err)
	}
	return r
}

// countWorkflows counts the workflows a visibility query finds, once at
// least want are visible (visibility lags a little) and a moment more has
// passed for any extra one to show.
func (s *stack) countWorkflows(query string, want int64) int64 {
	s.t.Helper()
	ctx := context.Background()
	count := func() int64 {
		resp, err := s.app.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			s.t.Fatal(err)
		}
		return resp.GetCount()
	}
	eventually(s.t, 10*time.Second, "visibility of "+query, func() bool { return count() >= want })
	time.Sleep(300 * time.Millisecond)
	return count()
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// countOrderLines counts the stored order lines whose purchase ID starts
// with prefix.
func (s *stack) countOrderLines(ctx context.Context, prefix string) (int, error) {
	return s.app.DB.NewSelect().Model((*store.OrderRow)(nil)).
		Where("starts_with(purchase_id, ?)", prefix).Count(ctx)
}
