package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
)

// Seats are enforced on the server, race-free: 100 computers activating a
// 5-seat key at once get exactly 5 computer licenses and 95 "no seat left";
// a computer activating again gets its seat back and uses none; each
// license verifies offline with the published public key.
func TestActivationSeatRace(t *testing.T) {
	s := newStack(t)
	key := s.savedKey(5)
	if c, err := s.ring.Verify(key); err != nil || c.Seats != 5 {
		t.Fatalf("claims %+v, %v", c, err)
	}

	var mu sync.Mutex
	statuses := map[int]int{}
	granted := map[int]string{} // seat -> computer
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			computer := fmt.Sprintf("PC-%03d", i)
			status, body := s.activate(api.ActivateRequest{Key: key, ComputerID: computer})
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status == http.StatusOK {
				var r api.ActivateResponse
				if err := json.Unmarshal(body, &r); err != nil {
					t.Error(err)
					return
				}
				if prev, dup := granted[r.Seat]; dup {
					t.Errorf("seat %d given to %s and %s", r.Seat, prev, computer)
				}
				granted[r.Seat] = computer
			} else if status != http.StatusConflict || !bytes.Contains(body, []byte("no seat left")) {
				t.Errorf("%s: %d %s", computer, status, body)
			}
		})
	}
	wg.Wait()
	if statuses[http.StatusOK] != 5 || statuses[http.StatusConflict] != 95 {
		t.Fatalf("answers %v, want 5 licenses and 95 no seat left", statuses)
	}

	// The same computer again: its seat, nothing used; and the license
	// verifies offline with the key the server publishes.
	computer := granted[3]
	status, body := s.activate(api.ActivateRequest{Key: strings.ToLower(key), ComputerID: computer, AppVersion: "2.1"})
	var r api.ActivateResponse
	if status != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Seat != 3 || !r.Reused || r.Seats != 5 {
		t.Fatalf("re-activation: %d %s", status, body)
	}
	resp, err := http.Get(s.api.URL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var published struct{ Keys []api.PublicKey }
	if err := json.NewDecoder(resp.Body).Decode(&published); err != nil || len(published.Keys) != 1 {
		t.Fatalf("/v1/keys: %+v %v", published, err)
	}
	pub, _ := base64.StdEncoding.DecodeString(published.Keys[0].PublicKey)
	lic, err := license.Keyring{published.Keys[0].ID: pub}.VerifyComputer(r.License)
	if err != nil {
		t.Fatalf("computer license does not verify: %v", err)
	}
	if lic.ComputerID != computer || lic.Seat != 3 || lic.Key.Seats != 5 || lic.Key.Product != 1 || !lic.CheckBy.After(time.Now()) {
		t.Errorf("computer license %+v", lic)
	}
	if held, _ := s.app.Store.Activations(t.Context(), fmt.Sprintf("%016x", lic.Key.Serial)); len(held) != 5 {
		t.Errorf("%d seats held, want 5", len(held))
	}

	// Keys keysmith did not issue, and malformed requests.
	forged, _ := license.GenerateSigningKey(1)
	other, _ := license.Sign(forged, license.Claims{Product: 1, Major: 1, Seats: 5, Issued: time.Now(), Serial: 42})
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"key": "` + other + `", "computer_id": "PC-X"}`, http.StatusNotFound},
		{`{"key": "AAAA-BBBB", "computer_id": "PC-X"}`, http.StatusNotFound},
		{`{"key": "` + key + `"}`, http.StatusBadRequest},
		{`{"key": "` + key + `", "computer_id": "PC-X", "extra": 1}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
	} {
		if status, body := s.postJSON("/v1/activate", tc.body); status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.body[:min(40, len(tc.body))], status, body, tc.want)
		}
	}
}

// savedKey orders purchase 1 with one key of the given seats and waits
// until the order is in Postgres, where activation looks keys up.
func (s *stack) savedKey(seats int) string {
	s.t.Helper()
	status, key := s.post(getKey, qlmQuery+fmt.Sprintf("&is_quantity=%d", seats), orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		s.t.Fatalf("status %d: %s", status, key)
	}
	eventually(s.t, 20*time.Second, "the order saved", func() bool {
		_, err := s.app.Store.FindOrderLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
		return err == nil
	})
	return key
}

func (s *stack) activate(req api.ActivateRequest) (int, []byte) {
	b, _ := json.Marshal(req)
	status, body := s.postJSON("/v1/activate", string(b))
	return status, []byte(body)
}

func (s *stack) postJSON(path, body string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, s.api.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body) //nolint:errcheck // the status says
	return resp.StatusCode, b.String()
}
