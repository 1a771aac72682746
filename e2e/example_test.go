package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// The examples (Go, C, C#, Node.js, Python), as an application runs them against the
// real API: verify offline and activate; then trust the computer license
// offline (the server unreachable); re-check online; and, once the key is
// revoked, learn it at the next check.
func TestExamples(t *testing.T) {
	goExample := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", goExample, "../verifiers/go").CombinedOutput(); err != nil {
		t.Fatalf("build the Go example: %v\n%s", err, out)
	}
	cExample := filepath.Join(t.TempDir(), "example-c")
	if out, err := exec.Command("cc", "-Wall", "-Werror", "-O2", "-o", cExample, "../verifiers/c/example.c", "../verifiers/c/keysmith.c",
		"-lsodium", "-lcurl", "-ljansson").CombinedOutput(); err != nil {
		t.Fatalf("build the C example (make test installs libcurl4-openssl-dev and libjansson-dev): %v\n%s", err, out)
	}
	csExample := filepath.Join(t.TempDir(), "example.exe")
	if out, err := exec.Command("mcs", "-langversion:7", "-warnaserror", "-r:System.Runtime.Serialization", "-out:"+csExample,
		"../verifiers/csharp/Keysmith.cs", "../verifiers/csharp/Example.cs").CombinedOutput(); err != nil {
		t.Fatalf("build the C# example (make test installs mono-mcs): %v\n%s", err, out)
	}
	for _, cmd := range [][]string{{goExample, ""}, {cExample, ""}, {"mono", csExample}, {"node", "../verifiers/node/example.mjs"}, {"/usr/bin/python3", "../verifiers/python/example.py"}} {
		t.Run(filepath.Base(cmd[0]+cmd[1]), func(t *testing.T) { runExample(t, cmd) })
	}
}

func runExample(t *testing.T, cmd []string) {
	s := newStack(t)
	key := s.savedKey(2)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	resp, err := http.Get(s.api.URL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	published, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, published, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "license.json")
	run := func(server string, extra ...string) (string, bool) {
		args := append([]string{cmd[1], server, key, keys, "MB-4711", state}, extra...)
		if cmd[1] == "" {
			args = args[1:]
		}
		out, err := exec.Command(cmd[0], args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	if out, ok := run(s.api.URL); !ok || !strings.Contains(out, "activated") {
		t.Fatalf("first run: %s", out)
	}
	if out, ok := run("http://127.0.0.1:1"); !ok || !strings.Contains(out, "offline until") {
		t.Errorf("offline run: %s", out)
	}
	if out, ok := run(s.api.URL, "--recheck"); !ok || !strings.Contains(out, "checked online") {
		t.Errorf("re-check: %s", out)
	}
	line := order.Name("shareit", s.purchase(1), "1")
	if _, _, err := workflows.Revoke(context.Background(), s.app.Temporal, s.app.Env.TaskQueue,
		workflows.RevokeRequest{Line: line, Actor: "Rita Refunds", Reason: "chargeback"}, "cb-1"); err != nil {
		t.Fatal(err)
	}
	if out, ok := run(s.api.URL, "--recheck"); ok || !strings.Contains(out, "not licensed: the key is revoked") {
		t.Errorf("re-check after revocation: %v %s", ok, out)
	}
	if out, ok := run(s.api.URL, "--recheck"); ok {
		t.Errorf("a revoked key stays revoked: %s", out)
	}
}
