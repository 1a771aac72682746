package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/store"
)

// Validation and release through the Go client: a signed answer with the
// client's nonce (a replayed or tampered one is refused), seats used and
// free, "not activated" elsewhere, "unknown" for a key keysmith did not
// issue; a released seat can be taken by another computer, a few times.
func TestValidationAndRelease(t *testing.T) {
	s := newStack(t)
	key := s.savedKey(2)
	ctx := context.Background()
	c := &client.Client{BaseURL: s.api.URL, Keys: s.ring}

	lic, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-A"})
	if err != nil || lic.Seat != 1 {
		t.Fatalf("activate: %+v %v", lic, err)
	}
	v, err := c.Validate(ctx, key, "PC-A")
	if err != nil || v.Status != "valid" || v.Seat != 1 || v.SeatsUsed != 1 || v.SeatsFree != 1 || v.Seats != 2 || v.Product != 1 {
		t.Errorf("validate PC-A: %+v %v", v, err)
	}
	if v, err := c.Validate(ctx, key, "PC-B"); err != nil || v.Status != "not_activated" {
		t.Errorf("validate PC-B: %+v %v", v, err)
	}
	forged, _ := license.GenerateSigningKey(1)
	other, _ := license.Sign(forged, license.Claims{Product: 1, Major: 1, Seats: 5, Issued: time.Now(), Serial: 42})
	if v, err := c.Validate(ctx, other, "PC-A"); err != nil || v.Status != "unknown" || v.Serial != "" {
		t.Errorf("validate a forged key: %+v %v", v, err)
	}

	// A replayed answer (an old one, for another nonce) and a tampered one.
	nonce := "nonce-0123456789abcdef"
	status, body := s.postJSON("/v1/validate", `{"key": "`+key+`", "computer_id": "PC-A", "nonce": "`+nonce+`"}`)
	var signed license.SignedAnswer
	if status != http.StatusOK || json.Unmarshal([]byte(body), &signed) != nil {
		t.Fatalf("validate: %d %s", status, body)
	}
	if _, err := client.CheckValidation(s.ring, signed, nonce, "PC-A"); err != nil {
		t.Fatalf("the genuine answer: %v", err)
	}
	if _, err := client.CheckValidation(s.ring, signed, "a-later-nonce-0123456789", "PC-A"); !errors.Is(err, license.ErrReplayed) {
		t.Errorf("a replayed answer: %v, want ErrReplayed", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(signed.Answer)
	raw[len(raw)/2] ^= 1
	tampered := signed
	tampered.Answer = base64.StdEncoding.EncodeToString(raw)
	if _, err := client.CheckValidation(s.ring, tampered, nonce, "PC-A"); !errors.Is(err, license.ErrBadSignature) {
		t.Errorf("a tampered answer: %v, want ErrBadSignature", err)
	}
	if status, body := s.postJSON("/v1/validate", `{"key": "`+key+`", "computer_id": "PC-A", "nonce": "short"}`); status != http.StatusBadRequest {
		t.Errorf("short nonce: %d %s", status, body)
	}

	// Release, then the seat goes to another computer; the allowance is 3.
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-B"}); err != nil {
		t.Fatal(err)
	}
	var full *client.Error
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-C"}); !errors.As(err, &full) || full.Status != http.StatusConflict {
		t.Fatalf("a third computer on two seats: %v", err)
	}
	if err := c.Release(ctx, key, "PC-A"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Validate(ctx, key, "PC-A"); err != nil || v.Status != "not_activated" || v.SeatsFree != 1 {
		t.Errorf("after release: %+v %v", v, err)
	}
	if lic, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-C"}); err != nil || lic.Seat != 1 {
		t.Errorf("PC-C after the release: %+v %v", lic, err)
	}
	var notHere *client.Error
	if err := c.Release(ctx, key, "PC-A"); !errors.As(err, &notHere) || notHere.Status != http.StatusNotFound {
		t.Errorf("releasing a seat not held: %v", err)
	}
	for _, pc := range []string{"PC-B", "PC-C"} {
		if err := c.Release(ctx, key, pc); err != nil {
			t.Fatalf("release %s: %v", pc, err)
		}
	}
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-D"}); err != nil {
		t.Fatal(err)
	}
	var limited *client.Error
	if err := c.Release(ctx, key, "PC-D"); !errors.As(err, &limited) || limited.Status != http.StatusTooManyRequests {
		t.Errorf("a fourth release in the period: %v, want 429", err)
	}
}

// The public routes' limits: past the per-key allowance a key gets 429
// with Retry-After, while another key from the same address still passes;
// past the per-address allowance the address gets 429 whatever the key.
func TestPublicRateLimits(t *testing.T) {
	s := newStack(t)
	s.app.Env.RatePerKey, s.app.Env.RatePerAddress = 5, 12
	s.restartAPI()
	body := func(key string) string {
		return `{"key": "` + key + `", "computer_id": "PC-A", "nonce": "nonce-0123456789abcdef"}`
	}
	for i := range 5 {
		if status, out := s.postJSON("/v1/validate", body("KEY-ONE")); status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, status, out)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.api.URL+"/v1/validate", strings.NewReader(body("KEY-ONE")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the sixth call for one key: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	statuses := map[int]int{}
	for i := range 10 {
		status, _ := s.postJSON("/v1/validate", body(fmt.Sprintf("KEY-%d", i)))
		statuses[status]++
	}
	// 12 a minute for the address: 5 + 1 refused above, then 6 more pass.
	if statuses[http.StatusOK] != 6 || statuses[http.StatusTooManyRequests] != 4 {
		t.Errorf("other keys from the same address: %v, want 6 answered and 4 refused", statuses)
	}
}

// A key that has expired (sold a year ago for a month) does not activate,
// and validation says expired.
func TestExpiredKey(t *testing.T) {
	s := newStack(t)
	issued := time.Now().UTC().AddDate(-1, 0, 0)
	key, err := license.Sign(s.signer, license.Claims{Product: 1, Major: 1, Seats: 2, Model: license.Subscription,
		Issued: issued, Expires: issued.AddDate(0, 1, 0), Serial: 0xe1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	expires := issued.AddDate(0, 1, 0)
	if err := s.app.Store.SaveOrder(ctx, &store.Customer{Email: "old@example.com"}, &store.OrderRow{
		LineRecord: store.LineRecord{
			Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1", ExpiresAt: &expires, OrderDate: issued,
			Fields: map[string]string{}, Args: map[string]string{}, WorkflowID: "IssueLicense:shareit:" + s.purchase(1) + "-1",
		},
		ProductID: 1, Major: 1, ProductName: "Demo App", Quantity: 2, Features: "0", LicenseModel: "subscription",
	}, []store.LicenseKey{{Position: 1, Key: key, Serial: "00000000000000e1", Seats: 2}}); err != nil {
		t.Fatal(err)
	}
	c := &client.Client{BaseURL: s.api.URL, Keys: s.ring}
	var refused *client.Error
	if _, _, err := c.Activate(ctx, client.ActivateRequest{Key: key, ComputerID: "PC-A"}); !errors.As(err, &refused) ||
		refused.Status != http.StatusForbidden || refused.Reason != "key expired" {
		t.Errorf("activate an expired key: %v", err)
	}
	if v, err := c.Validate(ctx, key, "PC-A"); err != nil || v.Status != "expired" {
		t.Errorf("validate an expired key: %+v %v", v, err)
	}
}
