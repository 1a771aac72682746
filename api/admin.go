package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
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
		if _, err := order.ParseName(req.Line); err != nil {
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

// LookupLine is one order line as GET /v1/admin/lookup shows it.
type LookupLine struct {
	Line        string `json:"line"` // "shareit:123456-1"
	Product     string `json:"product"`
	Model       string `json:"model"`
	OrderDate   string `json:"order_date"`
	Expires     string `json:"expires,omitempty"`
	EmailStatus string `json:"email_status"`
	// Delivery is set when the storefront's receipt was asked:
	// confirmed, unconfirmed (held) or cancelled.
	Delivery string      `json:"delivery,omitempty"`
	Keys     []LookupKey `json:"keys"`
	Warnings []string    `json:"warnings,omitempty"`
}

// LookupKey is one key of a line, with the computers holding its seats.
type LookupKey struct {
	Key       string   `json:"key"`
	Serial    string   `json:"serial"`
	Seats     int      `json:"seats"`
	Revoked   bool     `json:"revoked"`
	Computers []string `json:"computers"`
	// LegacyKey is the QLM key an imported key stands for.
	LegacyKey string `json:"legacy_key,omitempty"`
}

// adminLookup finds order lines by purchase ID, buyer's email, key or
// serial (one of the query's purchase, email, key, serial).
func adminLookup(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminActor(d, r) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keysmith admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{"an admin token is required"})
			return
		}
		q := r.URL.Query()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var rows []*store.OrderRow
		var err error
		switch {
		case q.Get("purchase") != "" || q.Get("email") != "":
			rows, err = d.Store.FindOrderLines(ctx, q.Get("purchase"), q.Get("email"))
		case q.Get("key") != "" || q.Get("serial") != "":
			var row *store.OrderRow
			if q.Get("key") != "" {
				row, err = d.Store.FindLineByKey(ctx, q.Get("key"))
			} else {
				row, err = d.Store.FindLineBySerial(ctx, strings.ToLower(q.Get("serial")))
			}
			if err == nil {
				rows = append(rows, row)
			} else if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		default:
			writeJSON(w, http.StatusBadRequest, errorBody{"give one of purchase, email, key, serial"})
			return
		}
		if err != nil {
			d.Log.Error("Admin lookup", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
			return
		}
		lines := []LookupLine{}
		for _, o := range rows {
			l := LookupLine{Line: order.Name(o.Provider, o.PurchaseID, o.RunningNo),
				Product: fmt.Sprintf("%s %d.%d (%d)", o.ProductName, o.Major, o.Minor, o.ProductID), Model: o.LicenseModel,
				OrderDate: o.OrderDate.Format(time.DateOnly), EmailStatus: o.EmailStatus, Delivery: o.Delivery, Warnings: o.Warnings, Keys: []LookupKey{}}
			if o.ExpiresAt != nil {
				l.Expires = o.ExpiresAt.Format(time.DateOnly)
			}
			for _, k := range o.Keys {
				held, err := d.Store.Activations(ctx, k.Serial)
				if err != nil {
					d.Log.Error("Admin lookup: activations", "error", err)
					writeJSON(w, http.StatusServiceUnavailable, errorBody{"try again"})
					return
				}
				lk := LookupKey{Key: k.Key, Serial: k.Serial, Seats: k.Seats, Revoked: k.RevokedAt != nil, Computers: []string{}}
				if k.LegacyText != nil {
					lk.LegacyKey = *k.LegacyText
				}
				for _, h := range held {
					lk.Computers = append(lk.Computers, h.ComputerID)
				}
				l.Keys = append(l.Keys, lk)
			}
			lines = append(lines, l)
		}
		writeJSON(w, http.StatusOK, map[string][]LookupLine{"lines": lines})
	})
}
