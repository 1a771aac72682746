// Command example is what an application written in Go does with
// keysmith, with packages license and license/client: verify the key
// offline first, activate once (keeping the computer license), trust that
// license until its check-by day, then re-check online (a signed answer
// carrying a new nonce) and stop once the key is revoked.
//
//	go run ./verifiers/go SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]
//
// PUBLIC_KEYS.json is GET /v1/keys as shipped with the application. It
// prints "licensed: ..." and exits 0, or "not licensed: ..." and exits 1.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/license/client"
)

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: example SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]")
		os.Exit(2)
	}
	server, key, keysFile, computer, stateFile := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	recheck := len(os.Args) > 6 && os.Args[6] == "--recheck"
	if msg, err := check(server, key, keysFile, computer, stateFile, recheck); err != nil {
		fmt.Println("not licensed:", err)
		os.Exit(1)
	} else {
		fmt.Println("licensed:", msg)
	}
}

func check(server, key, keysFile, computer, stateFile string, recheck bool) (string, error) {
	ring, err := loadKeys(keysFile)
	if err != nil {
		return "", err
	}
	claims, err := ring.Verify(key)
	if err != nil {
		return "", fmt.Errorf("the key does not verify (%v)", err)
	}
	now := time.Now()
	if claims.Expired(now) {
		return "", fmt.Errorf("the key has expired")
	}
	c := &client.Client{BaseURL: server, Keys: ring}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if saved, err := os.ReadFile(stateFile); err == nil {
		lic, err := ring.VerifyComputer(string(saved))
		if err != nil || lic.ComputerID != computer {
			return "", fmt.Errorf("the saved license is not for this computer")
		}
		if now.Before(lic.CheckBy) && !recheck {
			return fmt.Sprintf("seat %d of %d, offline until %s", lic.Seat, lic.Key.Seats, lic.CheckBy.Format(time.DateOnly)), nil
		}
		v, err := c.Validate(ctx, key, computer) // a new nonce, checked with the signature
		if err != nil {
			return "", err
		}
		if v.Status != "valid" {
			return "", fmt.Errorf("the key is %s", v.Status)
		}
		return fmt.Sprintf("seat %d of %d, checked online", v.Seat, v.Seats), nil
	}
	lic, text, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: computer})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(stateFile, []byte(text), 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("seat %d of %d, activated, offline until %s", lic.Seat, lic.Key.Seats, lic.CheckBy.Format(time.DateOnly)), nil
}

// loadKeys reads GET /v1/keys's answer, as the application ships it.
func loadKeys(path string) (license.Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var published struct {
		Keys []struct {
			ID        uint16 `json:"id"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &published); err != nil {
		return nil, err
	}
	ring := license.Keyring{}
	for _, k := range published.Keys {
		pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil {
			return nil, err
		}
		ring[k.ID] = pub
	}
	return ring, nil
}
