// Package cluster runs keysmith at production shape on one machine, with
// no containers: the real Temporal server (built from its Go module) on
// Postgres persistence and SQL visibility, the Temporal UI when it is built,
// the codec server, and several keysmith workers and API processes on
// loopback ports. It is what `make cluster` runs, and what the load and
// fault benchmarks run against.
//
// It uses the files docker-compose.yml uses: Temporal's schema and namespace
// scripts and dynamic config (deploy/), the server's own environment
// variables (its embedded configuration template is the one its image
// renders), and deploy/keysmith.yaml unless told otherwise. Each process is
// supervised as systemd would (Restart=always): when one dies it is started
// again after a second.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
)

// TemporalVersion is the Temporal server release the Makefile builds.
const TemporalVersion = "v1.32.2"

// Options of a cluster. Zero values give `make cluster`'s defaults.
type Options struct {
	Root string // the repository (deploy/ and bin/); "" finds it above the working directory
	Dir  string // state: logs, keys, outbox; "" is Root/.cluster

	// Postgres is a superuser URL of the Postgres server that holds the
	// three databases: DBPrefix (keysmith's), DBPrefix_temporal and
	// DBPrefix_temporal_visibility.
	Postgres string
	DBPrefix string // default "keysmith_cluster"

	// TemporalPort is the frontend's gRPC port; the server's other ports
	// are at fixed offsets from it (history +1, matching +2, worker +6,
	// HTTP +10, membership -300 and up, metrics +767), as in its defaults.
	TemporalPort int // default 7233
	// KeysmithPort is the first API's port; the codec server is at +1,
	// the UI at +153, further APIs at +2, +3, ... and the workers' metrics at
	// +1010, +1011, ...
	KeysmithPort int // default 8080

	Workers, APIs int // default 2 each
	// Config is keysmith.yaml. By default it is Dir/keysmith.yaml, written
	// once from deploy/keysmith.yaml with its placeholder password hashes
	// replaced by the hash of a new password, kept in Dir/shareit-password.
	Config string
	// Env is added to every keysmith process's environment (for example
	// RESEND_API_KEY and KEYSMITH_RESEND_BASE_URL); without
	// RESEND_API_KEY mail goes to Dir/outbox.
	Env []string
	// Log receives the cluster's own account of what it starts and
	// restarts; each process logs to Dir/logs/<name>.log.
	Log io.Writer
}

// Cluster is a running cluster.
type Cluster struct {
	opts  Options
	procs map[string]*proc
	order []string // start order; stopped in reverse
	codec string   // the codec server's token
}

func (o *Options) defaults() error {
	if o.Root == "" {
		root, err := findRoot()
		if err != nil {
			return err
		}
		o.Root = root
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(o.Root, ".cluster")
	}
	if o.Postgres == "" {
		o.Postgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	if o.DBPrefix == "" {
		o.DBPrefix = "keysmith_cluster"
	}
	if o.TemporalPort == 0 {
		o.TemporalPort = 7233
	}
	if o.KeysmithPort == 0 {
		o.KeysmithPort = 8080
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.APIs == 0 {
		o.APIs = 2
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// Start brings the cluster up: databases, Temporal's schemas, the Temporal
// server, its namespace and search attributes, keysmith's migrations and
// keys, then the codec server, the UI, the workers and the APIs. It
// returns once every API answers /readyz. Stop it with Stop.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	c := &Cluster{opts: o, procs: map[string]*proc{}}
	for _, name := range []string{"keysmith", "temporal", "temporal-server", "temporal-sql-tool"} {
		if _, err := os.Stat(c.bin(name)); err != nil {
			return nil, fmt.Errorf("%s is not built: run `make cluster-tools`", c.bin(name))
		}
	}
	if err := c.databases(ctx); err != nil {
		return nil, err
	}
	if err := c.oneShot(ctx, "temporal-schema", c.temporalEnv(), "sh", filepath.Join(o.Root, "deploy", "temporal-schema.sh")); err != nil {
		return nil, err
	}
	c.add("temporal", c.temporalEnv(), c.bin("temporal-server"), "start")
	if err := c.procs["temporal"].start(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	nsEnv := []string{"TEMPORAL_ADDRESS=" + c.TemporalAddress(), "TEMPORAL_NAMESPACE=default",
		"TEMPORAL_NAMESPACE_RETENTION=720h", "PATH=" + filepath.Join(o.Root, "bin") + ":" + os.Getenv("PATH")}
	if err := c.oneShot(ctx, "temporal-namespace", nsEnv, "sh", filepath.Join(o.Root, "deploy", "temporal-namespace.sh")); err != nil {
		return nil, err
	}
	if err := c.keys(); err != nil {
		return nil, err
	}
	if c.opts.Config == "" {
		cfg, err := c.config()
		if err != nil {
			return nil, err
		}
		c.opts.Config = cfg
	}
	if err := c.oneShot(ctx, "migrate", c.keysmithEnv(), c.bin("keysmith"), "migrate"); err != nil {
		return nil, err
	}

	c.add("codec", append(c.keysmithEnv(),
		"KEYSMITH_CODEC_LISTEN="+c.addr(o.KeysmithPort+1),
		"KEYSMITH_CODEC_TOKEN="+c.codec,
		"KEYSMITH_CODEC_ORIGINS="+c.UIURL()+","+strings.Replace(c.UIURL(), "localhost", "127.0.0.1", 1),
		"KEYSMITH_CODEC_TRUST_ORIGINS=true"), c.bin("keysmith"), "codec")
	if _, err := os.Stat(c.bin("temporal-ui-server")); err == nil {
		if err := c.uiConfig(); err != nil {
			return nil, err
		}
		c.add("ui", nil, c.bin("temporal-ui-server"), "--root", o.Dir, "--config", "ui", "--env", "keysmith", "start")
	}
	for i := range o.Workers {
		c.add(fmt.Sprintf("worker%d", i+1), append(c.keysmithEnv(),
			"KEYSMITH_METRICS_LISTEN="+c.addr(o.KeysmithPort+1010+i)), c.bin("keysmith"), "worker")
	}
	for i := range o.APIs {
		c.add(fmt.Sprintf("api%d", i+1), append(c.keysmithEnv(),
			"KEYSMITH_LISTEN="+c.addr(c.apiPort(i))), c.bin("keysmith"), "serve")
	}
	for _, name := range c.order[1:] {
		if err := c.procs[name].start(); err != nil {
			return nil, err
		}
	}
	for i, u := range append(c.APIURLs(), c.WorkerURLs()...) {
		name := fmt.Sprintf("api%d", i+1)
		if i >= o.APIs {
			name = fmt.Sprintf("worker%d", i-o.APIs+1)
		}
		if err := waitReady(ctx, u+"/readyz", 60*time.Second); err != nil {
			return nil, fmt.Errorf("%s: %w; its log ends: %s", name, err, lastLine(c.procs[name].logPath))
		}
	}
	ok = true
	return c, nil
}

// Stop stops every process, the last started first, with SIGTERM (then
// SIGKILL after 30 seconds), and stops supervising them.
func (c *Cluster) Stop() {
	for i := len(c.order) - 1; i >= 0; i-- {
		c.procs[c.order[i]].stop()
	}
}

// Names lists the cluster's processes in start order.
func (c *Cluster) Names() []string { return append([]string(nil), c.order...) }

// Kill sends sig to the named process; its supervisor starts it again a
// second after it exits.
func (c *Cluster) Kill(name string, sig syscall.Signal) error {
	p, ok := c.procs[name]
	if !ok {
		return fmt.Errorf("cluster: no process %q", name)
	}
	return p.signal(sig)
}

// Restarts is how many times the named process has been started again.
func (c *Cluster) Restarts(name string) int {
	if p, ok := c.procs[name]; ok {
		return p.restarts()
	}
	return 0
}

// TemporalAddress is the frontend's host:port.
func (c *Cluster) TemporalAddress() string { return c.addr(c.opts.TemporalPort) }

// DatabaseURL is keysmith's database.
func (c *Cluster) DatabaseURL() string { return c.dbURL(c.opts.DBPrefix) }

// APIURLs are the API processes' base URLs (what a load balancer in front
// of them would spread the storefront's calls over).
func (c *Cluster) APIURLs() []string {
	var us []string
	for i := range c.opts.APIs {
		us = append(us, "http://"+c.addr(c.apiPort(i)))
	}
	return us
}

// WorkerURLs are the workers' /metrics, /healthz and /readyz base URLs.
func (c *Cluster) WorkerURLs() []string {
	var us []string
	for i := range c.opts.Workers {
		us = append(us, "http://"+c.addr(c.opts.KeysmithPort+1010+i))
	}
	return us
}

// CodecURL is the codec server's base URL.
func (c *Cluster) CodecURL() string { return "http://" + c.addr(c.opts.KeysmithPort+1) }

// CodecToken is the codec server's bearer token (for the CLI).
func (c *Cluster) CodecToken() string { return c.codec }

// UIURL is the Temporal UI's address, if it is built.
func (c *Cluster) UIURL() string {
	return "http://localhost:" + strconv.Itoa(c.opts.KeysmithPort+153)
}

// HasUI says whether the Temporal UI runs.
func (c *Cluster) HasUI() bool { _, ok := c.procs["ui"]; return ok }

// ShareItPassword is the ShareIt password of the keysmith.yaml the
// cluster wrote ("" when Options.Config named another).
func (c *Cluster) ShareItPassword() string {
	b, _ := os.ReadFile(filepath.Join(c.opts.Dir, "shareit-password"))
	return strings.TrimSpace(string(b))
}

// KeysDir holds the signing keys the workers and APIs use.
func (c *Cluster) KeysDir() string { return filepath.Join(c.opts.Dir, "keys") }

// PID is the named process's current process id (0 while it is down).
func (c *Cluster) PID(name string) int {
	if p, ok := c.procs[name]; ok {
		return p.pid()
	}
	return 0
}

func (c *Cluster) apiPort(i int) int {
	if i == 0 {
		return c.opts.KeysmithPort
	}
	return c.opts.KeysmithPort + 1 + i
}

func (c *Cluster) addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.Root, "bin", name) }

func (c *Cluster) dbURL(name string) string {
	u, _ := url.Parse(c.opts.Postgres)
	u.Path = "/" + name
	return u.String()
}

// temporalEnv configures the Temporal server and its schema tool with the
// variables its image takes (docker-compose.yml's temporal service).
func (c *Cluster) temporalEnv() []string {
	u, _ := url.Parse(c.opts.Postgres)
	password, _ := u.User.Password()
	p := c.opts.TemporalPort
	port := func(n int) string { return strconv.Itoa(n) }
	return []string{
		"DB=postgres12",
		"POSTGRES_SEEDS=" + u.Hostname(),
		"DB_PORT=" + cmpOr(u.Port(), "5432"),
		"POSTGRES_USER=" + u.User.Username(),
		"POSTGRES_PWD=" + password,
		"SQL_PASSWORD=" + password,
		"DBNAME=" + c.opts.DBPrefix + "_temporal",
		"VISIBILITY_DBNAME=" + c.opts.DBPrefix + "_temporal_visibility",
		"BIND_ON_IP=127.0.0.1",
		"TEMPORAL_BROADCAST_ADDRESS=127.0.0.1",
		"DYNAMIC_CONFIG_FILE_PATH=" + filepath.Join(c.opts.Root, "deploy", "temporal-dynamicconfig.yaml"),
		"FRONTEND_GRPC_PORT=" + port(p),
		"HISTORY_GRPC_PORT=" + port(p+1),
		"MATCHING_GRPC_PORT=" + port(p+2),
		"WORKER_GRPC_PORT=" + port(p+6),
		"FRONTEND_HTTP_PORT=" + port(p+10),
		"FRONTEND_MEMBERSHIP_PORT=" + port(p-300),
		"HISTORY_MEMBERSHIP_PORT=" + port(p-299),
		"MATCHING_MEMBERSHIP_PORT=" + port(p-298),
		"WORKER_MEMBERSHIP_PORT=" + port(p-294),
		"PROMETHEUS_ENDPOINT=" + c.addr(p+767),
		"LOG_LEVEL=warn",
		"TEMPORAL_SQL_TOOL=" + c.bin("temporal-sql-tool"),
		"TEMPORAL_SCHEMA_DIR=" + filepath.Join(c.opts.Root, "bin", "temporal-schema", "postgresql", "v12"),
	}
}

// Keysmith runs a keysmith command against the cluster, as an operator
// does (keysmith support confirm ...), and returns its output.
func (c *Cluster) Keysmith(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.bin("keysmith"), args...)
	cmd.Env = append(os.Environ(), c.keysmithEnv()...)
	return cmd.CombinedOutput()
}

// keysmithEnv is what the workers, APIs and codec server share
// (docker-compose.yml's x-keysmith-env).
func (c *Cluster) keysmithEnv() []string {
	env := []string{
		"KEYSMITH_DATABASE_URL=" + c.DatabaseURL(),
		"KEYSMITH_CONFIG=" + c.opts.Config,
		"KEYSMITH_LOG_FORMAT=json",
		"TEMPORAL_ADDRESS=" + c.TemporalAddress(),
		"TEMPORAL_NAMESPACE=default",
		"KEYSMITH_CODEC_KEYS_DIR=" + filepath.Join(c.opts.Dir, "codec"),
		"KEYSMITH_KEYS_DIR=" + c.KeysDir(),
		"KEYSMITH_OUTBOX=" + filepath.Join(c.opts.Dir, "outbox"),
		"KEYSMITH_UI_URL=" + c.UIURL(),
	}
	return append(env, c.opts.Env...)
}

// uiConfig writes the Temporal UI server's configuration: the frontend,
// the port, and keysmith's codec server, through which the browser
// decodes payloads (docker-compose.yml's temporal-ui service).
func (c *Cluster) uiConfig() error {
	dir := filepath.Join(c.opts.Dir, "ui")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	doc := fmt.Sprintf(`# Written by internal/cluster (make cluster).
temporalGrpcAddress: %s
host: 127.0.0.1
port: %d
enableUi: true
defaultNamespace: default
notifyOnNewVersion: false
codec:
  endpoint: %s
`, c.TemporalAddress(), c.opts.KeysmithPort+153, strings.Replace(c.CodecURL(), "127.0.0.1", "localhost", 1))
	return os.WriteFile(filepath.Join(dir, "keysmith.yaml"), []byte(doc), 0o600)
}

// databases creates the three databases when they are missing, and the
// extension the visibility schema needs (deploy/postgres-init.sh does the
// same for compose).
func (c *Cluster) databases(ctx context.Context) error {
	for _, name := range []string{c.opts.DBPrefix, c.opts.DBPrefix + "_temporal", c.opts.DBPrefix + "_temporal_visibility"} {
		if err := store.CreateDatabase(ctx, c.dbURL(name)); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	conn, err := pgx.Connect(ctx, c.dbURL(c.opts.DBPrefix+"_temporal_visibility"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS btree_gin")
	return err
}

// Clean drops the cluster's three databases and removes its state folder
// (keys, logs, outbox). Stop the cluster first.
func Clean(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	c := &Cluster{opts: o}
	var errs []error
	for _, name := range []string{o.DBPrefix, o.DBPrefix + "_temporal", o.DBPrefix + "_temporal_visibility"} {
		errs = append(errs, store.DropDatabase(ctx, c.dbURL(name)))
	}
	errs = append(errs, os.RemoveAll(o.Dir))
	return errors.Join(errs...)
}

// keys makes the signing key, the codec key and the codec server's token
// under Dir unless they exist.
func (c *Cluster) keys() error {
	dir := c.KeysDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if signer, _, err := license.LoadDir(dir); err != nil {
		return err
	} else if signer == nil {
		k, err := license.GenerateSigningKey(1)
		if err != nil {
			return err
		}
		if err := license.WriteKeyPair(dir, k); err != nil {
			return err
		}
	}
	codecDir := filepath.Join(c.opts.Dir, "codec")
	if _, err := codec.LoadDir(codecDir); err != nil {
		if _, err := codec.WriteKey(codecDir, 1); err != nil {
			return err
		}
	}
	tokenFile := filepath.Join(c.opts.Dir, "codec-token")
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		b = []byte(rand.Text())
		if err := os.WriteFile(tokenFile, b, 0o600); err != nil {
			return err
		}
	}
	c.codec = strings.TrimSpace(string(b))
	return nil
}

// config writes Dir/keysmith.yaml from deploy/keysmith.yaml unless it
// exists: the same products and providers, with a real password in place
// of the example's placeholder (which keysmith refuses).
func (c *Cluster) config() (string, error) {
	path := filepath.Join(c.opts.Dir, "keysmith.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	doc, err := os.ReadFile(filepath.Join(c.opts.Root, "deploy", "keysmith.yaml"))
	if err != nil {
		return "", err
	}
	password := rand.Text()[:16]
	hash, err := config.HashPassword(password)
	if err != nil {
		return "", err
	}
	doc = placeholderHash.ReplaceAllFunc(doc, func(m []byte) []byte {
		old := placeholderHash.FindSubmatch(m)[1]
		if bcrypt.CompareHashAndPassword(old, []byte("change-me-now")) != nil {
			return m
		}
		return []byte(fmt.Sprintf("password_hash: %q", hash))
	})
	if err := os.WriteFile(filepath.Join(c.opts.Dir, "shareit-password"), []byte(password+"\n"), 0o600); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, doc, 0o600)
}

var placeholderHash = regexp.MustCompile(`password_hash: "([^"]+)"`)

// oneShot runs a set-up step to completion, its output in its log.
func (c *Cluster) oneShot(ctx context.Context, name string, env []string, command string, args ...string) error {
	logPath := filepath.Join(c.opts.Dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(c.opts.Log, "cluster: %s\n", name)
	cmd := exec.CommandContext(ctx, command, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = c.opts.Root
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed (log in %s): %w", name, logPath, err)
	}
	return nil
}

func (c *Cluster) add(name string, env []string, command string, args ...string) {
	c.procs[name] = &proc{
		name: name, command: command, args: args, env: append(os.Environ(), env...),
		dir: c.opts.Root, logPath: filepath.Join(c.opts.Dir, "logs", name+".log"), log: c.opts.Log,
	}
	c.order = append(c.order, name)
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s: %v", url, timeout, last)
}

// lastLine is a log's last line, for an error message.
func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cluster: no go.mod above the working directory")
		}
		dir = parent
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// proc is one supervised process.
type proc struct {
	name, command, dir, logPath string
	args, env                   []string
	log                         io.Writer

	mu       sync.Mutex
	cmd      *exec.Cmd
	running  bool
	stopping bool
	starts   int
	started  time.Time
	delay    time.Duration // before the next restart
	exited   chan struct{} // closed when the current process has exited
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.command, p.args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = p.env, p.dir, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.starts++
	p.cmd, p.running, p.started = cmd, true, time.Now()
	exited := make(chan struct{})
	p.exited = exited
	if p.starts == 1 {
		fmt.Fprintf(p.log, "cluster: %s started (pid %d, log %s)\n", p.name, cmd.Process.Pid, p.logPath)
	} else {
		fmt.Fprintf(p.log, "cluster: %s restarted (pid %d)\n", p.name, cmd.Process.Pid)
	}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.running = false
		stopping := p.stopping
		// A second after a crash; doubling, up to 30 seconds, while the
		// process keeps dying within 10 seconds of its start.
		if time.Since(p.started) > 10*time.Second || p.delay == 0 {
			p.delay = time.Second
		} else {
			p.delay = min(2*p.delay, 30*time.Second)
		}
		delay := p.delay
		p.mu.Unlock()
		close(exited)
		if stopping {
			return
		}
		fmt.Fprintf(p.log, "cluster: %s exited (%v); restarting in %s\n", p.name, err, delay)
		time.Sleep(delay)
		p.mu.Lock()
		stopping = p.stopping
		p.mu.Unlock()
		if !stopping {
			if err := p.start(); err != nil {
				fmt.Fprintf(p.log, "cluster: %v\n", err)
			}
		}
	}()
	return nil
}

func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return fmt.Errorf("cluster: %s is not running", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (p *proc) restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.starts-1, 0)
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return 0
	}
	return p.cmd.Process.Pid
}
