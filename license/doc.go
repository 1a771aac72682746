// Package license creates and verifies keysmith license keys.
//
// A license key is self-describing and verifies offline: it carries its
// claims (product, version, QLM feature sets, seats, license model and
// binding, dates, maintenance plan, serial number) and an Ed25519 signature
// over them. Apps need only the public key to check a key; no server is
// involved.
//
// # Format
//
// A key is a binary payload followed by the 64-byte Ed25519 signature of
// the payload. The payload is, in order:
//
//	format version   byte, 2
//	signing key id   uvarint
//	product id       uvarint
//	major, minor     uvarint each
//	feature sets     4 bytes, QLM sets 0-3, each a bitmask
//	seats            uvarint, at least 1
//	license model    byte: 0 permanent, 1 trial, 2 subscription
//	binding          byte: 0 computer, 1 floating, 2 cloud
//	issued, expires  uvarint each, days since 2020-01-01 UTC; expires 0 is never
//	maintenance      uvarint, days since 2020-01-01 UTC, not before issued; 0 is none
//	serial           8 bytes, big-endian
//
// Format version 1, written by earlier releases, lacks the binding and
// maintenance fields; [Keyring.Verify] reads it as binding computer with no
// maintenance plan. [Sign] always writes version 2.
//
// The bytes are written in Crockford base32, uppercase, in dash-separated
// groups of five characters; a typical key is 177 characters long. Reading
// is forgiving: case, dashes and whitespace do not matter, and I, L and O
// are read as 1, 1 and 0.
//
// # Verifying keys in an app
//
// Embed the public key file that keysmith wrote (public-<id>.pem) and
// build a [Keyring] from it:
//
//	//go:embed public-1.pem
//	var publicKeyPEM []byte
//
//	func checkLicense(key string) (license.Claims, error) {
//		id, pub, err := license.ParsePublicKeyPEM(publicKeyPEM)
//		if err != nil {
//			return license.Claims{}, err
//		}
//		ring := license.Keyring{id: pub}
//		claims, err := ring.Verify(key)
//		if err != nil {
//			return license.Claims{}, err
//		}
//		if claims.Expired(time.Now()) {
//			return license.Claims{}, errors.New("license expired")
//		}
//		return claims, nil
//	}
//
// After a key rotation, add the new public key to the ring and keep the
// old ones, so that keys sold before the rotation stay valid. Verify checks
// only the signature and format: the app decides what the claims allow,
// such as whether the product and version match and the key has not expired.
package license
