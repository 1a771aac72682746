package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

const (
	keyIDHeader    = "Key-Id"
	privatePEMType = "PRIVATE KEY"
	publicPEMType  = "PUBLIC KEY"
)

// SigningKey is a private key that signs license keys. Its ID is written
// into every key it signs, so that verifiers can pick the matching public key.
type SigningKey struct {
	ID      uint16
	Private ed25519.PrivateKey
}

// GenerateSigningKey returns a new random signing key with the given id.
func GenerateSigningKey(id uint16) (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return SigningKey{}, fmt.Errorf("license: generate key: %w", err)
	}
	return SigningKey{ID: id, Private: priv}, nil
}

// PublicKey returns the public half of k, or nil if k has no valid private key.
func (k SigningKey) PublicKey() ed25519.PublicKey {
	if k.check() != nil {
		return nil
	}
	return k.Private.Public().(ed25519.PublicKey)
}

// check guards the ed25519 functions, which panic on keys of the wrong size.
func (k SigningKey) check() error {
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("license: signing key %d is invalid", k.ID)
	}
	return nil
}

// MarshalPEM encodes k as a PKCS #8 "PRIVATE KEY" PEM block with a Key-Id
// header.
func (k SigningKey) MarshalPEM() ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	return encodePEM(privatePEMType, k.ID, der), nil
}

// ParseSigningKeyPEM parses a key written by [SigningKey.MarshalPEM].
func ParseSigningKeyPEM(data []byte) (SigningKey, error) {
	id, der, err := decodePEM(data, privatePEMType)
	if err != nil {
		return SigningKey{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return SigningKey{}, fmt.Errorf("license: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("license: private key is %T, want Ed25519", key)
	}
	return SigningKey{ID: id, Private: priv}, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" PEM block with a
// Key-Id header.
func MarshalPublicKeyPEM(id uint16, pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("license: public key %d is invalid", id)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	return encodePEM(publicPEMType, id, der), nil
}

// ParsePublicKeyPEM parses a key written by [MarshalPublicKeyPEM].
func ParsePublicKeyPEM(data []byte) (uint16, ed25519.PublicKey, error) {
	id, der, err := decodePEM(data, publicPEMType)
	if err != nil {
		return 0, nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return 0, nil, fmt.Errorf("license: %w", err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return 0, nil, fmt.Errorf("license: public key is %T, want Ed25519", key)
	}
	return id, pub, nil
}

func encodePEM(typ string, id uint16, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{
		Type:    typ,
		Headers: map[string]string{keyIDHeader: strconv.FormatUint(uint64(id), 10)},
		Bytes:   der,
	})
}

// decodePEM returns the key id and contents of the single PEM block in data.
func decodePEM(data []byte, typ string) (uint16, []byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return 0, nil, errors.New("license: no PEM block found")
	}
	if block.Type != typ {
		return 0, nil, fmt.Errorf("license: PEM block is %q, want %q", block.Type, typ)
	}
	// One key per file keeps it obvious which key a file holds.
	if len(bytes.TrimSpace(rest)) != 0 {
		return 0, nil, errors.New("license: data after PEM block")
	}
	text, ok := block.Headers[keyIDHeader]
	if !ok {
		return 0, nil, fmt.Errorf("license: PEM block has no %s header", keyIDHeader)
	}
	id, err := strconv.ParseUint(text, 10, 16)
	if err != nil {
		return 0, nil, fmt.Errorf("license: bad %s header %q", keyIDHeader, text)
	}
	return uint16(id), block.Bytes, nil
}

// LoadDir loads every *.pem file in dir. All keys go into ring, private
// keys by their public half, and signer is the private key with the highest
// id, or nil if there is none.
//
// To rotate keys, add a private key with a higher id (see [WriteKeyPair]):
// it signs new license keys from then on. Keep the old public keys in dir,
// and in the apps, so that the license keys they signed still verify. The
// old private keys can be removed.
func LoadDir(dir string) (signer *SigningKey, ring Keyring, err error) {
	return LoadDirRetiring(dir, nil)
}

// LoadDirRetiring is LoadDir whose signer is the highest-id private key
// that retired does not name (a compromised key stays in the ring, so
// that its keys can be recognized, but signs nothing more).
func LoadDirRetiring(dir string, retired func(id uint16) bool) (signer *SigningKey, ring Keyring, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("license: %w", err)
	}
	ring = Keyring{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".pem" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		id, pub, priv, err := readKeyFile(path)
		if err != nil {
			return nil, nil, err
		}
		if old, ok := ring[id]; ok && !old.Equal(pub) {
			return nil, nil, fmt.Errorf("license: %s: another key has id %d", path, id)
		}
		ring[id] = pub
		if priv != nil && (retired == nil || !retired(priv.ID)) && (signer == nil || priv.ID > signer.ID) {
			signer = priv
		}
	}
	return signer, ring, nil
}

// readKeyFile reads a public or private key file; priv is nil for a public key.
func readKeyFile(path string) (id uint16, pub ed25519.PublicKey, priv *SigningKey, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("license: %w", err)
	}
	if block, _ := pem.Decode(data); block != nil && block.Type == privatePEMType {
		k, err := ParseSigningKeyPEM(data)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return k.ID, k.PublicKey(), &k, nil
	}
	id, pub, err = ParsePublicKeyPEM(data)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, pub, nil, nil
}

// WriteKeyPair writes k to dir as signing-<id>.pem, readable only by its
// owner, and its public half as public-<id>.pem. It never overwrites a
// file, since that could destroy a key still needed to verify old license
// keys.
func WriteKeyPair(dir string, k SigningKey) error {
	private, err := k.MarshalPEM()
	if err != nil {
		return err
	}
	public, err := MarshalPublicKeyPEM(k.ID, k.PublicKey())
	if err != nil {
		return err
	}
	privatePath := filepath.Join(dir, fmt.Sprintf("signing-%d.pem", k.ID))
	publicPath := filepath.Join(dir, fmt.Sprintf("public-%d.pem", k.ID))
	if err := writeNewFile(privatePath, private, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(publicPath, public, 0o644); err != nil {
		os.Remove(privatePath) // leave no half-written pair behind
		return err
	}
	return nil
}

// writeNewFile writes data to a file that must not exist yet, syncing it
// because losing a freshly made key after a crash would be costly.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("license: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("license: %w", err)
	}
	return nil
}
