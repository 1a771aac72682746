// Package chaos puts keysmith's cluster shape (internal/cluster: the real
// Temporal server on Postgres, two workers, two APIs) under a storefront's
// load and breaks it while orders flow: workers and APIs are killed with
// SIGKILL, Postgres and the Temporal server restart, the Resend API answers
// 500s, 429s with Retry-After, and hangs. Then it checks what a vendor
// relies on. It runs only when asked, because it restarts the machine's
// Postgres:
//
//	KEYSMITH_CHAOS=short go test ./e2e/chaos/   # inside make test
//	KEYSMITH_CHAOS=long  go test ./e2e/chaos/   # make chaos
package chaos

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keysmith/keysmith/internal/cluster"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/mail/resendtest"
)

// plan is one form of the test: how many rounds of faults, and how many
// storefront callers keep ordering meanwhile.
type plan struct {
	rounds  int
	callers int
	gap     time.Duration // between faults
}

var plans = map[string]plan{
	"short": {rounds: 1, callers: 4, gap: 4 * time.Second},
	"long":  {rounds: 4, callers: 8, gap: 8 * time.Second},
}

// query is the storefront's URL for deploy/keysmith.yaml's product, which
// the cluster runs with; the password follows.
const query = "/qlmservice.asmx/GetActivationKey?is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_features=0:1&is_user=shareit&is_pwd="

// order is one order line as the storefront saw it.
type order struct {
	purchase   string
	firstOK    bool   // the first call was answered 200 with a key
	key        string // the key the storefront ended with
	calls      int
	failedWith string // the first call's error, when it failed
}

func TestChaos(t *testing.T) {
	mode := os.Getenv("KEYSMITH_CHAOS")
	if mode == "" {
		t.Skip("restarts Postgres: set KEYSMITH_CHAOS=short or long (make chaos)")
	}
	p, ok := plans[mode]
	if !ok {
		t.Fatalf("KEYSMITH_CHAOS=%q: want short or long", mode)
	}
	ctx := context.Background()
	resend := resendtest.NewServer(t)
	o := cluster.Options{
		Dir:          t.TempDir(),
		DBPrefix:     "keysmith_chaos_" + strings.ToLower(rand.Text()[:6]),
		TemporalPort: 17233,
		KeysmithPort: 18080,
		Env: []string{"RESEND_API_KEY=" + resend.APIKey, "KEYSMITH_RESEND_BASE_URL=" + resend.URL(),
			"KEYSMITH_LOG_LEVEL=warn"},
		Log: testWriter{t},
	}
	c, err := cluster.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if err := cluster.Clean(context.Background(), o); err != nil {
			t.Log(err)
		}
	})

	// The storefront: callers order distinct lines until the faults are
	// over, through either API, retrying a failed call as ShareIt does.
	var (
		mu     sync.Mutex
		orders []*order
		next   atomic.Int64
		done   = make(chan struct{})
		wg     sync.WaitGroup
	)
	httpc := &http.Client{Timeout: 30 * time.Second}
	var apis []string
	for _, u := range c.APIURLs() {
		apis = append(apis, u+query+url.QueryEscape(c.ShareItPassword()))
	}
	for w := range p.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				n := next.Add(1)
				od := &order{purchase: fmt.Sprintf("chaos%06d", n)}
				mu.Lock()
				orders = append(orders, od)
				mu.Unlock()
				storefront(ctx, httpc, apis, w, od)
			}
		}()
	}

	// The faults, while the callers order.
	faults := map[string]int{}
	fault := func(name string, f func() error) {
		time.Sleep(p.gap)
		if err := f(); err != nil {
			t.Errorf("fault %s: %v", name, err)
			return
		}
		faults[name]++
		t.Logf("fault: %s", name)
	}
	kill := func(name string) func() error { return func() error { return c.Kill(name, syscall.SIGKILL) } }
	for round := range p.rounds {
		fault("SIGKILL worker1", kill("worker1"))
		fault("SIGKILL api2", kill("api2"))
		fault("Resend answers 500 (x5)", func() error { resend.FailNext(5, http.StatusInternalServerError, ""); return nil })
		fault("SIGKILL worker2", kill("worker2"))
		fault("Resend answers 429 with Retry-After (x5)", func() error { resend.FailNext(5, http.StatusTooManyRequests, ""); return nil })
		fault("SIGKILL api1", kill("api1"))
		fault("Resend hangs for 15s", func() error {
			resend.Block()
			time.AfterFunc(15*time.Second, resend.Unblock)
			return nil
		})
		fault("restart the Temporal server", kill("temporal"))
		if round == 0 || mode == "long" {
			fault("restart Postgres", restartPostgres)
		}
	}
	time.Sleep(p.gap)
	close(done)
	wg.Wait()

	// Every workflow finishes: every order line saved and its email sent,
	// or held when the API died between its answer and its report to the
	// workflow: support confirms those (the storefront has their keys).
	st := waitSettled(t, c.DatabaseURL(), len(orders), 10*time.Minute)
	held := 0
	for purchase, row := range st {
		if row.delivery != "unconfirmed" {
			continue
		}
		held++
		if !strings.Contains(row.deliveryReason, "no report within") {
			t.Errorf("%s held: %s (every storefront call retried until it had the key)", purchase, row.deliveryReason)
		}
		out, err := c.Keysmith(ctx, "support", "confirm", "-line", "shareit:"+purchase+"-1", "-actor", "chaos", "-reason", "the storefront has the key")
		if err != nil {
			t.Errorf("confirm %s: %v\n%s", purchase, err, out)
		}
	}
	if held > 0 {
		st = waitSettled(t, c.DatabaseURL(), len(orders), 2*time.Minute)
	}

	// The invariants.
	checked := 0
	check := func(ok bool, format string, args ...any) {
		checked++
		if !ok {
			t.Errorf(format, args...)
		}
	}
	delivered := map[string][]resendtest.Email{}
	for _, e := range resend.Delivered() {
		for _, to := range e.To {
			delivered[to] = append(delivered[to], e)
		}
	}
	seen := map[string]string{} // key -> purchase
	firstOK, retried := 0, 0
	for _, od := range orders {
		if od.firstOK {
			firstOK++
		} else {
			retried++
		}
		check(od.key != "", "%s: never keyed after %d calls (first error: %s)", od.purchase, od.calls, od.failedWith)
		row, ok := st[od.purchase]
		check(ok, "%s: answered but not in Postgres", od.purchase)
		if !ok {
			continue
		}
		check(len(row.keys) == 1 && row.keys[0] == od.key, "%s: storefront has key %q, Postgres %q", od.purchase, od.key, row.keys)
		check(row.customer == od.purchase+"@example.com", "%s: customer %q", od.purchase, row.customer)
		check(row.emailStatus == "sent", "%s: email %s (parked or not sent)", od.purchase, row.emailStatus)
		mails := delivered[od.purchase+"@example.com"]
		check(len(mails) == 1, "%s: %d emails delivered", od.purchase, len(mails))
		if len(mails) == 1 {
			check(strings.Contains(mails[0].Text, od.key), "%s: the email does not carry the key", od.purchase)
		}
		if prev, dup := seen[od.key]; dup {
			check(false, "key of %s issued again for %s", prev, od.purchase)
		}
		seen[od.key] = od.purchase
	}
	check(len(st) == len(orders), "Postgres has %d order lines, the storefront placed %d", len(st), len(orders))
	restarts := 0
	for _, name := range c.Names() {
		restarts += c.Restarts(name)
	}
	total := 0
	for _, n := range faults {
		total += n
	}
	t.Logf("chaos %s: %d faults injected (%v), %d process restarts; %d orders (%d keyed on the first call, %d by a retry, %d held for want of the API's report and confirmed), %d Resend requests, %d emails delivered; %d invariants checked",
		mode, total, faults, restarts, len(orders), firstOK, retried, held, resend.Attempts(), len(resend.Delivered()), checked)
}

// storefront places one order line through the APIs' URLs in turn, retrying as
// ShareIt does until it has a key (for at most three minutes).
func storefront(ctx context.Context, c *http.Client, apis []string, caller int, od *order) {
	body := url.Values{
		"PURCHASE_ID": {od.purchase}, "RUNNING_NO": {"1"}, "QUANTITY": {"1"}, "ENCODING": {"UTF8"},
		"FIRSTNAME": {"Chaos"}, "LASTNAME": {"Monkey"}, "EMAIL": {od.purchase + "@example.com"},
	}.Encode()
	deadline := time.Now().Add(3 * time.Minute)
	for i := caller; time.Now().Before(deadline); i++ {
		od.calls++
		key, err := testenv.CallKeyGenerator(ctx, c, apis[i%len(apis)], body)
		if err == nil {
			od.key = key
			od.firstOK = od.calls == 1
			return
		}
		if od.calls == 1 {
			od.failedWith = err.Error()
		}
		time.Sleep(time.Second)
	}
}

// line is an order line as Postgres holds it.
type line struct {
	keys                     []string
	customer                 string
	emailStatus              string
	delivery, deliveryReason string
}

// waitSettled waits until n order lines are in Postgres with their email
// no longer pending (or held), and returns them by purchase id.
func waitSettled(t *testing.T, dbURL string, n int, timeout time.Duration) map[string]line {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		lines, pending, err := readLines(ctx, dbURL)
		if err == nil && len(lines) >= n && pending == 0 {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d of %d order lines saved, %d emails pending (%v)", timeout, len(lines), n, pending, err)
		}
		time.Sleep(time.Second)
	}
}

func readLines(ctx context.Context, dbURL string) (map[string]line, int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
SELECT o.purchase_id, coalesce(c.email, ''), o.email_status, coalesce(o.delivery, ''), coalesce(o.delivery_reason, ''),
       coalesce(array_agg(k.key ORDER BY k.position) FILTER (WHERE k.key IS NOT NULL), '{}')
  FROM orders o
  LEFT JOIN customers c ON c.id = o.customer_id
  LEFT JOIN license_keys k ON k.order_id = o.id
 GROUP BY o.id, c.email`)
	if err != nil {
		return nil, 0, err
	}
	lines, pending := map[string]line{}, 0
	for rows.Next() {
		var purchase string
		var l line
		if err := rows.Scan(&purchase, &l.customer, &l.emailStatus, &l.delivery, &l.deliveryReason, &l.keys); err != nil {
			return nil, 0, err
		}
		if l.emailStatus == "pending" && l.delivery != "unconfirmed" {
			pending++
		}
		lines[purchase] = l
	}
	return lines, pending, rows.Err()
}

// restartPostgres restarts the machine's PostgreSQL cluster (Debian's
// pg_ctlcluster), as a database failover or upgrade would.
func restartPostgres() error {
	versions, err := filepath.Glob("/etc/postgresql/*/main")
	if err != nil || len(versions) == 0 {
		return fmt.Errorf("no Debian PostgreSQL cluster under /etc/postgresql")
	}
	version := filepath.Base(filepath.Dir(versions[0]))
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster restart: %v: %s", err, out)
	}
	return nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
