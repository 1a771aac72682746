package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
)

// checkAgain is how long a computer license is trusted before the
// application asks the server again.
const checkAgain = 30 * 24 * time.Hour

// maxJSONBytes bounds a JSON request.
const maxJSONBytes = 16 << 10

// ActivateRequest is the body of POST /v1/activate.
type ActivateRequest struct {
	Key          string `json:"key"`
	ComputerID   string `json:"computer_id"`
	ComputerName string `json:"computer_name,omitempty"`
	AppVersion   string `json:"app_version,omitempty"`
}

// ActivateResponse is its answer.
type ActivateResponse struct {
	License string `json:"license"` // the computer license, verifiable offline
	Seat    int    `json:"seat"`
	Seats   int    `json:"seats"`
	CheckBy string `json:"check_by"` // yyyy-mm-dd
	Expires string `json:"expires,omitempty"`
	Reused  bool   `json:"reused"` // this computer held the seat already
}

// errorBody is every JSON error: a plain reason.
type errorBody struct {
	Error string `json:"error"`
}

// activate binds a key to a computer: a seat, race-free, and a signed
// computer license. The same computer again gets its seat back and uses
// none. An unknown key, a forged one and one of another product all answer
// "unknown key", so the answer tells nothing about keys that exist.
func activate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ActivateRequest
		if !readJSON(w, r, &req) {
			return
		}
		req.Key, req.ComputerID = strings.TrimSpace(req.Key), strings.TrimSpace(req.ComputerID)
		switch {
		case req.Key == "":
			writeJSON(w, http.StatusBadRequest, errorBody{"key: missing"})
			return
		case req.ComputerID == "" || len(req.ComputerID) > 256:
			writeJSON(w, http.StatusBadRequest, errorBody{"computer_id: 1 to 256 bytes"})
			return
		case len(req.ComputerName) > 256 || len(req.AppVersion) > 64:
			writeJSON(w, http.StatusBadRequest, errorBody{"computer_name (256 bytes) or app_version (64 bytes) too long"})
			return
		}
		if d.Signer == nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"activation is not configured on this server"})
			return
		}
		claims, err := d.Keyring.Verify(req.Key)
		if err != nil {
			writeJSON(w, http.StatusNotFound, errorBody{"unknown key"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		st, err := d.Store.KeyState(ctx, req.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, errorBody{"unknown key"})
			return
		case err != nil:
			d.Log.Error("Activate: look up key", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		case st.Revoked:
			writeJSON(w, http.StatusForbidden, errorBody{"key revoked"})
			return
		}
		claims.Expires = st.Expires // a renewal extends the key
		now := time.Now().UTC()
		if claims.Expired(now) {
			writeJSON(w, http.StatusForbidden, errorBody{"key expired"})
			return
		}
		a := &store.Activation{Serial: st.Serial, ComputerID: req.ComputerID, ComputerName: req.ComputerName, AppVersion: req.AppVersion}
		reused, err := d.Store.Activate(ctx, a, int(claims.Seats))
		switch {
		case errors.Is(err, store.ErrNoSeat):
			writeJSON(w, http.StatusConflict, errorBody{"no seat left"})
			return
		case err != nil:
			d.Log.Error("Activate", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		checkBy := now.Add(checkAgain)
		if !claims.Expires.IsZero() && claims.Expires.Before(checkBy) {
			checkBy = claims.Expires
		}
		lic, err := license.SignComputer(*d.Signer, license.ComputerLicense{
			Key: claims, ComputerID: req.ComputerID, Seat: uint32(a.Seat), Issued: now, CheckBy: checkBy,
		})
		if err != nil {
			d.Log.Error("Activate: sign", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		resp := ActivateResponse{License: lic, Seat: a.Seat, Seats: int(claims.Seats), CheckBy: checkBy.Format(time.DateOnly), Reused: reused}
		if !claims.Expires.IsZero() {
			resp.Expires = claims.Expires.Format(time.DateOnly)
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// PublicKey is one verifying key, as GET /v1/keys lists them.
type PublicKey struct {
	ID        uint16 `json:"id"`
	Algorithm string `json:"algorithm"`  // Ed25519
	PublicKey string `json:"public_key"` // base64 of the 32-byte key
}

// publicKeys lists the public keys that verify keys and computer licenses.
func publicKeys(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keys []PublicKey
		for _, id := range slices.Sorted(maps.Keys(d.Keyring)) {
			keys = append(keys, PublicKey{ID: id, Algorithm: "Ed25519", PublicKey: base64.StdEncoding.EncodeToString(d.Keyring[id])})
		}
		writeJSON(w, http.StatusOK, map[string][]PublicKey{"keys": keys})
	})
}

// readJSON decodes a strict JSON body, answering 400/413/415 itself.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{"send application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{"body over 16 KiB"})
			return false
		}
		writeJSON(w, http.StatusBadRequest, errorBody{"malformed JSON: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
