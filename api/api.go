// Package api serves the storefront's key-generator calls: QLM-compatible
// URLs that answer with license keys in plain text.
package api

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.temporal.io/sdk/client"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/orderline"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/telemetry"
)

// Deps is what the API needs.
type Deps struct {
	Config   *config.Config
	Store    *store.Store
	Temporal client.Client
	// Templates tells which email templates exist (is_emailtemplate).
	Templates interface{ Has(name string) bool }
	// TaskQueue is the worker's task queue (workflows.TaskQueue).
	TaskQueue string
	// KeyTimeout bounds the wait for a key; the storefront's own timeout
	// is not published, so keep it well below ten seconds.
	KeyTimeout time.Duration
	Log        *slog.Logger
	// Metrics records requests and keyed lines; nil records nothing.
	Metrics *telemetry.Metrics
	// MetricsHandler serves /metrics; nil: no such route.
	MetricsHandler http.Handler
	// Signer signs computer licenses at activation (nil: activation is
	// off); Keyring verifies keys and is published at /v1/keys.
	Signer  *license.SigningKey
	Keyring license.Keyring
	// ReleaseLimit seats a key may release per ReleasePeriod (defaults
	// 3 per 30 days).
	ReleaseLimit  int
	ReleasePeriod time.Duration
	// RatePerAddress and RatePerKey bound the public /v1 requests a
	// minute (defaults 300 per address, 60 per key).
	RatePerAddress, RatePerKey int
	// IPv6Prefix is how many leading bits of an IPv6 caller's address
	// count as one caller, for every per-address limit (default 64, since
	// a host may use any address of its /64; 32 to 128). IPv4 callers
	// count by address.
	IPv6Prefix int
	// ProviderFailuresPerMinute bounds the wrong credentials one provider
	// takes a minute from all callers together (default 100); past it,
	// credentials not yet verified get 429.
	ProviderFailuresPerMinute int
	// Upstream forwards forward-mode providers' calls to QLM (nil: a
	// client of keysmith's own).
	Upstream *http.Client
	// ReportWithin is how long a line's workflow waits for the API's
	// report that the storefront received the keys (default a minute)
	// before it holds the line.
	ReportWithin time.Duration
}

func (d Deps) reportWithin() time.Duration { return cmp.Or(d.ReportWithin, time.Minute) }

func (d Deps) releaseLimit() int { return cmp.Or(d.ReleaseLimit, 3) }

func (d Deps) releasePeriod() time.Duration { return cmp.Or(d.ReleasePeriod, 30*24*time.Hour) }

// QLM's HTTP methods that keysmith serves, as the last path element after
// qlmservice.asmx (any case). The vendor's Key Generator URL names one.
const (
	methodGetActivationKey  = "getactivationkey"
	methodWithExpiryDate    = "getactivationkeywithexpirydate"
	methodWebHook           = "qlmwebhookhandler"
	methodRenewMaintenance  = orderline.MethodRenewMaintenance
	methodRenewSubscription = orderline.MethodRenewSubscription
)

var qlmMethods = []string{methodGetActivationKey, methodWithExpiryDate, methodWebHook, methodRenewMaintenance, methodRenewSubscription}

// NewHandler returns all routes. Paths are matched without regard to case,
// as IIS, where QLM runs, does, and QLM's methods under any path prefix: a
// vendor moving from QLM keeps its virtual directory
// (/qlmLicenseServer/qlmservice.asmx/...) and changes only the host.
func NewHandler(d Deps) http.Handler {
	// SkipClean: mux would redirect an unclean path (a/../b, //) with its
	// query, is_pwd included, and the storefront's POST would become a GET.
	r := mux.NewRouter().SkipClean(true)
	auth := newAuthenticator(d.Config, d.IPv6Prefix, d.ProviderFailuresPerMinute)
	methods := []string{http.MethodGet, http.MethodPost}
	for _, method := range qlmMethods {
		r.MatcherFunc(qlmMethod(method)).Methods(methods...).Handler(keyGenerator(d, auth, method))
	}
	g := newGuard(auth, d.RatePerAddress, d.RatePerKey)
	r.Handle("/v1/activate", activate(d, g)).Methods(http.MethodPost)
	r.Handle("/v1/validate", validate(d, g)).Methods(http.MethodPost)
	r.Handle("/v1/release", release(d, g)).Methods(http.MethodPost)
	r.Handle("/v1/exchange", exchange(d, g)).Methods(http.MethodPost)
	r.Handle("/v1/keys", publicKeys(d)).Methods(http.MethodGet)
	r.Handle("/v1/admin/revoke", adminRevoke(d)).Methods(http.MethodPost)
	r.Handle("/v1/admin/lookup", adminLookup(d)).Methods(http.MethodGet)
	r.Handle("/healthz", healthz()).Methods(http.MethodGet)
	r.Handle("/readyz", Readyz(d.Store, d.Temporal, d.Log)).Methods(http.MethodGet)
	if d.MetricsHandler != nil {
		r.Handle("/metrics", d.MetricsHandler).Methods(http.MethodGet)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		plainError(w, http.StatusNotFound, "no such endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		plainError(w, http.StatusMethodNotAllowed, "use GET or POST")
	})
	return accessLog(d.Log, d.Metrics, lowerPath(r))
}

// qlmMethod matches /<any prefix>/qlmservice.asmx/<method>; paths are
// lower-cased by lowerPath first.
func qlmMethod(method string) mux.MatcherFunc {
	suffix := "/qlmservice.asmx/" + method
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		return strings.HasSuffix(r.URL.Path, suffix)
	}
}

func lowerPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.ToLower(r.URL.Path)
		r.URL.RawPath = ""
		next.ServeHTTP(w, r)
	})
}

// healthz answers 200 while the process serves.
func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writePlain(w, http.StatusOK, "ok")
	})
}

// Readyz answers 200 when Postgres and Temporal both answer, else 503
// naming the one that does not: what a load balancer or an orchestrator
// asks before sending work.
func Readyz(st *store.Store, c client.Client, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var down []string
		if err := st.Ping(ctx); err != nil {
			log.Warn("Readiness: database", "error", err)
			down = append(down, "database")
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			log.Warn("Readiness: Temporal", "error", err)
			down = append(down, "temporal")
		}
		if len(down) > 0 {
			plainError(w, http.StatusServiceUnavailable, strings.Join(down, ", ")+" unavailable")
			return
		}
		writePlain(w, http.StatusOK, "ready")
	})
}

// plainError answers with a one-line reason, as the storefront expects.
func plainError(w http.ResponseWriter, status int, reason string) {
	_ = writePlain(w, status, reason) // the caller's loss
}

// writePlain answers with body and its length, so that a flushed answer
// is complete for the caller while the handler goes on.
func writePlain(w http.ResponseWriter, status int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, err := io.WriteString(w, body+"\n")
	return err
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController flush through the wrapper.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs every call without its query string (QLM-style URLs
// carry the provider's password there) and records it in the metrics.
func accessLog(log *slog.Logger, m *telemetry.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		m.Request(route(r.URL.Path), sw.status, took)
		log.Info("HTTP", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", float64(took.Microseconds())/1000, "remote", r.RemoteAddr)
	})
}

// route names a request for the metrics, from a bounded set: the QLM
// method, a known path, or "other".
func route(path string) string {
	path = strings.ToLower(path)
	for _, method := range qlmMethods {
		if strings.HasSuffix(path, "/qlmservice.asmx/"+method) {
			return method
		}
	}
	switch path {
	case "/healthz", "/readyz", "/metrics", "/v1/activate", "/v1/validate", "/v1/release", "/v1/exchange", "/v1/keys", "/v1/admin/revoke", "/v1/admin/lookup":
		return path[1:]
	}
	return "other"
}

var errTimeout = errors.New("key generation is taking too long; try again")
