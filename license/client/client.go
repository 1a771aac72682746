// Package client is a small client of keysmith's JSON API for
// applications written in Go: activate a key on this computer, validate it
// online (a signed answer carrying the client's nonce, so neither a forged
// nor a replayed answer passes), release the seat. It uses the standard
// library only, like package license.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/keysmith/keysmith/license"
)

// The wire types of /v1/activate, /v1/validate and /v1/release.
type (
	ActivateRequest struct {
		Key          string `json:"key"`
		ComputerID   string `json:"computer_id"`
		ComputerName string `json:"computer_name,omitempty"`
		AppVersion   string `json:"app_version,omitempty"`
	}
	// ExchangeRequest asks for the keysmith key of a license imported from
	// QLM, by its QLM (legacy) key, as QLM's GetActivationKeyFromLegacyKey.
	ExchangeRequest struct {
		LegacyKey    string `json:"legacy_key"`
		ComputerID   string `json:"computer_id"`
		ComputerName string `json:"computer_name,omitempty"`
	}
	// ExchangeResponse is the keysmith key (with a renewal's later expiry
	// when the subscription was renewed), the same every time.
	ExchangeResponse struct {
		Key     string `json:"key"`
		Seats   int    `json:"seats"`
		Expires string `json:"expires,omitempty"`
	}
	ActivateResponse struct {
		License string `json:"license"` // the computer license, verifiable offline
		Seat    int    `json:"seat"`
		Seats   int    `json:"seats"`
		CheckBy string `json:"check_by"` // yyyy-mm-dd
		Expires string `json:"expires,omitempty"`
		Reused  bool   `json:"reused"` // this computer held the seat already
	}
	ValidateRequest struct {
		Key        string `json:"key"`
		ComputerID string `json:"computer_id"`
		Nonce      string `json:"nonce"` // 16-128 bytes, new for every request
	}
	ReleaseRequest struct {
		Key        string `json:"key"`
		ComputerID string `json:"computer_id"`
	}
)

// Validation is what the server says of a key on a computer, signed.
type Validation struct {
	Status     string `json:"status"` // valid, revoked, expired, not_activated, on_hold, unknown
	Nonce      string `json:"nonce"`
	CheckedAt  string `json:"checked_at"` // RFC 3339
	ComputerID string `json:"computer_id"`
	// For a key the server issued:
	Serial      string `json:"serial,omitempty"`
	Product     uint32 `json:"product,omitempty"`
	Version     string `json:"version,omitempty"`
	Features    string `json:"features,omitempty"`
	Model       string `json:"model,omitempty"`
	Seats       int    `json:"seats,omitempty"`
	SeatsUsed   int    `json:"seats_used"`
	SeatsFree   int    `json:"seats_free"`
	Seat        int    `json:"seat,omitempty"` // this computer's
	Expires     string `json:"expires,omitempty"`
	Maintenance string `json:"maintenance,omitempty"`
}

// Client talks to one keysmith server.
type Client struct {
	BaseURL string          // https://keys.example.com
	Keys    license.Keyring // the public keys shipped in the application
	HTTP    *http.Client    // nil: http.DefaultClient
}

// Error is the server's refusal: its status and reason.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("keysmith: %d %s", e.Status, e.Reason) }

// Exchange returns the keysmith key of an imported license for its legacy
// (QLM) key; the application stores it and activates it from then on.
func (c *Client) Exchange(ctx context.Context, req ExchangeRequest) (string, error) {
	var resp ExchangeResponse
	if err := c.post(ctx, "/v1/exchange", req, &resp); err != nil {
		return "", err
	}
	if _, err := c.Keys.Verify(resp.Key); err != nil {
		if _, short := license.IsShortKey(resp.Key); !short {
			return "", fmt.Errorf("keysmith: the exchanged key does not verify: %w", err)
		}
	}
	return resp.Key, nil
}

// Activate activates key on this computer and returns the computer
// license, verified with Keys, and its text to keep.
func (c *Client) Activate(ctx context.Context, req ActivateRequest) (license.ComputerLicense, string, error) {
	var resp ActivateResponse
	if err := c.post(ctx, "/v1/activate", req, &resp); err != nil {
		return license.ComputerLicense{}, "", err
	}
	lic, err := c.Keys.VerifyComputer(resp.License)
	if err != nil {
		return license.ComputerLicense{}, "", err
	}
	if lic.ComputerID != req.ComputerID {
		return license.ComputerLicense{}, "", errors.New("keysmith: the license is for another computer")
	}
	return lic, resp.License, nil
}

// Validate asks the server about key on this computer, with a new nonce,
// and trusts the answer only if Keys verify it and it carries the nonce.
func (c *Client) Validate(ctx context.Context, key, computerID string) (Validation, error) {
	nonce := rand.Text()
	var signed license.SignedAnswer
	if err := c.post(ctx, "/v1/validate", ValidateRequest{Key: key, ComputerID: computerID, Nonce: nonce}, &signed); err != nil {
		return Validation{}, err
	}
	return CheckValidation(c.Keys, signed, nonce, computerID)
}

// CheckValidation verifies a signed validation answer against the nonce
// and computer the request sent.
func CheckValidation(keys license.Keyring, signed license.SignedAnswer, nonce, computerID string) (Validation, error) {
	body, err := keys.VerifyAnswer(signed)
	if err != nil {
		return Validation{}, err
	}
	var v Validation
	if err := json.Unmarshal(body, &v); err != nil {
		return Validation{}, fmt.Errorf("%w: %v", license.ErrMalformed, err)
	}
	if v.Nonce != nonce || v.ComputerID != computerID {
		return Validation{}, license.ErrReplayed
	}
	return v, nil
}

// Release frees the seat this computer holds.
func (c *Client) Release(ctx context.Context, key, computerID string) error {
	return c.post(ctx, "/v1/release", ReleaseRequest{Key: key, ComputerID: computerID}, nil)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		return &Error{Status: resp.StatusCode, Reason: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
