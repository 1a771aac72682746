package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/license/client"
)

// A compromised signing key is retired: the keys it signed validate as
// revoked and do not activate, /v1/keys marks it, and the next key signs
// computer licenses and answers.
func TestRetiredSigningKey(t *testing.T) {
	f := newFixture(t)
	old, err := license.GenerateSigningKey(1)
	require.NoError(t, err)
	next, err := license.GenerateSigningKey(2)
	require.NoError(t, err)
	issued := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	keyByOld, err := license.Sign(old, license.Claims{Product: 1, Major: 1, Seats: 2, Issued: issued, Serial: 1})
	require.NoError(t, err)
	keyByNext, err := license.Sign(next, license.Claims{Product: 1, Major: 1, Seats: 2, Issued: issued, Serial: 2})
	require.NoError(t, err)
	f.storeOrder("shareit", "R1", "1", keyByOld)
	f.storeOrder("shareit", "R2", "1", keyByNext)

	cfg := configWith(t, func(c *config.Config) { c.RetiredKeys = []uint16{1} })
	ring := license.Keyring{1: old.PublicKey(), 2: next.PublicKey()}
	h := api.NewHandler(api.Deps{Config: cfg, Store: f.store, Temporal: f.temporal, TaskQueue: "x",
		KeyTimeout: time.Second, Log: f.logger, Signer: &next, Keyring: ring})

	validate := func(key string) client.Validation {
		t.Helper()
		nonce := "nonce-0123456789abcdef"
		w := call(h, http.MethodPost, "/v1/validate", `{"key": "`+key+`", "computer_id": "PC-1", "nonce": "`+nonce+`"}`, jsonBody)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var signed license.SignedAnswer
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &signed))
		assert.Equal(t, uint16(2), signed.KeyID, "answers are signed by the next key")
		v, err := client.CheckValidation(license.Keyring{2: next.PublicKey()}, signed, nonce, "PC-1")
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, "revoked", validate(keyByOld).Status)
	assert.Equal(t, "not_activated", validate(keyByNext).Status)

	w := call(h, http.MethodPost, "/v1/activate", `{"key": "`+keyByOld+`", "computer_id": "PC-1"}`, jsonBody)
	assert.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	w = call(h, http.MethodPost, "/v1/activate", `{"key": "`+keyByNext+`", "computer_id": "PC-1"}`, jsonBody)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var act client.ActivateResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &act))
	lic, err := license.Keyring{2: next.PublicKey()}.VerifyComputer(act.License)
	require.NoError(t, err)
	assert.Equal(t, uint16(2), lic.Key.KeyID)

	w = call(h, http.MethodGet, "/v1/keys", "", nil)
	require.Equal(t, http.StatusOK, w.Code)
	assert.True(t, strings.Contains(w.Body.String(), `"id":1,"algorithm":"Ed25519"`) && strings.Contains(w.Body.String(), `"retired":true`), w.Body.String())
}

func jsonBody(r *http.Request) { r.Header.Set("Content-Type", "application/json") }
