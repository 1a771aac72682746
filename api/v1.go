package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/orderline"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// checkAgain is how long a computer license is trusted before the
// application asks the server again.
const checkAgain = 30 * 24 * time.Hour

// maxJSONBytes bounds a JSON request.
const maxJSONBytes = 16 << 10

// The wire types are the Go client's (package license/client).
type (
	ActivateRequest  = client.ActivateRequest
	ActivateResponse = client.ActivateResponse
	ValidateRequest  = client.ValidateRequest
	Validation       = client.Validation
	ReleaseRequest   = client.ReleaseRequest
	ExchangeRequest  = client.ExchangeRequest
	ExchangeResponse = client.ExchangeResponse
)

// errorBody is every JSON error: a plain reason.
type errorBody struct {
	Error string `json:"error"`
}

// activate binds a key to a computer: a seat, race-free, and a signed
// computer license. The same computer again gets its seat back and uses
// none. An unknown key, a forged one and one of another product all answer
// "unknown key", so the answer tells nothing about keys that exist.
func activate(d Deps, g *guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ActivateRequest
		if !readJSON(w, r, &req) || !computerRequest(w, "key", &req.Key, &req.ComputerID, req.ComputerName) {
			return
		}
		if len(req.AppVersion) > 64 {
			writeJSON(w, http.StatusBadRequest, errorBody{"app_version: at most 64 bytes"})
			return
		}
		ctx, cancel, now, k, ok := lookupSigned(w, r, d, g, req.Key, "activation")
		defer cancel()
		if !ok {
			return
		}
		switch k.status {
		case statusUnknown:
			writeJSON(w, http.StatusNotFound, errorBody{"unknown key"})
			return
		case statusRevoked:
			writeJSON(w, http.StatusForbidden, errorBody{"key revoked"})
			return
		case statusExpired:
			writeJSON(w, http.StatusForbidden, errorBody{"key expired"})
			return
		case statusOnHold:
			writeJSON(w, http.StatusForbidden, errorBody{"key on hold: the storefront has not confirmed its purchase"})
			return
		}
		claims, st := k.claims, k.state
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

// exchange answers an application that still holds a license's QLM key
// (imported by keysmith import qlm) with the line's keysmith key, as QLM's
// GetActivationKeyFromLegacyKey does: the same key every time, with the
// line's seats, which the QLM key and the keysmith key share. The first
// exchange from each computer is recorded in the line's story.
func exchange(d Deps, g *guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ExchangeRequest
		if !readJSON(w, r, &req) || !computerRequest(w, "legacy_key", &req.LegacyKey, &req.ComputerID, req.ComputerName) {
			return
		}
		ctx, cancel, _, k, ok := lookupSigned(w, r, d, g, req.LegacyKey, "exchange")
		defer cancel()
		if !ok {
			return
		}
		switch {
		case k.status == statusUnknown || !k.state.Legacy:
			writeJSON(w, http.StatusNotFound, errorBody{"unknown legacy key"})
			return
		case k.status == statusRevoked:
			writeJSON(w, http.StatusForbidden, errorBody{"key revoked"})
			return
		}
		key, err := d.Store.CurrentKey(ctx, k.state.Line, k.state.Serial)
		if err != nil {
			d.Log.Error("Exchange: current key", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		line := k.state.Line
		name := order.Name(line.Provider, line.PurchaseID, line.RunningNo)
		_, err = d.Temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
			ID:                       workflows.ExchangeLegacyKeyID(name, req.ComputerID),
			TaskQueue:                d.TaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.OrderLine.ValueSet(name)),
			StaticSummary:            "legacy key of " + name + " exchanged for its keysmith key",
		}, workflows.ExchangeLegacyKeyWorkflow, workflows.Exchange{Line: name, ComputerID: req.ComputerID, ComputerName: req.ComputerName})
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if err != nil && !errors.As(err, &started) { // started: this computer's exchange is on record
			d.Log.Error("Exchange: record", "order", name, "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		resp := ExchangeResponse{Key: key, Seats: int(k.claims.Seats)}
		if !k.claims.Expires.IsZero() {
			resp.Expires = k.claims.Expires.Format(time.DateOnly)
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// computerRequest trims and checks the key and computer of a request that
// binds a key to a computer (activation, exchange), answering 400 itself;
// false when it did. keyField names the key in the answer.
func computerRequest(w http.ResponseWriter, keyField string, key, computerID *string, computerName string) bool {
	*key, *computerID = strings.TrimSpace(*key), strings.TrimSpace(*computerID)
	problem := keyAndComputer(*key, *computerID)
	if problem == "" && len(computerName) > 256 {
		problem = "computer_name: at most 256 bytes"
	}
	if problem != "" {
		writeJSON(w, http.StatusBadRequest, errorBody{strings.Replace(problem, "key:", keyField+":", 1)})
		return false
	}
	return true
}

// keyAndComputer checks the two fields that activation and validation
// both take; "" when they are good.
func keyAndComputer(key, computerID string) string {
	switch {
	case key == "":
		return "key: missing"
	case computerID == "" || len(computerID) > 256:
		return "computer_id: 1 to 256 bytes"
	}
	return ""
}

// lookupSigned begins an activation or a validation whose request is
// valid: it admits the caller for key, checks that this server can sign
// (both answer signed), and looks the key up, all under a 5-second bound
// that cancel ends. ok is false once it has answered (a database failure
// is logged and answered "try again").
func lookupSigned(w http.ResponseWriter, r *http.Request, d Deps, g *guard, key, service string) (
	ctx context.Context, cancel context.CancelFunc, now time.Time, k knownKey, ok bool,
) {
	ctx, cancel = context.WithTimeout(r.Context(), 5*time.Second)
	now = time.Now().UTC()
	if !g.admit(w, r, key) {
		return ctx, cancel, now, k, false
	}
	if d.Signer == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{service + " is not configured on this server"})
		return ctx, cancel, now, k, false
	}
	k, err := lookupKey(ctx, d, key, now)
	if err != nil {
		d.Log.Error("Look up key", "service", service, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
		return ctx, cancel, now, k, false
	}
	return ctx, cancel, now, k, true
}

// Key statuses, as validation reports them.
const (
	statusValid        = "valid"
	statusRevoked      = "revoked"
	statusExpired      = "expired"
	statusNotActivated = "not_activated"
	statusUnknown      = "unknown"
	// statusOnHold: the storefront has not confirmed the key's purchase
	// (it did not receive the key); it does not activate until it does.
	statusOnHold = "on_hold"
)

// knownKey is a key as the server sees it.
type knownKey struct {
	status string
	claims license.Claims // with the latest expiry, renewals included
	state  store.KeyState
}

// lookupKey verifies a key and finds it in Postgres. A key that does not
// verify or that keysmith did not issue is statusUnknown, whatever the
// reason; err is the database's.
func lookupKey(ctx context.Context, d Deps, key string, now time.Time) (knownKey, error) {
	short, isShort := license.IsShortKey(key)
	var claims license.Claims
	stored := isShort // claims from the stored line
	if isShort {
		key = short
	} else {
		var err error
		if claims, err = d.Keyring.Verify(key); err != nil {
			// Not a key of keysmith's: a legacy (QLM) key, imported, or
			// unknown.
			stored = true
		}
	}
	st, err := d.Store.KeyState(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return knownKey{status: statusUnknown}, nil
	case err != nil:
		return knownKey{}, err
	}
	if stored && !isShort && !st.Legacy {
		return knownKey{status: statusUnknown}, nil // a forged key that matched by its text
	}
	if stored {
		// A short or legacy key's claims are the stored line's.
		if claims, err = storedClaims(st); err != nil {
			return knownKey{}, err
		}
	}
	claims.Expires = st.Expires // a renewal extends the key
	k := knownKey{status: statusValid, claims: claims, state: st}
	switch {
	case st.Revoked, d.Config.Retired(claims.KeyID): // a retired signing key's keys are revoked
		k.status = statusRevoked
	case claims.Expired(now):
		k.status = statusExpired
	case st.Held:
		k.status = statusOnHold
	}
	return k, nil
}

// validate answers, signed and with the client's nonce, whether a key is
// good on this computer now: valid, revoked, expired, not activated here
// or unknown (which is all an unknown, forged or other product's key gets).
func validate(d Deps, g *guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ValidateRequest
		if !readJSON(w, r, &req) {
			return
		}
		req.Key = strings.TrimSpace(req.Key)
		if problem := keyAndComputer(req.Key, req.ComputerID); problem != "" {
			writeJSON(w, http.StatusBadRequest, errorBody{problem})
			return
		}
		if len(req.Nonce) < 16 || len(req.Nonce) > 128 {
			writeJSON(w, http.StatusBadRequest, errorBody{"nonce: 16 to 128 bytes, new for every request"})
			return
		}
		ctx, cancel, now, k, ok := lookupSigned(w, r, d, g, req.Key, "validation")
		defer cancel()
		if !ok {
			return
		}
		v := Validation{Status: k.status, Nonce: req.Nonce, CheckedAt: now.Format(time.RFC3339), ComputerID: req.ComputerID}
		if k.status != statusUnknown {
			c := k.claims
			v.Serial, v.Product, v.Version = k.state.Serial, c.Product, fmt.Sprintf("%d.%d", c.Major, c.Minor)
			v.Features, v.Model, v.Seats = c.Features.String(), license.ModelName(c.Model, c.Binding), int(c.Seats)
			if !c.Expires.IsZero() {
				v.Expires = c.Expires.Format(time.DateOnly)
			}
			if !c.Maintenance.IsZero() {
				v.Maintenance = c.Maintenance.Format(time.DateOnly)
			}
			used, seat, err := d.Store.Seats(ctx, k.state.Serial, req.ComputerID)
			if err != nil {
				d.Log.Error("Validate: seats", "error", err)
				writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
				return
			}
			v.SeatsUsed, v.SeatsFree, v.Seat = used, max(int(c.Seats)-used, 0), seat
			if v.Status == statusValid && v.Seat == 0 {
				v.Status = statusNotActivated
			}
		}
		body, _ := json.Marshal(v)
		signed, err := license.SignAnswer(*d.Signer, body)
		if err != nil {
			d.Log.Error("Validate: sign", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		writeJSON(w, http.StatusOK, signed)
	})
}

// release frees the seat a computer holds (a buyer moving to a new
// computer), at most Deps.ReleaseLimit times per key and period.
func release(d Deps, g *guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ReleaseRequest
		if !readJSON(w, r, &req) {
			return
		}
		if strings.TrimSpace(req.Key) == "" || req.ComputerID == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{"key and computer_id: required"})
			return
		}
		if !g.admit(w, r, req.Key) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		k, err := lookupKey(ctx, d, strings.TrimSpace(req.Key), time.Now().UTC())
		if err == nil && k.status == statusUnknown {
			writeJSON(w, http.StatusNotFound, errorBody{"unknown key"})
			return
		}
		if err == nil {
			err = d.Store.Release(ctx, k.state.Serial, req.ComputerID, d.releaseLimit(), d.releasePeriod())
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, errorBody{"not activated on this computer"})
		case errors.Is(err, store.ErrReleaseLimit):
			w.Header().Set("Retry-After", fmt.Sprint(int(d.releasePeriod().Seconds())))
			writeJSON(w, http.StatusTooManyRequests, errorBody{"release limit reached for this key; ask the vendor"})
		case err != nil:
			d.Log.Error("Release", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
		default:
			writeJSON(w, http.StatusOK, map[string]bool{"released": true})
		}
	})
}

// PublicKey is one verifying key, as GET /v1/keys lists them.
type PublicKey struct {
	ID        uint16 `json:"id"`
	Algorithm string `json:"algorithm"`  // Ed25519
	PublicKey string `json:"public_key"` // base64 of the 32-byte key
	// Retired: no longer trusted (compromised); what it signed is revoked.
	Retired bool `json:"retired,omitempty"`
}

// publicKeys lists the public keys that verify keys and computer licenses.
func publicKeys(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keys []PublicKey
		for _, id := range slices.Sorted(maps.Keys(d.Keyring)) {
			keys = append(keys, PublicKey{ID: id, Algorithm: "Ed25519", PublicKey: base64.StdEncoding.EncodeToString(d.Keyring[id]),
				Retired: d.Config.Retired(id)})
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

// storedClaims are a short or legacy key's claims, from its stored order
// line.
func storedClaims(st store.KeyState) (license.Claims, error) {
	line, _, err := orderline.Builder{}.Stored(st.Line, nil)
	if err != nil {
		return license.Claims{}, fmt.Errorf("stored line %s: %w", st.Line.WorkflowID, err)
	}
	serial, err := strconv.ParseUint(st.Serial, 16, 64)
	if err != nil {
		return license.Claims{}, fmt.Errorf("stored serial of %s: %w", st.Line.WorkflowID, err)
	}
	line.Seats = max(st.Seats, 1)
	claims, err := line.Claims(serial)
	if err != nil {
		return license.Claims{}, fmt.Errorf("stored line %s: %w", st.Line.WorkflowID, err)
	}
	return claims, nil
}
