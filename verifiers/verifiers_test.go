// Package verifiers_test runs the license verifiers for other languages
// (verifiers/node, verifiers/python) against the committed test vectors
// (license/testdata/vectors.json), which the Go package passes too.
package verifiers_test

import (
	"os/exec"
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
