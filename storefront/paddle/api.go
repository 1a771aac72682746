package paddle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
)

// Paddle's API, for what a notification names by id only.
const (
	liveAPI    = "https://api.paddle.com"
	sandboxAPI = "https://sandbox-api.paddle.com"
	// sandboxKeyPrefix starts a sandbox API key (live ones start
	// pdl_live_apikey_); a sandbox key works only against the sandbox.
	sandboxKeyPrefix = "pdl_sdbx_"
	// apiVersion pins the version of Paddle's API the entities are read in.
	apiVersion = "1"
	// maxAnswerBytes bounds an answer of the API: a transaction with its
	// items, customer and address is a few KiB.
	maxAnswerBytes = 4 << 20
)

// httpClient calls Paddle's API. A call that waits on Paddle holds the
// notification's answer, and Paddle sends an event again when it is not
// answered in time, so the wait is short.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// api reads entities from Paddle's API with the provider's API key.
type api struct {
	base, key string
}

// newAPI is the provider's client of Paddle's API, nil when it has no API
// key.
func newAPI(p *config.Provider) *api {
	if p.APIKey() == "" {
		return nil
	}
	base := liveAPI
	if strings.HasPrefix(p.APIKey(), sandboxKeyPrefix) {
		base = sandboxAPI
	}
	if u := strings.TrimSpace(p.APIURL); u != "" {
		base = strings.TrimRight(u, "/")
	}
	return &api{base: base, key: p.APIKey()}
}

// transaction reads a transaction, with the related entities include
// names (customer, address, business).
func (a *api) transaction(ctx context.Context, field, id string, include ...string) (*transaction, error) {
	path := "/transactions/" + url.PathEscape(id)
	if len(include) > 0 {
		path += "?include=" + url.QueryEscape(strings.Join(include, ","))
	}
	var t transaction
	if err := a.get(ctx, field, "transaction "+id, path, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// get reads one entity: Paddle answers {"data": {...}, "meta": {...}}, or
// {"error": {"type", "code", "detail"}} with a status that says what went
// wrong. An entity Paddle does not know is the event's fault (a sandbox
// event sent to a live key's endpoint, another account's), refused;
// anything else is Paddle's or the network's, for Paddle to send the event
// again.
func (a *api) get(ctx context.Context, field, what, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return fmt.Errorf("paddle: reading %s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Paddle-Version", apiVersion)
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("paddle: reading %s: %w", what, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("paddle: reading %s: %w", what, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return &qlm.BadRequestError{Status: http.StatusBadRequest, Field: field,
			Problem: what + " is not found in Paddle with the provider's API key (a sandbox event to a live key?)"}
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e) // only for the log
		return fmt.Errorf("paddle: reading %s: status %d %s", what, resp.StatusCode, qlm.Quote(e.Error.Code))
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || len(env.Data) == 0 {
		return fmt.Errorf("paddle: reading %s: not Paddle's {\"data\": ...}", what)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		return fmt.Errorf("paddle: reading %s: %s", what, jsonProblem(err))
	}
	return nil
}
