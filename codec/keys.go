package codec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// keyFile names a key file in a keys folder: codec-<id>.key, holding the
// key in base64 (so that it fits an environment variable or a secret).
var keyFile = regexp.MustCompile(`^codec-([0-9]+)\.key$`)

// LoadDir reads every codec-<id>.key in dir.
func LoadDir(dir string) (map[uint32][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("codec keys: %w", err)
	}
	keys := map[uint32][]byte{}
	for _, e := range entries {
		m := keyFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		id, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("codec keys: %s: bad id", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("codec keys: %w", err)
		}
		if keys[uint32(id)], err = decodeKey(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("codec keys: %s: %w", e.Name(), err)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("codec keys: no codec-<id>.key in %s (keysmith codec-key -dir %s)", dir, dir)
	}
	return keys, nil
}

// ParseKeys reads keys from text such as an environment variable:
// "1:<base64>,2:<base64>".
func ParseKeys(s string) (map[uint32][]byte, error) {
	keys := map[uint32][]byte{}
	for part := range strings.SplitSeq(s, ",") {
		idText, key, ok := strings.Cut(strings.TrimSpace(part), ":")
		id, err := strconv.ParseUint(idText, 10, 32)
		if !ok || err != nil {
			return nil, errors.New("codec keys: want id:base64key, comma-separated")
		}
		if keys[uint32(id)], err = decodeKey(key); err != nil {
			return nil, fmt.Errorf("codec keys: key %d: %w", id, err)
		}
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// WriteKey creates a new random key codec-<id>.key in dir, readable by its
// owner only; it refuses to replace one.
func WriteKey(dir string, id uint32) (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("codec-%d.key", id))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
