package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
)

// runCmd calls run as main does and returns what it printed.
func runCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {}, {"bogus"}, {"Keygen"}, {"--version"}, {""}} {
		out, err := runCmd(t, "", args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
		if out != "" {
			t.Errorf("run(%q) printed %q", args, out)
		}
	}
	for _, h := range []string{"help", "-h", "--help"} {
		out, err := runCmd(t, "", h)
		if err != nil {
			t.Errorf("run(%s): %v", h, err)
		}
		if out != usage {
			t.Errorf("run(%s) printed %q, want the usage", h, out)
		}
	}
	// Every command in the switch is in the usage.
	for _, cmd := range []string{"dev", "serve", "worker", "migrate", "keygen", "verify", "hash-password"} {
		if !strings.Contains(usage, "\n  "+cmd+" ") {
			t.Errorf("usage does not list %s", cmd)
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys", "nested") // created as needed
	out, err := runCmd(t, "", "keygen", "-dir", dir, "-id", "3")
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if !strings.Contains(out, "signing-3.pem") || !strings.Contains(out, "public-3.pem") {
		t.Errorf("keygen printed %q", out)
	}
	priv, pub := filepath.Join(dir, "signing-3.pem"), filepath.Join(dir, "public-3.pem")
	for path, perm := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may take bits away, never add them.
		if fi.Mode().Perm()&^perm != 0 {
			t.Errorf("%s has mode %v, want at most %v", path, fi.Mode().Perm(), perm)
		}
	}
	signer, ring, err := license.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil || signer.ID != 3 || len(ring) != 1 || !ring[3].Equal(signer.PublicKey()) {
		t.Errorf("LoadDir: signer %+v, ring %v", signer, ring)
	}
	before, _ := os.ReadFile(priv)

	// A second time would destroy the key: refused, the files untouched.
	out, err = runCmd(t, "", "keygen", "-dir", dir, "-id", "3")
	if err == nil {
		t.Errorf("second keygen with the same id succeeded: %q", out)
	}
	if after, _ := os.ReadFile(priv); !bytes.Equal(before, after) {
		t.Error("second keygen changed the signing key")
	}
	if _, err := os.Stat(pub); err != nil {
		t.Errorf("public key after a refused keygen: %v", err)
	}

	// Rotation: a higher id beside it.
	if _, err := runCmd(t, "", "keygen", "-dir", dir, "-id", "4"); err != nil {
		t.Fatalf("keygen -id 4: %v", err)
	}
	if signer, ring, err := license.LoadDir(dir); err != nil || signer.ID != 4 || len(ring) != 2 {
		t.Errorf("after rotation: signer %v, %d keys, %v", signer, len(ring), err)
	}
}

func TestKeygenBadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-dir", dir, "-id", "0"},
		{"-dir", dir, "-id", "65536"},
	} {
		if _, err := runCmd(t, "", append([]string{"keygen"}, args...)...); err == nil || errors.Is(err, errUsage) {
			t.Errorf("keygen %q = %v, want an error about -id", args, err)
		}
	}
	for _, args := range [][]string{
		{"-dir", dir, "-id", "-1"},
		{"-dir", dir, "-id", "x"},
		{"-nope"},
	} {
		if _, err := runCmd(t, "", append([]string{"keygen"}, args...)...); !errors.Is(err, errUsage) {
			t.Errorf("keygen %q = %v, want errUsage", args, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused keygens wrote %d files", len(entries))
	}
	if _, err := runCmd(t, "", "keygen", "-dir", dir, "-id", "65535"); err != nil {
		t.Errorf("keygen -id 65535: %v", err)
	}
}

// keygenDir makes a key pair with keygen and returns the directory and
// the signing key as loaded from it.
func keygenDir(t *testing.T, id string) (string, *license.SigningKey) {
	t.Helper()
	dir := t.TempDir()
	if _, err := runCmd(t, "", "keygen", "-dir", dir, "-id", id); err != nil {
		t.Fatal(err)
	}
	signer, _, err := license.LoadDir(dir)
	if err != nil || signer == nil {
		t.Fatalf("LoadDir: %v, %v", signer, err)
	}
	return dir, signer
}

func TestVerify(t *testing.T) {
	dir, signer := keygenDir(t, "3")
	claims := license.Claims{
		Product:     300123,
		Major:       2,
		Minor:       1,
		Features:    license.Features{3, 1, 0, 0},
		Seats:       5,
		Model:       license.Subscription,
		Binding:     license.Floating,
		Issued:      time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC),
		Expires:     time.Date(2099, time.March, 1, 0, 0, 0, 0, time.UTC),
		Maintenance: time.Date(2098, time.March, 1, 0, 0, 0, 0, time.UTC),
		Serial:      0x1234567890abcdef,
	}
	key, err := license.Sign(*signer, claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "", "verify", "-keys", dir, key)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, want := range []string{
		"valid key\n",
		"product:     300123 2.1\n",
		"features:    0:3;1:1\n",
		"seats:       5\n",
		"model:       subscription_floating\n",
		"issued:      2026-03-01\n",
		"expires:     2099-03-01\n",
		"maintenance: 2098-03-01\n",
		"serial:      1234567890abcdef\n",
		"key id:      3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(out, "valid key\n") {
		t.Errorf("verify output does not start with valid key:\n%s", out)
	}

	// As a user pastes it: lowercase, on two lines.
	pasted := strings.ToLower(key[:50]) + "\n" + key[50:]
	if out, err := runCmd(t, "", "verify", "-keys", dir, pasted); err != nil || !strings.HasPrefix(out, "valid key\n") {
		t.Errorf("verify of a pasted key: %v\n%s", err, out)
	}

	// Only the public key is needed, and KEYSMITH_KEYS_DIR is the default.
	if err := os.Remove(filepath.Join(dir, "signing-3.pem")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYSMITH_KEYS_DIR", dir)
	if out, err := runCmd(t, "", "verify", key); err != nil || !strings.Contains(out, "product:     300123 2.1\n") {
		t.Errorf("verify with KEYSMITH_KEYS_DIR and only the public key: %v\n%s", err, out)
	}
}

func TestVerifyPermanentAndExpired(t *testing.T) {
	dir, signer := keygenDir(t, "1")
	issued := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	permanent, err := license.Sign(*signer, license.Claims{Product: 1, Major: 1, Seats: 1, Issued: issued})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, "", "verify", "-keys", dir, permanent); err != nil || !strings.Contains(out, "expires:     never\n") ||
		!strings.Contains(out, "model:       permanent\n") || !strings.Contains(out, "maintenance: none\n") {
		t.Errorf("permanent key: %v\n%s", err, out)
	}
	expired, err := license.Sign(*signer, license.Claims{Product: 1, Major: 1, Seats: 1, Model: license.Trial, Binding: license.Cloud,
		Issued: issued, Expires: issued.AddDate(0, 0, 30), Maintenance: issued.AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	// An expired key has a valid signature; verify says both.
	if out, err := runCmd(t, "", "verify", "-keys", dir, expired); err != nil || !strings.Contains(out, "expires:     2024-01-31 (expired)\n") ||
		!strings.Contains(out, "maintenance: 2024-01-31 (ended)\n") || !strings.Contains(out, "model:       trial_cloud\n") {
		t.Errorf("expired key: %v\n%s", err, out)
	}
}

func TestVerifyInvalid(t *testing.T) {
	dir, signer := keygenDir(t, "3")
	key, err := license.Sign(*signer, license.Claims{Product: 7, Major: 1, Seats: 1, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}

	// Change one character of the signature (not the last, whose low bits
	// may be padding), to another that decodes differently.
	i := len(key) - 10
	for key[i] == '-' {
		i--
	}
	repl := byte('0')
	if key[i] == '0' {
		repl = '2'
	}
	tampered := key[:i] + string(repl) + key[i+1:]
	out, err := runCmd(t, "", "verify", "-keys", dir, tampered)
	if !errors.Is(err, license.ErrBadSignature) {
		t.Errorf("verify of a tampered key = %v, want ErrBadSignature", err)
	}
	if strings.Contains(out, "valid key") {
		t.Errorf("verify of a tampered key printed %q", out)
	}

	// A key from another key pair with the same id.
	otherDir, _ := keygenDir(t, "3")
	if _, err := runCmd(t, "", "verify", "-keys", otherDir, key); !errors.Is(err, license.ErrBadSignature) {
		t.Errorf("verify with another key pair = %v, want ErrBadSignature", err)
	}
	// A key signed with an id the directory does not have.
	unknownDir, _ := keygenDir(t, "9")
	if _, err := runCmd(t, "", "verify", "-keys", unknownDir, key); !errors.Is(err, license.ErrUnknownKey) {
		t.Errorf("verify with an unknown key id = %v, want ErrUnknownKey", err)
	}
	for _, bad := range []string{"", "not a key", key[:len(key)/2]} {
		if out, err := runCmd(t, "", "verify", "-keys", dir, bad); err == nil || strings.Contains(out, "valid key") {
			t.Errorf("verify %q = %v, %q", bad, err, out)
		}
	}
	if _, err := runCmd(t, "", "verify", "-keys", filepath.Join(dir, "missing"), key); err == nil {
		t.Error("verify with a missing keys directory succeeded")
	}
	for _, args := range [][]string{{"verify"}, {"verify", "-keys", dir}, {"verify", "-keys", dir, key, key}, {"verify", "-x", key}} {
		if _, err := runCmd(t, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args[1:], err)
		}
	}
}

var bcryptHash = regexp.MustCompile(`^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}\n$`)

func TestHashPassword(t *testing.T) {
	for stdin, password := range map[string]string{
		"long-enough-pw\n":          "long-enough-pw",
		"long-enough-pw\r\n":        "long-enough-pw", // typed on Windows
		"no newline at EOF":         "no newline at EOF",
		"two\tlines ok\nand more\n": "two\tlines ok", // only the first line counts
	} {
		t.Run("", func(t *testing.T) {
			t.Parallel() // bcrypt at the default cost is slow under -race
			out, err := runCmd(t, stdin, "hash-password")
			if err != nil {
				t.Fatalf("hash-password %q: %v", stdin, err)
			}
			if !bcryptHash.MatchString(out) {
				t.Fatalf("hash-password %q printed %q, want one bcrypt hash", stdin, out)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte(password)); err != nil {
				t.Errorf("hash-password %q: hash does not match %q: %v", stdin, password, err)
			}
		})
	}
	for _, stdin := range []string{"", "\n", "short\n", "1234567\n", "1234567\r\n"} {
		if out, err := runCmd(t, stdin, "hash-password"); err == nil || out != "" {
			t.Errorf("hash-password %q = %q, %v; want an error and no output", stdin, out, err)
		}
	}
}

func TestDemoConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".data") // created as needed
	path := filepath.Join(dir, "keysmith.yaml")
	pw, err := demoConfig(path)
	if err != nil {
		t.Fatalf("demoConfig: %v", err)
	}
	if len(pw) < 8 {
		t.Errorf("demo password %q is too short", pw)
	}
	if url.QueryEscape(pw) != pw {
		t.Errorf("demo password %q needs escaping in the printed curl command", pw)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load of the demo config: %v", err)
	}
	p, ok := c.Provider("ShareIt")
	if !ok {
		t.Fatal("demo config has no shareit provider")
	}
	if p.User != "shareit" || bcrypt.CompareHashAndPassword([]byte(p.PasswordHash), []byte(pw)) != nil {
		t.Error("the demo password does not match the demo provider's hash")
	}
	if _, ok := c.Product(1, 1, 0); !ok {
		t.Error("demo config has no product 1 1.0")
	}
	if p.Products["300000001"] == "" {
		t.Error("demo config maps no PRODUCT_ID 300000001, which the printed curl command uses")
	}
	for _, f := range []string{path, filepath.Join(dir, "demo-password")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", f, fi.Mode().Perm())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "demo-password")); string(b) != pw+"\n" {
		t.Errorf("demo-password file holds %q", b)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), pw) {
		t.Error("the config file contains the plain password")
	}

	// A second start keeps the configuration and prints the same password.
	before, _ := os.ReadFile(path)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	pw2, err := demoConfig(path)
	if err != nil {
		t.Fatalf("second demoConfig: %v", err)
	}
	if pw2 != pw {
		t.Errorf("second demoConfig returned %q, want %q", pw2, pw)
	}
	after, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !fi.ModTime().Equal(old) {
		t.Error("second demoConfig rewrote the config file")
	}
}

func TestDemoConfigKeepsOwnConfig(t *testing.T) {
	// A configuration the user wrote (no demo-password beside it) is left alone.
	path := filepath.Join(t.TempDir(), "keysmith.yaml")
	own := []byte("# mine\n")
	if err := os.WriteFile(path, own, 0o600); err != nil {
		t.Fatal(err)
	}
	pw, err := demoConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if pw != "<your is_pwd>" {
		t.Errorf("demoConfig = %q, want the placeholder", pw)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, own) {
		t.Error("demoConfig overwrote the user's configuration")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "demo-password")); !os.IsNotExist(err) {
		t.Errorf("demoConfig wrote a demo-password beside the user's configuration: %v", err)
	}
}

func TestDemoSigningKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := demoSigningKey(dir); err != nil {
		t.Fatal(err)
	}
	signer, _, err := license.LoadDir(dir)
	if err != nil || signer == nil || signer.ID != 1 {
		t.Fatalf("after demoSigningKey: %v, %v", signer, err)
	}
	// A second start keeps the key.
	if err := demoSigningKey(dir); err != nil {
		t.Fatal(err)
	}
	again, _, err := license.LoadDir(dir)
	if err != nil || !again.Private.Equal(signer.Private) {
		t.Errorf("second demoSigningKey changed the key: %v", err)
	}
}

func TestCreateDatabase(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.AdminURL())
	if err != nil {
		t.Fatalf("connect to postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })

	name := "keysmith_cmd_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	exists := func() bool {
		t.Helper()
		var ok bool
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if exists() {
		t.Fatalf("database %s exists already", name)
	}
	if err := store.CreateDatabase(ctx, u.String()); err != nil {
		t.Fatalf("store.CreateDatabase: %v", err)
	}
	if !exists() {
		t.Fatal("store.CreateDatabase did not create the database")
	}
	// The next start finds it.
	if err := store.CreateDatabase(ctx, u.String()); err != nil {
		t.Errorf("store.CreateDatabase of an existing database: %v", err)
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect to the new database: %v", err)
	}
	conn.Close(ctx)

	if err := store.CreateDatabase(ctx, "postgres://[bad"); err == nil {
		t.Error("store.CreateDatabase accepted a malformed URL")
	}
}

func TestPrintDemo(t *testing.T) {
	var out bytes.Buffer
	printDemo(&out, ":8181", "PW123456")
	s := out.String()
	for _, want := range []string{"http://localhost:8181", "is_pwd=PW123456", "PRODUCT_ID=300000001", "is_productid=1&is_majorversion=1&is_minorversion=0"} {
		if !strings.Contains(s, want) {
			t.Errorf("printDemo output lacks %q:\n%s", want, s)
		}
	}
}
