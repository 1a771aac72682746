// Command keysmith-load measures how fast keysmith answers the storefront:
// to-key latency percentiles and orders per second at given concurrencies
// and at a fixed arrival rate, for distinct orders, repeats and a mix,
// beside two floors measured the same way on the same shape: the bare
// Temporal round trip (an empty workflow answering one update through
// Update-With-Start) and a bare indexed Postgres read behind the same HTTP
// stack. It also reports how long orders take to complete (saved and
// emailed), the history events of one order, and, on the cluster, the
// API's and worker's peak memory.
//
// Two shapes, each brought up by the run itself on a fresh Postgres
// database: "dev" is a tuned Temporal dev server as `make run` starts it
// (file-backed SQLite in WAL mode) with the worker and the API in this
// process; "cluster" is internal/cluster (`make cluster`): the Temporal
// server on Postgres, two workers, two APIs. Mail goes to an outbox folder.
//
//	go run ./cmd/keysmith-load -shape dev,cluster -n 300 -c 1,8,32,64 -rate 25 \
//	    -json docs/performance/results.json -png docs/performance/latency.png
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
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

	"github.com/gorilla/mux"
	"github.com/uptrace/bun"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/internal/cluster"
	"github.com/keysmith/keysmith/internal/devserver"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/telemetry"
	"github.com/keysmith/keysmith/workflows"
)

func main() {
	n := flag.Int("n", 300, "orders per run")
	conc := flag.String("c", "1,8", "concurrencies, comma-separated")
	shapes := flag.String("shape", "dev", "shapes to measure, comma-separated: dev, cluster")
	rate := flag.Float64("rate", 0, "also measure distinct orders arriving at this fixed rate per second (0: not)")
	inMemory := flag.Bool("in-memory", false, "dev shape: run Temporal in memory instead of file-backed as make run does")
	noCodec := flag.Bool("no-codec", false, "dev shape: leave payloads in clear, to measure what the codec costs")
	apiOnly := flag.Bool("api", false, "measure /v1/activate and /v1/validate (beside the repeat-order floor) instead of orders")
	jsonOut := flag.String("json", "", "write the results to this file as JSON")
	pngOut := flag.String("png", "", "plot to-key latency against throughput into this PNG file")
	from := flag.String("from", "", "measure nothing: plot the results file given (with -png)")
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
	o := options{n: *n, concurrencies: cs, rate: *rate, inMemory: *inMemory, encrypt: !*noCodec}
	err := func() error {
		ctx := context.Background()
		if *apiOnly {
			return runAPI(ctx, o, os.Stdout)
		}
		if *from != "" {
			rows, err := readJSON(*from)
			if err != nil {
				return err
			}
			return plotLatency(*pngOut, rows)
		}
		var all []row
		for _, shape := range strings.Split(*shapes, ",") {
			rows, err := runOrders(ctx, shape, o, os.Stdout)
			if err != nil {
				return err
			}
			all = append(all, rows...)
		}
		if *jsonOut != "" {
			if err := writeJSON(*jsonOut, o, all); err != nil {
				return err
			}
		}
		if *pngOut != "" {
			return plotLatency(*pngOut, all)
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keysmith-load:", err)
		os.Exit(1)
	}
}

type options struct {
	n             int
	concurrencies []int
	rate          float64
	inMemory      bool
	encrypt       bool
}

const password = "load-test-password"

// serverURL is the Postgres server the run creates its scratch database
// on: $KEYSMITH_LOAD_DATABASE_URL or the local server.
var serverURL = cmp.Or(os.Getenv("KEYSMITH_LOAD_DATABASE_URL"), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")

// stack is keysmith on one shape, as the run sees it.
type stack struct {
	shape    string
	apis     []string      // keysmith's API base URLs, called in turn
	temporal client.Client // for the bare workflow, on the same server
	db       *bun.DB       // keysmith's database
	floor    string        // the bare Postgres read's base URL
	cluster  *cluster.Cluster
	closers  []func()
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func (s *stack) defer_(f func()) { s.closers = append(s.closers, f) }

// up brings up keysmith on the shape, with a fresh database, the bare
// workflow's worker and the floor's HTTP server.
func up(ctx context.Context, shape string, o options) (_ *stack, err error) {
	s := &stack{shape: shape}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	tmp, err := os.MkdirTemp("", "keysmith-load")
	if err != nil {
		return nil, err
	}
	s.defer_(func() { os.RemoveAll(tmp) })
	cfgFile, err := writeConfig(tmp)
	if err != nil {
		return nil, err
	}
	var dbURL, temporalAddress string
	switch shape {
	case "dev":
		opts := devserver.Options{}
		if !o.inMemory {
			opts.DBFile = filepath.Join(tmp, "temporal.db")
		}
		srv, err := devserver.Start(ctx, opts)
		if err != nil {
			return nil, err
		}
		s.defer_(func() { srv.Stop() }) //nolint:errcheck // end of run
		u, err := url.Parse(serverURL)
		if err != nil {
			return nil, err
		}
		u.Path = "/keysmith_load_" + strings.ToLower(rand.Text()[:8])
		dbURL, temporalAddress = u.String(), srv.FrontendHostPort()
		if err := store.CreateDatabase(ctx, dbURL); err != nil {
			return nil, err
		}
		s.defer_(func() { store.DropDatabase(context.WithoutCancel(ctx), dbURL) }) //nolint:errcheck // end of run
	case "cluster":
		co := cluster.Options{
			Dir: filepath.Join(tmp, "cluster"), Postgres: serverURL, Config: cfgFile,
			DBPrefix:     "keysmith_load_" + strings.ToLower(rand.Text()[:8]),
			TemporalPort: 27233, KeysmithPort: 28080,
			Env: []string{"KEYSMITH_LOG_LEVEL=warn", "KEYSMITH_RATE_PER_ADDRESS=1000000000", "KEYSMITH_RATE_PER_KEY=1000000000"},
		}
		c, err := cluster.Start(ctx, co)
		s.defer_(func() { cluster.Clean(context.WithoutCancel(ctx), co) }) //nolint:errcheck // end of run
		if err != nil {
			return nil, err
		}
		s.defer_(c.Stop)
		s.cluster, s.apis = c, c.APIURLs()
		dbURL, temporalAddress = c.DatabaseURL(), c.TemporalAddress()
	default:
		return nil, fmt.Errorf("unknown shape %q (dev, cluster)", shape)
	}
	db, err := store.Open(dbURL)
	if err != nil {
		return nil, err
	}
	s.db = db
	s.defer_(func() { db.Close() })
	if _, err := store.Migrate(ctx, db); err != nil {
		return nil, err
	}

	if shape == "dev" {
		a, err := newApp(temporalAddress, cfgFile, db, tmp, o.encrypt)
		if err != nil {
			return nil, err
		}
		s.defer_(a.Temporal.Close)
		wctx, stopWorker := context.WithCancel(ctx)
		s.defer_(stopWorker)
		go a.RunWorker(wctx) //nolint:errcheck // stopped with the run
		base, stop, err := serve(a.Handler())
		if err != nil {
			return nil, err
		}
		s.defer_(stop)
		s.apis = []string{base}
	}

	tc, err := client.Dial(client.Options{HostPort: temporalAddress, Logger: quiet{}})
	if err != nil {
		return nil, err
	}
	s.temporal = tc
	s.defer_(tc.Close)
	bare := sdkworker.New(tc, "bare", sdkworker.Options{})
	bare.RegisterWorkflow(Bare)
	if err := bare.Start(); err != nil {
		return nil, err
	}
	s.defer_(bare.Stop)
	base, stop, err := serve(floorHandler(db))
	if err != nil {
		return nil, err
	}
	s.defer_(stop)
	s.floor = base
	return s, nil
}

// serve serves h on a loopback port until stop.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // closed with the run
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// floorHandler is the repeat's floor: the storefront's call answered by
// one indexed read of the order line's key, behind gorilla/mux and
// net/http as keysmith's API is.
func floorHandler(db *bun.DB) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/qlmservice.asmx/GetActivationKey", func(w http.ResponseWriter, req *http.Request) {
		var key string
		err := db.NewRaw(`SELECT k.key FROM orders o JOIN license_keys k ON k.order_id = o.id
			WHERE o.provider = 'shareit' AND o.purchase_id = ? AND o.running_no = ? AND k.position = 1`,
			req.PostFormValue("PURCHASE_ID"), req.PostFormValue("RUNNING_NO")).Scan(req.Context(), &key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, key) //nolint:errcheck // the client went away
	}).Methods(http.MethodPost)
	return r
}

// row is one measured run, as the results file holds it.
type row struct {
	Shape       string  `json:"shape"`
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"arrival_rate,omitempty"` // fixed arrival rate, per second
	N           int     `json:"n"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	PerSecond   float64 `json:"per_second"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	// Distinct orders: from each call to its order saved and emailed.
	CompleteP50 float64 `json:"complete_p50_ms,omitempty"`
	CompleteP99 float64 `json:"complete_p99_ms,omitempty"`
	CompleteMax float64 `json:"complete_max_ms,omitempty"`
}

// runOrders measures one shape: at each concurrency, distinct orders, the
// bare round trip, repeats, the Postgres floor and the mix; then the fixed
// arrival rate.
func runOrders(ctx context.Context, shape string, o options, out io.Writer) ([]row, error) {
	s, err := up(ctx, shape, o)
	if err != nil {
		return nil, err
	}
	defer s.close()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	for i := range 10 { // warm up connections, caches and the workers
		if err := keysmithCall(ctx, httpc, s.api(i), fmt.Sprintf("warm%d", i)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if err := bareCall(ctx, s.temporal, fmt.Sprintf("warm%d", i)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	desc := map[string]string{"dev": "Temporal dev server (SQLite, WAL), worker and API in one process",
		"cluster": fmt.Sprintf("Temporal %s on Postgres, %d workers, %d APIs", cluster.TemporalVersion, 2, len(s.apis))}[shape]
	fmt.Fprintf(out, "keysmith-load %s: %s; n=%d per run, payloads %s, %d cores\n\n", shape, desc, o.n,
		map[bool]string{true: "encrypted (AES-256-GCM codec)", false: "in clear"}[o.encrypt || shape == "cluster"], runtime.NumCPU())
	fmt.Fprintf(out, "| run | c | per s | p50 ms | p90 ms | p99 ms | max ms | done p50 ms | done p99 ms | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var rows []row
	emit := func(r row) {
		r.Shape = shape
		rows = append(rows, r)
		fmt.Fprintln(out, r.markdown())
	}
	distinct := func(prefix string) func(i int) error {
		return func(i int) error { return keysmithCall(ctx, httpc, s.api(i), fmt.Sprintf("%s%d", prefix, i)) }
	}
	for round, c := range o.concurrencies {
		prefix := fmt.Sprintf("r%d-", round)
		k := measure(o.n, c, distinct(prefix))
		kr := k.row("keysmith distinct orders", c)
		if err := s.completion(ctx, prefix, k, &kr); err != nil {
			return nil, err
		}
		emit(kr)
		b := measure(o.n, c, func(i int) error { return bareCall(ctx, s.temporal, fmt.Sprintf("%sb%d", prefix, i)) })
		emit(b.row("bare Temporal update", c))
		emit(measure(o.n, c, distinct(prefix)).row("keysmith repeats", c))
		emit(measure(o.n, c, func(i int) error { return keysmithCall(ctx, httpc, s.floor, fmt.Sprintf("%s%d", prefix, i)) }).
			row("floor: Postgres read over HTTP", c))
		mixPrefix := fmt.Sprintf("m%d-", round)
		mix := measure(o.n, c, func(i int) error {
			if i%2 == 1 { // every other call repeats an order of this round
				return keysmithCall(ctx, httpc, s.api(i), fmt.Sprintf("%s%d", prefix, i))
			}
			return keysmithCall(ctx, httpc, s.api(i), fmt.Sprintf("%s%d", mixPrefix, i))
		})
		emit(mix.row("keysmith mix (half repeats)", c))
		if err := waitSaved(ctx, s.db, mixPrefix, (o.n+1)/2); err != nil {
			return nil, err
		}
	}
	if o.rate > 0 {
		k := measureRate(o.n, o.rate, distinct("rate-"))
		kr := k.row("keysmith distinct orders", 0)
		kr.Rate = o.rate
		if err := s.completion(ctx, "rate-", k, &kr); err != nil {
			return nil, err
		}
		emit(kr)
		b := measureRate(o.n, o.rate, func(i int) error { return bareCall(ctx, s.temporal, fmt.Sprintf("rate-b%d", i)) })
		br := b.row("bare Temporal update", 0)
		br.Rate = o.rate
		emit(br)
	}
	fmt.Fprintln(out)
	if err := s.report(ctx, out); err != nil {
		return nil, err
	}
	return rows, nil
}

// api spreads calls over the API processes, as a load balancer would.
func (s *stack) api(i int) string { return s.apis[i%len(s.apis)] }

// completion waits until the run's distinct orders are saved and emailed,
// and fills in how long each took from its call.
func (s *stack) completion(ctx context.Context, prefix string, r result, into *row) error {
	if err := waitSaved(ctx, s.db, prefix, len(r.start)); err != nil {
		return err
	}
	var got []struct {
		PurchaseID string    `bun:"purchase_id"`
		EmailedAt  time.Time `bun:"emailed_at"`
	}
	if err := s.db.NewRaw("SELECT purchase_id, emailed_at FROM orders WHERE starts_with(purchase_id, ?)", prefix).
		Scan(ctx, &got); err != nil {
		return err
	}
	var done []time.Duration
	for _, g := range got {
		i, err := strconv.Atoi(strings.TrimPrefix(g.PurchaseID, prefix))
		if err != nil || i >= len(r.start) || r.start[i].IsZero() {
			continue
		}
		done = append(done, g.EmailedAt.Sub(r.start[i]))
	}
	slices.Sort(done)
	into.CompleteP50, into.CompleteP99, into.CompleteMax = ms(pct(done, 50)), ms(pct(done, 99)), ms(pct(done, 100))
	return nil
}

// report prints one order's history events and, on the cluster, the
// processes' peak memory.
func (s *stack) report(ctx context.Context, out io.Writer) error {
	var wid string
	if err := s.db.NewRaw("SELECT workflow_id FROM orders WHERE starts_with(purchase_id, 'r0-') LIMIT 1").Scan(ctx, &wid); err != nil {
		return err
	}
	events := 0
	it := s.temporal.GetWorkflowHistory(ctx, wid, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return err
		}
		events++
	}
	bare := 0
	it = s.temporal.GetWorkflowHistory(ctx, "Bare:r0-b0", "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return err
		}
		bare++
	}
	fmt.Fprintf(out, "History events: %d per order (IssueLicense), %d for the bare workflow.\n", events, bare)
	if s.cluster != nil {
		fmt.Fprintf(out, "Peak memory (VmHWM) after the run:")
		for _, name := range []string{"api1", "api2", "worker1", "worker2", "temporal"} {
			fmt.Fprintf(out, " %s %s;", name, peakRSS(s.cluster.PID(name)))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
	return nil
}

// peakRSS reads a process's peak resident memory from /proc.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%d MB", kb/1024)
		}
	}
	return "?"
}

func runAPI(ctx context.Context, o options, out io.Writer) error {
	s, err := up(ctx, "dev", o)
	if err != nil {
		return err
	}
	defer s.close()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return benchAPI(ctx, out, httpc, s.apis[0], s.db, o.n, o.concurrencies)
}

// benchAPI measures the applications' calls: activation of distinct
// computers on one key with a million seats, validation of activated ones,
// and, as the floor, the storefront's repeat of an order (Postgres only).
func benchAPI(ctx context.Context, out io.Writer, c *http.Client, base string, db *bun.DB, n int, concurrencies []int) error {
	const purchase = "api-seats"
	key, err := keysmithKey(ctx, c, base, purchase, "&is_quantity=1000000")
	if err != nil {
		return err
	}
	if err := waitSaved(ctx, db, purchase, 1); err != nil {
		return err
	}
	fmt.Fprintf(out, "keysmith-load -api: n=%d per run, one key with 1,000,000 seats, %d cores\n\n", n, runtime.NumCPU())
	fmt.Fprintf(out, "| run | c | per s | p50 ms | p90 ms | p99 ms | max ms | done p50 ms | done p99 ms | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, conc := range concurrencies {
		act := measure(n, conc, func(i int) error {
			return jsonCall(ctx, c, base+"/v1/activate", fmt.Sprintf(`{"key": %q, "computer_id": "c%d-pc%d"}`, key, conc, i))
		})
		fmt.Fprintln(out, act.row("activate (new computer)", conc).markdown())
		val := measure(n, conc, func(i int) error {
			return jsonCall(ctx, c, base+"/v1/validate", fmt.Sprintf(`{"key": %q, "computer_id": "c%d-pc%d", "nonce": "nonce-%016d"}`, key, conc, i, i))
		})
		fmt.Fprintln(out, val.row("validate (signed answer)", conc).markdown())
		rep := measure(n, conc, func(int) error { return keysmithCall(ctx, c, base, purchase) })
		fmt.Fprintln(out, rep.row("floor: repeat order (Postgres)", conc).markdown())
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

// writeConfig writes the run's keysmith.yaml: one provider and product.
func writeConfig(dir string) (string, error) {
	hash, err := config.HashPassword(password)
	if err != nil {
		return "", err
	}
	doc := fmt.Appendf(nil, `
providers:
  - {name: shareit, user: shareit, password_hash: %q}
products:
  - {id: 1, name: Load App, major: 1, minor: 0}
mail: {from: "Load <load@vendor.example>"}
`, hash)
	path := filepath.Join(dir, "keysmith.yaml")
	return path, os.WriteFile(path, doc, 0o600)
}

// newApp configures keysmith in this process for the dev shape: the run's
// configuration, a new signing key, mail to an outbox folder.
func newApp(hostPort, cfgFile string, db *bun.DB, dir string, encrypt bool) (*app.App, error) {
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(b)
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
	return testenv.CallKeyGenerator(ctx, c, base+query+extraQuery, body)
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

// waitSaved waits until the run's n orders are saved and emailed.
func waitSaved(ctx context.Context, db *bun.DB, prefix string, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var count int
		err := db.NewRaw("SELECT count(*) FROM orders WHERE starts_with(purchase_id, ?) AND email_status = 'sent'", prefix).Scan(ctx, &count)
		if err != nil {
			return err
		}
		if count >= n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("orders of %s not all saved and emailed after 10 minutes", prefix)
}

type result struct {
	lat     []time.Duration // of the calls that succeeded, sorted
	start   []time.Time     // of each call, by index
	elapsed time.Duration
	errors  int64
	first   error
}

// recorder collects calls' outcomes from many goroutines.
type recorder struct {
	mu sync.Mutex
	r  result
}

func (rec *recorder) call(i int, at time.Time, call func(i int) error) {
	err := call(i)
	d := time.Since(at)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.start[i] = at
	if err != nil {
		rec.r.errors++
		if rec.r.first == nil {
			rec.r.first = err
		}
		return
	}
	rec.r.lat = append(rec.r.lat, d)
}

func (rec *recorder) done(began time.Time) result {
	rec.r.elapsed = time.Since(began)
	slices.Sort(rec.r.lat)
	return rec.r
}

// measure runs n calls with c at a time (a closed loop).
func measure(n, c int, call func(i int) error) result {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		rec  = recorder{r: result{start: make([]time.Time, n)}}
	)
	began := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rec.call(i, time.Now(), call)
			}
		}()
	}
	wg.Wait()
	return rec.done(began)
}

// measureRate starts n calls at a fixed rate per second, whether or not
// earlier ones have answered (an open loop, as buyers arrive), and times
// each from when it was due, so that a stall is not hidden.
func measureRate(n int, perSecond float64, call func(i int) error) result {
	var (
		wg  sync.WaitGroup
		rec = recorder{r: result{start: make([]time.Time, n)}}
	)
	began := time.Now()
	for i := range n {
		due := began.Add(time.Duration(float64(i) / perSecond * float64(time.Second)))
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.call(i, due, call)
		}()
	}
	wg.Wait()
	return rec.done(began)
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := (len(lat)*p + 99) / 100
	return lat[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r result) row(name string, c int) row {
	out := row{Workload: name, Concurrency: c, N: len(r.start), Errors: r.errors, PerSecond: r.rate(),
		P50: ms(pct(r.lat, 50)), P90: ms(pct(r.lat, 90)), P99: ms(pct(r.lat, 99)), Max: ms(pct(r.lat, 100))}
	if r.first != nil {
		out.FirstError = r.first.Error()
	}
	return out
}

func (r row) markdown() string {
	f := func(v float64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	c := strconv.Itoa(r.Concurrency)
	if r.Rate > 0 {
		c = fmt.Sprintf("%g/s", r.Rate)
	}
	errs := strconv.FormatInt(r.Errors, 10)
	if r.FirstError != "" {
		errs += " (" + r.FirstError + ")"
	}
	return fmt.Sprintf("| %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s |", r.Workload, c, r.PerSecond,
		f(r.P50), f(r.P90), f(r.P99), f(r.Max), f(r.CompleteP50), f(r.CompleteP99), errs)
}

// results is the results file.
type results struct {
	Date   string `json:"date"`
	Cores  int    `json:"cores"`
	N      int    `json:"n"`
	Source string `json:"source"`
	Rows   []row  `json:"rows"`
}

func readJSON(path string) ([]row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r.Rows, nil
}

// writeJSON writes the results file: the machine, the options and every row.
func writeJSON(path string, o options, rows []row) error {
	doc := results{time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), o.n, "go run ./cmd/keysmith-load (make bench)", rows}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
