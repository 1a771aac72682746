package codec

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// maxRequestBytes bounds a codec request: the UI sends a page of payloads.
const maxRequestBytes = 4 << 20

// ServerOptions protect the codec server: decoding shows buyers' data.
type ServerOptions struct {
	// Token must come as "Authorization: Bearer <token>" (the CLI's
	// --codec-auth). Empty: no caller has it.
	Token string
	// Origins are the browser origins of the Temporal UI, for CORS
	// (http://localhost:8233).
	Origins []string
	// TrustOrigins also lets a browser at one of Origins in without the
	// token: for a UI that cannot send one, on a machine where only its
	// user reaches the codec server (keysmith dev, on loopback). Behind a
	// deployment's single sign-on, put the codec server behind the same.
	TrustOrigins bool
}

// Handler serves POST .../encode and .../decode for the Temporal UI and CLI
// with Temporal's own codec handler, behind the token and CORS.
func (c *Codec) Handler(o ServerOptions) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	token := sha256.Sum256([]byte(o.Token))
	authorized := func(r *http.Request) bool {
		if o.TrustOrigins && slices.Contains(o.Origins, r.Header.Get("Origin")) {
			return true
		}
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(given))
		return ok && o.Token != "" && subtle.ConstantTimeCompare(sum[:], token[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		if origin := r.Header.Get("Origin"); slices.Contains(o.Origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keysmith codec"`)
			http.Error(w, "codec: a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		codec.ServeHTTP(w, r)
	})
}
