package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/workflows"
)

// Temporal's database holds the orders' histories encrypted: no buyer's
// name, email address or license key in clear, anywhere in its files, after
// an order whose workflow carried all three; while a client with the codec
// reads them back.
func TestTemporalDatabaseHoldsNoBuyerData(t *testing.T) {
	s := newStack(t)
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	if res := s.waitWorkflow(id); len(res.Keys) != 1 || res.Keys[0] != key {
		t.Fatalf("the codec client reads the result %+v", res)
	}
	if line := s.startInput(id); line.Customer.Email != "juergen@example.com" {
		t.Fatalf("the codec client reads the input: %+v", line.Customer)
	}

	var stored []byte
	for _, f := range []string{temporalDB, temporalDB + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	if !bytes.Contains(stored, []byte(id)) {
		t.Fatalf("the workflow %s is not in %s: wrong file?", id, temporalDB)
	}
	for _, secret := range []string{key, strings.ReplaceAll(key, "-", ""), "juergen@example.com", "Müller", "Hauptstraße", password} {
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("Temporal's database holds %q in clear", secret)
		}
	}
}

// The codec server decodes for a caller with the token (the CLI) or from
// the UI's origin when told to trust it, and refuses everyone else; it
// answers the UI's CORS preflight.
func TestCodecServer(t *testing.T) {
	s := newStack(t)
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	s.waitWorkflow(id)
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), id, "", false, 0)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	input := ev.GetWorkflowExecutionStartedEventAttributes().GetInput()
	body, err := protojson.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("juergen")) {
		t.Fatal("the history's input is in clear")
	}

	cdc, err := codec.New(testenv.CodecKeys)
	if err != nil {
		t.Fatal(err)
	}
	const ui = "http://localhost:8233"
	srv := httptest.NewServer(cdc.Handler(codec.ServerOptions{Token: "t0ken", Origins: []string{ui}}))
	defer srv.Close()
	trusting := httptest.NewServer(cdc.Handler(codec.ServerOptions{Origins: []string{ui}, TrustOrigins: true}))
	defer trusting.Close()

	decode := func(url string, header map[string]string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body) //nolint:errcheck // checked by its content
		return resp.StatusCode, resp.Header, b.Bytes()
	}
	for name, tc := range map[string]struct {
		url    string
		header map[string]string
		want   int
	}{
		"token":                     {srv.URL, map[string]string{"Authorization": "Bearer t0ken"}, http.StatusOK},
		"no token":                  {srv.URL, nil, http.StatusUnauthorized},
		"wrong token":               {srv.URL, map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		"origin, not trusted":       {srv.URL, map[string]string{"Origin": ui}, http.StatusUnauthorized},
		"trusted origin":            {trusting.URL, map[string]string{"Origin": ui}, http.StatusOK},
		"other origin":              {trusting.URL, map[string]string{"Origin": "http://evil.example"}, http.StatusUnauthorized},
		"no token, trusting server": {trusting.URL, nil, http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			status, header, out := decode(tc.url, tc.header)
			if status != tc.want {
				t.Fatalf("status %d: %s", status, out)
			}
			if status != http.StatusOK {
				if bytes.Contains(out, []byte("juergen")) {
					t.Error("a refused caller got the buyer's data")
				}
				return
			}
			if tc.header["Origin"] != "" && header.Get("Access-Control-Allow-Origin") != ui {
				t.Errorf("CORS header %q", header.Get("Access-Control-Allow-Origin"))
			}
			var decoded commonpb.Payloads
			if err := protojson.Unmarshal(out, &decoded); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			if err := converter.GetDefaultDataConverter().FromPayloads(&decoded, &line); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(line)
			if !bytes.Contains(b, []byte("juergen@example.com")) {
				t.Errorf("decoded input lacks the buyer: %s", b)
			}
		})
	}

	// The UI's preflight.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	req.Header.Set("Origin", ui)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != ui ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
