// Package verifiers_test runs the license verifiers for other languages
// (verifiers/node, verifiers/python, verifiers/c) against the committed test vectors
// (license/testdata/vectors.json), which the Go package passes too.
package verifiers_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const vectors = "../license/testdata/vectors.json"

func TestVerifiers(t *testing.T) {
	for _, v := range []struct {
		name string
		cmd  []string
	}{
		{"node", []string{"node", "node/vectors.mjs", vectors}},
		// Debian's Python, where python3-cryptography is installed.
		{"python", []string{"/usr/bin/python3", "python/vectors.py", vectors}},
	} {
		t.Run(v.name, func(t *testing.T) {
			if _, err := exec.LookPath(v.cmd[0]); err != nil {
				t.Fatalf("%s is not installed (make test installs it): %v", v.cmd[0], err)
			}
			out, err := exec.Command(v.cmd[0], v.cmd[1:]...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), " passed, 0 failed") {
				t.Fatalf("%s: %v\n%s", strings.Join(v.cmd, " "), err, out)
			}
			t.Log(strings.TrimSpace(string(out)))
		})
	}
}

// vectorFile is the part of the vectors the C verifier's test reads.
type vectorFile struct {
	PublicKeys []struct {
		ID        int    `json:"id"`
		PublicKey string `json:"public_key"`
	} `json:"public_keys"`
	Keys []struct {
		Name   string          `json:"name"`
		Text   string          `json:"text"`
		Valid  bool            `json:"valid"`
		Claims json.RawMessage `json:"claims"`
	} `json:"keys"`
	ComputerLicenses []struct {
		Name       string          `json:"name"`
		Text       string          `json:"text"`
		Valid      bool            `json:"valid"`
		Key        json.RawMessage `json:"key"`
		ComputerID string          `json:"computer_id"`
		Seat       int             `json:"seat"`
		Issued     string          `json:"issued"`
		CheckBy    string          `json:"check_by"`
	} `json:"computer_licenses"`
	Answers []struct {
		Name   string `json:"name"`
		Valid  bool   `json:"valid"`
		Body   string `json:"body"`
		Signed struct {
			Answer    string `json:"answer"`
			KeyID     int    `json:"key_id"`
			Signature string `json:"signature"`
		} `json:"signed"`
	} `json:"answers"`
}

// The C verifier (libsodium), built here, against the same vectors.
func TestCVerifier(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "vectors")
	if out, err := exec.Command("cc", "-Wall", "-Werror", "-O2", "-o", bin, "c/vectors.c", "c/keysmith.c", "-lsodium").CombinedOutput(); err != nil {
		t.Fatalf("build the C verifier (make test installs libsodium-dev): %v\n%s", err, out)
	}
	checkCommand(t, "c", bin)
}

// The C# verifier, built by Mono's compiler, against the same vectors.
func TestCSharpVerifier(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "vectors.exe")
	if out, err := exec.Command("mcs", "-langversion:7", "-warnaserror", "-out:"+exe, "csharp/Keysmith.cs", "csharp/Vectors.cs").CombinedOutput(); err != nil {
		t.Fatalf("build the C# verifier (make test installs mono-mcs): %v\n%s", err, out)
	}
	checkCommand(t, "c#", "mono", exe)
}

// checkCommand runs every vector through a verifier command that takes
// "key|computer|answer ID:BASE64... -- TEXT" and prints the decoding as JSON
// (verifiers/c/vectors.c, verifiers/csharp/Vectors.cs).
func checkCommand(t *testing.T, name string, command ...string) {
	b, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var ring []string
	for _, k := range v.PublicKeys {
		ring = append(ring, fmt.Sprintf("%d:%s", k.ID, k.PublicKey))
	}
	run := func(kind, text string) (string, bool) {
		args := append(append(append(command[1:len(command):len(command)], kind), ring...), "--", text)
		out, err := exec.Command(command[0], args...).Output()
		return strings.TrimSpace(string(out)), err == nil
	}
	sameJSON := func(a, b string) bool {
		var x, y any
		return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
	}
	passed := 0
	for _, k := range v.Keys {
		out, ok := run("key", k.Text)
		if ok != k.Valid || (ok && !sameJSON(out, string(k.Claims))) {
			t.Errorf("key %q: %v %s", k.Name, ok, out)
			continue
		}
		passed++
	}
	for _, l := range v.ComputerLicenses {
		out, ok := run("computer", l.Text)
		want := fmt.Sprintf(`{"key":%s,"computer_id":%q,"seat":%d,"issued":%q,"check_by":%q}`, l.Key, l.ComputerID, l.Seat, l.Issued, l.CheckBy)
		if ok != l.Valid || (ok && !sameJSON(out, want)) {
			t.Errorf("computer license %q: %v %s", l.Name, ok, out)
			continue
		}
		passed++
	}
	for _, a := range v.Answers {
		out, ok := run("answer", fmt.Sprintf("%d:%s:%s", a.Signed.KeyID, a.Signed.Answer, a.Signed.Signature))
		if ok != a.Valid || (ok && out != a.Body) {
			t.Errorf("answer %q: %v %s", a.Name, ok, out)
			continue
		}
		passed++
	}
	t.Logf("%s: %d passed", name, passed)
}
