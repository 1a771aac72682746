package license

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A computer license is what activation returns: the key's claims bound to
// one computer and one seat, signed like keys are, and verifiable offline.
// The application keeps it, trusts it until CheckBy, and then asks the
// server again (validation), which is how a revoked key's computers learn.
//
// Its payload is the key's payload (format 2, see the package
// documentation) with the key's own signing-key id, followed by:
//
//	computer marker  byte, 'C'
//	seat             uvarint, 1 to the key's seats
//	issued, check-by uvarint each, days since 2020-01-01 UTC
//	computer id      uvarint length, then the bytes (at most 256)
//
// and the 64-byte Ed25519 signature of the server's current signing key
// (whose id the payload's key-id field then names).
type ComputerLicense struct {
	Key        Claims    // the activated key's claims; Key.KeyID is the signer of the license
	ComputerID string    // as the application sent it
	Seat       uint32    // the seat this computer holds, from 1
	Issued     time.Time // the day of activation
	CheckBy    time.Time // ask the server again before this day
}

const (
	computerMarker  = 'C'
	maxComputerID   = 256
	computerVersion = 2 // the key payload's format inside
)

// ErrNotComputerLicense is returned by VerifyComputer for a plain key.
var ErrNotComputerLicense = errors.New("license: not a computer license")

// SignComputer signs a computer license with k.
func SignComputer(k SigningKey, c ComputerLicense) (string, error) {
	if err := k.check(); err != nil {
		return "", err
	}
	if c.ComputerID == "" || len(c.ComputerID) > maxComputerID {
		return "", fmt.Errorf("license: computer id must be 1 to %d bytes", maxComputerID)
	}
	if c.Seat == 0 || c.Seat > c.Key.Seats {
		return "", fmt.Errorf("license: seat %d outside 1-%d", c.Seat, c.Key.Seats)
	}
	payload, err := c.Key.marshal(k.ID)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	issued, err := dayNumber(c.Issued, false)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	checkBy, err := dayNumber(c.CheckBy, true)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	if checkBy <= issued {
		return "", errors.New("license: check-by day must be after the issue day")
	}
	payload = append(payload, computerMarker)
	payload = binary.AppendUvarint(payload, uint64(c.Seat))
	payload = binary.AppendUvarint(payload, issued)
	payload = binary.AppendUvarint(payload, checkBy)
	payload = binary.AppendUvarint(payload, uint64(len(c.ComputerID)))
	payload = append(payload, c.ComputerID...)
	return encode(append(payload, ed25519.Sign(k.Private, payload)...)), nil
}

// VerifyComputer checks a computer license's format and signature and
// returns it. It does not check the computer id against the running
// computer, nor the dates: the application does (CheckBy, Key.Expired).
func (r Keyring) VerifyComputer(s string) (ComputerLicense, error) {
	payload, sig, err := decodeSigned(s)
	if err != nil {
		return ComputerLicense{}, err
	}
	d := decoder{buf: payload}
	key, err := d.claims()
	if err != nil {
		return ComputerLicense{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(d.buf) == 0 {
		return ComputerLicense{}, ErrNotComputerLicense
	}
	if d.byte() != computerMarker {
		return ComputerLicense{}, fmt.Errorf("%w: no computer marker", ErrMalformed)
	}
	c := ComputerLicense{Key: key}
	c.Seat = uint32(d.uvarint(uint64(key.Seats)))
	issued := d.uvarint(maxDay)
	checkBy := d.uvarint(maxDay)
	n := d.uvarint(maxComputerID)
	if d.err == nil && uint64(len(d.buf)) != n {
		d.err = errors.New("computer id length does not match")
	}
	if d.err != nil {
		return ComputerLicense{}, fmt.Errorf("%w: %v", ErrMalformed, d.err)
	}
	c.ComputerID = string(d.buf)
	if c.Seat == 0 || n == 0 || checkBy <= issued {
		return ComputerLicense{}, fmt.Errorf("%w: bad seat, computer id or dates", ErrMalformed)
	}
	c.Issued, c.CheckBy = dayDate(issued), dayDate(checkBy)
	if err := r.verify(key.KeyID, payload, sig); err != nil {
		return ComputerLicense{}, err
	}
	return c, nil
}
