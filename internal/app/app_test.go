package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
)

// TestNewRefusesUnreadableSigningKeys: no key directory is no signing key
// (the API only serves), but a directory that does not read must not start
// keysmith signing with the wrong key, or with none.
func TestNewRefusesUnreadableSigningKeys(t *testing.T) {
	cfg, err := testenv.Config()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Env{KeysDir: filepath.Join(t.TempDir(), "none")}, cfg, nil, nil, "default", nil, nil)
	if err != nil || a.signer != nil {
		t.Fatalf("no key directory: signer %v, error %v; want none and no error", a.signer, err)
	}

	dir := t.TempDir()
	k, err := license.GenerateSigningKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := license.WriteKeyPair(dir, k); err != nil {
		t.Fatal(err)
	}
	if a, err := New(Env{KeysDir: dir}, cfg, nil, nil, "default", nil, nil); err != nil || a.signer == nil {
		t.Fatalf("a good key: signer %v, error %v", a.signer, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("-----BEGIN NOTHING-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Env{KeysDir: dir}, cfg, nil, nil, "default", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "signing keys in "+dir) {
		t.Fatalf("a broken key file: error %v, want one naming the directory", err)
	}
}
