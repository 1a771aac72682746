// Command keysmith-load measures how fast keysmith answers the storefront:
// to-key latency percentiles and orders per second at given concurrencies,
// beside the bare Temporal round trip (an empty workflow answering one
// update through Update-With-Start) on the same dev server.
//
// It brings up its own stack: a tuned Temporal dev server as `make run`
// starts it (file-backed SQLite in WAL mode), a fresh Postgres database,
// the worker and the API on a loopback port; mail goes to an outbox folder.
//
//	go run ./cmd/keysmith-load -n 300 -c 1,8
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/internal/devserver"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/telemetry"
	"github.com/keysmith/keysmith/workflows"
)

func main() {
	n := flag.Int("n", 300, "orders per run")
	conc := flag.String("c", "1,8", "concurrencies, comma-separated")
	inMemory := flag.Bool("in-memory", false, "run Temporal in memory instead of file-backed as make run does")
	noCodec := flag.Bool("no-codec", false, "leave payloads in clear, to measure what the codec costs")
	apiOnly := flag.Bool("api", false, "measure /v1/activate and /v1/validate (beside the repeat-order floor) instead of orders")
	flag.Parse()
	var cs []int
	for _, s := range strings.Split(*conc, ",") {
		c, err := strconv.Atoi(s)
		if err != nil || c < 1 {
			fmt.Fprintln(os.Stderr, "bad -c:", s)
			os.Exit(2)
		}
		cs = append(cs, c)
	}
	if err := run(context.Background(), *n, cs, *inMemory, !*noCodec, *apiOnly, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keysmith-load:", err)
		os.Exit(1)
	}
}

const password = "load-test-password"

// serverURL is the Postgres server the run creates its scratch database
// on: $KEYSMITH_LOAD_DATABASE_URL or the local server.
var serverURL = cmp.Or(os.Getenv("KEYSMITH_LOAD_DATABASE_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")

func run(ctx context.Context, n int, concurrencies []int, inMemory, encrypt, apiOnly bool, out io.Writer) error {
	tmp, err := os.MkdirTemp("", "keysmith-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	opts := devserver.Options{}
	if !inMemory {
		opts.DBFile = filepath.Join(tmp, "temporal.db")
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer srv.Stop() //nolint:errcheck // end of run
	u, err := url.Parse(serverURL)
	if err != nil {
		return err
	}
	u.Path = "/keysmith_load_" + strings.ToLower(rand.Text()[:8])
	dbURL := u.String()
	if err := store.CreateDatabase(ctx, dbURL); err != nil {
		return err
	}
	defer store.DropDatabase(context.WithoutCancel(ctx), dbURL) //nolint:errcheck // end of run
	db, err := store.Open(dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := store.Migrate(ctx, db); err != nil {
		return err
	}

	a, err := newApp(srv.FrontendHostPort(), db, tmp, encrypt)
	if err != nil {
		return err
	}
	defer a.Temporal.Close()
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go a.RunWorker(wctx) //nolint:errcheck // stopped with the run

	bare := sdkworker.New(a.Temporal, "bare", sdkworker.Options{})
	bare.RegisterWorkflow(Bare)
	if err := bare.Start(); err != nil {
		return err
	}
	defer bare.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	api := &http.Server{Handler: a.Handler()}
	go api.Serve(ln) //nolint:errcheck // closed with the run
	defer api.Close()
	base := "http://" + ln.Addr().String()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Warm up connections, caches and the worker.
	for i := range 10 {
		if err := keysmithCall(ctx, httpc, base, fmt.Sprintf("warm%d", i)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if err := bareCall(ctx, a.Temporal, fmt.Sprintf("warm%d", i)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	store := a.Store
	if apiOnly {
		return benchAPI(ctx, out, httpc, base, store, n, concurrencies)
	}
	fmt.Fprintf(out, "keysmith-load: n=%d per run, Temporal %s, payloads %s, %d cores\n\n", n,
		map[bool]string{true: "in memory", false: "file-backed (WAL)"}[inMemory],
		map[bool]string{true: "encrypted (AES-256-GCM codec)", false: "in clear"}[encrypt], runtime.NumCPU())
	fmt.Fprintf(out, "| run | c | orders/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|---|\n")
	for round, c := range concurrencies {
		prefix := fmt.Sprintf("r%d-", round)
		k := measure(n, c, func(i int) error { return keysmithCall(ctx, httpc, base, fmt.Sprintf("%sk%d", prefix, i)) })
		fmt.Fprintln(out, k.row("keysmith to key", c))
		b := measure(n, c, func(i int) error { return bareCall(ctx, a.Temporal, fmt.Sprintf("%sb%d", prefix, i)) })
		fmt.Fprintln(out, b.row("bare Temporal update", c))
		drain := time.Now()
		if err := waitSaved(ctx, store, prefix, n); err != nil {
			return err
		}
		fmt.Fprintf(out, "| ratio keysmith/bare | %d | %.2f | %.2f | %.2f | %.2f | | |\n", c,
			k.rate()/b.rate(), ratio(k.pct(50), b.pct(50)), ratio(k.pct(90), b.pct(90)), ratio(k.pct(99), b.pct(99)))
		rep := measure(n, c, func(i int) error { return keysmithCall(ctx, httpc, base, fmt.Sprintf("%sk%d", prefix, i)) })
		fmt.Fprintln(out, rep.row("keysmith repeat (from Postgres)", c))
		fmt.Fprintf(out, "| (orders saved %.1fs after the last key) | %d | | | | | | |\n", time.Since(drain).Seconds(), c)
	}
	return nil
}

// benchAPI measures the applications' calls: activation of distinct
// computers on one key with a million seats, validation of activated ones,
// and, as the floor, the storefront's repeat of an order (Postgres only).
func benchAPI(ctx context.Context, out io.Writer, c *http.Client, base string, st *store.Store, n int, concurrencies []int) error {
	const purchase = "api-seats"
	key, err := keysmithKey(ctx, c, base, purchase, "&is_quantity=1000000")
	if err != nil {
		return err
	}
	if err := waitSaved(ctx, st, purchase, 1); err != nil {
		return err
	}
	fmt.Fprintf(out, "keysmith-load -api: n=%d per run, one key with 1,000,000 seats, %d cores\n\n", n, runtime.NumCPU())
	fmt.Fprintf(out, "| run | c | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|---|\n")
	for _, conc := range concurrencies {
		act := measure(n, conc, func(i int) error {
			return jsonCall(ctx, c, base+"/v1/activate", fmt.Sprintf(`{"key": %q, "computer_id": "c%d-pc%d"}`, key, conc, i))
		})
		fmt.Fprintln(out, act.row("activate (new computer)", conc))
		val := measure(n, conc, func(i int) error {
			return jsonCall(ctx, c, base+"/v1/validate", fmt.Sprintf(`{"key": %q, "computer_id": "c%d-pc%d", "nonce": "nonce-%016d"}`, key, conc, i, i))
		})
		fmt.Fprintln(out, val.row("validate (signed answer)", conc))
		rep := measure(n, conc, func(int) error { return keysmithCall(ctx, c, base, purchase) })
		fmt.Fprintln(out, rep.row("floor: repeat order (Postgres)", conc))
	}
	return nil
}

func jsonCall(ctx context.Context, c *http.Client, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return nil
}

// newApp configures keysmith for the run: one provider and product, a new
// signing key, mail to an outbox folder.
func newApp(hostPort string, db *bun.DB, dir string, encrypt bool) (*app.App, error) {
	hash, err := config.HashPassword(password)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(fmt.Appendf(nil, `
providers:
  - {name: shareit, user: shareit, password_hash: %q}
products:
  - {id: 1, name: Load App, major: 1, minor: 0}
mail: {from: "Load <load@vendor.example>"}
`, hash))
	if err != nil {
		return nil, err
	}
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, err
	}
	k, err := license.GenerateSigningKey(1)
	if err != nil {
		return nil, err
	}
	if err := license.WriteKeyPair(keys, k); err != nil {
		return nil, err
	}
	opts := client.Options{HostPort: hostPort, Logger: quiet{}}
	if encrypt {
		key := make([]byte, codec.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		cdc, err := codec.New(map[uint32][]byte{1: key})
		if err != nil {
			return nil, err
		}
		cdc.Apply(&opts)
	}
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil {
		return nil, err
	}
	if err := tel.Temporal(&opts); err != nil {
		return nil, err
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, err
	}
	a, err := app.New(app.Env{
		KeysDir:    keys,
		KeyTimeout: 30 * time.Second,
		Outbox:     filepath.Join(dir, "outbox"),
		TaskQueue:  workflows.TaskQueue,
		// The benchmark is the only caller: no limits to measure.
		RatePerAddress: 1 << 30,
		RatePerKey:     1 << 30,
	}, cfg, db, c, client.DefaultNamespace, tel, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return a, nil
}

const query = "/qlmservice.asmx/GetActivationKey?is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:1&is_user=shareit&is_pwd=" + password

func keysmithCall(ctx context.Context, c *http.Client, base, purchase string) error {
	_, err := keysmithKey(ctx, c, base, purchase, "")
	return err
}

// keysmithKey calls as ShareIt does for one order line and returns the key;
// extraQuery adds QLM arguments to the URL.
func keysmithKey(ctx context.Context, c *http.Client, base, purchase, extraQuery string) (string, error) {
	body := "PURCHASE_ID=" + purchase + "&RUNNING_NO=1&QUANTITY=1&ENCODING=UTF8&FIRSTNAME=Load&LASTNAME=Tester&EMAIL=" + purchase + "%40example.com"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+query+extraQuery, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// Bare is the baseline: a workflow whose update answers at once.
func Bare(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandler(ctx, "ping", func(workflow.Context) (string, error) { return "pong", nil }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

func bareCall(ctx context.Context, c client.Client, id string) error {
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       "Bare:" + id,
		TaskQueue:                "bare",
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, Bare)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: "Bare:" + id, UpdateName: "ping", WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return err
	}
	var s string
	return h.Get(ctx, &s)
}

// waitSaved waits until the run's orders are all in Postgres.
func waitSaved(ctx context.Context, s *store.Store, prefix string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		count, err := s.CountOrderLines(ctx, prefix)
		if err != nil {
			return err
		}
		if count >= n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("orders of %s not all saved after 5 minutes", prefix)
}

type result struct {
	lat     []time.Duration
	elapsed time.Duration
	errors  int64
	first   error
}

// measure runs n calls with c at a time.
func measure(n, c int, call func(i int) error) result {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		r      result
		wg     sync.WaitGroup
		errors atomic.Int64
	)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				err := call(i)
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					errors.Add(1)
					if r.first == nil {
						r.first = err
					}
				} else {
					r.lat = append(r.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.errors = errors.Load()
	slices.Sort(r.lat)
	return r
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r result) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := (len(r.lat)*p + 99) / 100
	return r.lat[max(i-1, 0)]
}

func (r result) row(name string, c int) string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	errs := strconv.FormatInt(r.errors, 10)
	if r.first != nil {
		errs += " (" + r.first.Error() + ")"
	}
	return fmt.Sprintf("| %s | %d | %.1f | %s | %s | %s | %s | %s |", name, c, r.rate(),
		ms(r.pct(50)), ms(r.pct(90)), ms(r.pct(99)), ms(r.pct(100)), errs)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
