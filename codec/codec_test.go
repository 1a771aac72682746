package codec_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/keysmith/keysmith/codec"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, codec.KeySize) }

func payloads(t *testing.T, values ...any) []*commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(values...)
	if err != nil {
		t.Fatal(err)
	}
	return p.Payloads
}

func TestRoundTripHidesData(t *testing.T) {
	c, err := codec.New(map[uint32][]byte{1: key(1)})
	if err != nil {
		t.Fatal(err)
	}
	in := payloads(t, "juergen@example.com", map[string]int{"seats": 3})
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range enc {
		if bytes.Contains(p.GetData(), []byte("juergen")) || bytes.Contains(p.GetData(), []byte("json/plain")) {
			t.Fatalf("encoded payload holds the plain text: %q", p.GetData())
		}
		if string(p.GetMetadata()["encoding"]) != "binary/encrypted" || string(p.GetMetadata()["encryption-key-id"]) != "1" {
			t.Errorf("metadata %q", p.GetMetadata())
		}
	}
	again, _ := c.Encode(in)
	if bytes.Equal(again[0].GetData(), enc[0].GetData()) {
		t.Error("two encryptions of one payload are equal: the nonce is not random")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	var email string
	var m map[string]int
	if err := converter.GetDefaultDataConverter().FromPayloads(&commonpb.Payloads{Payloads: dec}, &email, &m); err != nil {
		t.Fatal(err)
	}
	if email != "juergen@example.com" || m["seats"] != 3 {
		t.Errorf("decoded %q %v", email, m)
	}
}

// Rotation: the newest key encrypts; payloads of the older one still
// decode; a ring without the key that encrypted refuses.
func TestRotation(t *testing.T) {
	old, _ := codec.New(map[uint32][]byte{1: key(1)})
	rotated, err := codec.New(map[uint32][]byte{1: key(1), 2: key(2)})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID() != 2 {
		t.Errorf("KeyID = %d, want the newest, 2", rotated.KeyID())
	}
	fromOld, _ := old.Encode(payloads(t, "a"))
	fromNew, _ := rotated.Encode(payloads(t, "b"))
	if string(fromNew[0].GetMetadata()["encryption-key-id"]) != "2" {
		t.Error("new payloads are not under the newest key")
	}
	if _, err := rotated.Decode(fromOld); err != nil {
		t.Errorf("the rotated ring cannot read the old key's payload: %v", err)
	}
	if _, err := old.Decode(fromNew); err == nil || !strings.Contains(err.Error(), `no key "2"`) {
		t.Errorf("a ring without key 2 decoded its payload: %v", err)
	}
}

func TestTamperedAndForeignPayloads(t *testing.T) {
	c, _ := codec.New(map[uint32][]byte{1: key(1), 2: key(2)})
	enc, _ := c.Encode(payloads(t, "secret"))

	flipped := &commonpb.Payload{Metadata: enc[0].GetMetadata(), Data: bytes.Clone(enc[0].GetData())}
	flipped.Data[len(flipped.Data)-1] ^= 1
	moved := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("1")}, Data: enc[0].GetData()}
	short := &commonpb.Payload{Metadata: enc[0].GetMetadata(), Data: []byte{1, 2}}
	for name, p := range map[string]*commonpb.Payload{"flipped bit": flipped, "other key id": moved, "too short": short} {
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// Payloads written before encryption pass through.
	plain := payloads(t, "old history")
	dec, err := c.Decode(plain)
	if err != nil || dec[0] != plain[0] {
		t.Errorf("a plain payload did not pass through: %v", err)
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	for name, keys := range map[string]map[uint32][]byte{
		"none":      {},
		"too short": {1: []byte("short")},
		"too long":  {1: make([]byte, 33)},
	} {
		if _, err := codec.New(keys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKeysFromFilesAndText(t *testing.T) {
	dir := t.TempDir()
	if _, err := codec.LoadDir(dir); err == nil {
		t.Error("LoadDir of an empty folder succeeded")
	}
	for _, id := range []uint32{1, 7} {
		path, err := codec.WriteKey(dir, id)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", path, fi.Mode().Perm())
		}
	}
	if _, err := codec.WriteKey(dir, 1); err == nil {
		t.Error("WriteKey replaced an existing key")
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o600) //nolint:errcheck // ignored file
	keys, err := codec.LoadDir(dir)
	if err != nil || len(keys) != 2 || len(keys[7]) != codec.KeySize {
		t.Fatalf("LoadDir = %d keys, %v", len(keys), err)
	}
	c, _ := codec.New(keys)
	if c.KeyID() != 7 {
		t.Errorf("KeyID = %d", c.KeyID())
	}

	b64 := base64.StdEncoding.EncodeToString(key(3))
	parsed, err := codec.ParseKeys("1:" + b64 + ", 2:" + base64.StdEncoding.EncodeToString(key(4)))
	if err != nil || len(parsed) != 2 || !bytes.Equal(parsed[1], key(3)) {
		t.Errorf("ParseKeys = %v, %v", parsed, err)
	}
	for _, bad := range []string{"", "1", "x:" + b64, "1:not-base64!", "1:" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := codec.ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
	os.WriteFile(filepath.Join(dir, "codec-9.key"), []byte("garbage"), 0o600) //nolint:errcheck // checked below
	if _, err := codec.LoadDir(dir); err == nil || !strings.Contains(err.Error(), "codec-9.key") {
		t.Errorf("LoadDir with a bad file: %v", err)
	}
}

// BenchmarkRoundTrip: what the codec adds to one order line's payload (the
// workflow input, about 1.5 KB of JSON), encrypted and decrypted once.
func BenchmarkRoundTrip(b *testing.B) {
	c, _ := codec.New(map[uint32][]byte{1: key(1)})
	p, _ := converter.GetDefaultDataConverter().ToPayloads(map[string]string{
		"fields": strings.Repeat("x", 1500),
	})
	b.SetBytes(int64(len(p.Payloads[0].GetData())))
	for b.Loop() {
		enc, err := c.Encode(p.Payloads)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
