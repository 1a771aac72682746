package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// adminActor is the name of the admin token the request carries, or "".
func adminActor(d Deps, r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	given := hex.EncodeToString(sum[:])
	actor := ""
	for _, t := range d.Config.AdminTokens {
		if subtle.ConstantTimeCompare([]byte(given), []byte(t.SHA256)) == 1 {
			actor = t.Name
		}
	}
	return actor
}

// AdminRevokeRequest is the body of POST /v1/admin/revoke.
type AdminRevokeRequest struct {
	Line    string `json:"line"`              // "shareit:123456-1"
	Key     string `json:"key,omitempty"`     // one key of the line; empty: all
	Restore bool   `json:"restore,omitempty"` // restore instead
	Reason  string `json:"reason"`
	Request string `json:"request"` // the request's id: the same id is the same revocation
}

// adminRevoke revokes or restores an order line's keys through the
// RevokeLicense workflow, on the record under the token's name.
func adminRevoke(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor := adminActor(d, r)
		if actor == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keysmith admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{"an admin token is required"})
			return
		}
		var req AdminRevokeRequest
		if !readJSON(w, r, &req) {
			return
		}
		if _, _, _, err := order.ParseName(req.Line); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
			return
		}
		if req.Request == "" || len(req.Request) > 128 || strings.TrimSpace(req.Reason) == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{"request (an id of yours, up to 128 bytes) and reason: required"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		n, id, err := workflows.Revoke(ctx, d.Temporal, d.TaskQueue, workflows.RevokeRequest{
			Line: req.Line, Key: req.Key, Restore: req.Restore, Actor: actor, Reason: req.Reason,
		}, req.Request)
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &app) && app.Type() == "NotFound":
			writeJSON(w, http.StatusNotFound, errorBody{app.Message()})
		case err != nil:
			d.Log.Error("Admin revoke", "line", req.Line, "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"keys": n, "workflow_id": id})
		}
	})
}
