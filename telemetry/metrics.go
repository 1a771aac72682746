package telemetry

import (
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Metrics are keysmith's own. A nil *Metrics records nothing, so that
// tests may leave it out.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	keys           *prometheus.CounterVec
	emails         *prometheus.CounterVec
	supportActions *prometheus.CounterVec
	delivery       *prometheus.CounterVec
	revocations    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_http_requests_total",
			Help: "HTTP requests by route (QLM method or path) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keysmith_http_request_duration_seconds",
			Help: "Time to answer, by route: for the QLM methods, the storefront's wait for its key.",
			// From a stored line's sub-millisecond answer to the key timeout.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_order_lines_keyed_total",
			Help: "Order lines answered with keys, by provider, kind (order, renewal) and source (workflow: keyed now; stored: a repeat answered from Postgres).",
		}, []string{"provider", "kind", "source"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_emails_total",
			Help: "Emails to buyers by outcome: sent, failed (a try that will be retried), parked (waiting for support).",
		}, []string{"outcome"}),
		supportActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_support_actions_total",
			Help: "Support actions by name.",
		}, []string{"action"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_order_lines_delivery_total",
			Help: "Order lines whose keys the storefront may not have received, by what became of them: held (not mailed, not activating), undelivered (an answer the storefront did not get, reported by the API), confirmed, cancelled.",
		}, []string{"outcome"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keysmith_storefront_revocations_total",
			Help: "Refunds, chargebacks and cancellations storefronts reported, by provider, kind and outcome: revoke (RevokeLicense started), keep or expire (the product's policy), partial (a partial refund, keys kept), unknown line (a line keysmith never keyed).",
		}, []string{"provider", "kind", "outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.keys, m.emails, m.supportActions, m.delivery, m.revocations)
	return m
}

// Request records one HTTP request.
func (m *Metrics) Request(route string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

// Keyed records an order line answered with keys.
func (m *Metrics) Keyed(provider string, renewal, stored bool) {
	if m == nil {
		return
	}
	kind, source := "order", "workflow"
	if renewal {
		kind = "renewal"
	}
	if stored {
		source = "stored"
	}
	m.keys.WithLabelValues(provider, kind, source).Inc()
}

// Email records an email attempt's outcome: sent, failed or parked.
func (m *Metrics) Email(outcome string) {
	if m == nil {
		return
	}
	m.emails.WithLabelValues(outcome).Inc()
}

// SupportAction records a support action.
func (m *Metrics) SupportAction(action string) {
	if m == nil {
		return
	}
	m.supportActions.WithLabelValues(action).Inc()
}

// Delivery records what became of a line whose keys may not have reached
// the storefront: held, undelivered, confirmed or cancelled.
func (m *Metrics) Delivery(outcome string) {
	if m == nil {
		return
	}
	m.delivery.WithLabelValues(outcome).Inc()
}

// Revocation records a storefront's refund, chargeback or cancellation
// and what became of it.
func (m *Metrics) Revocation(provider, kind, outcome string) {
	if m == nil {
		return
	}
	m.revocations.WithLabelValues(provider, kind, outcome).Inc()
}

// HeldLines publishes the number of lines held now, read by count at each
// scrape (keysmith_order_lines_held).
func (t *Telemetry) HeldLines(count func() (int, error)) {
	t.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keysmith_order_lines_held",
		Help: "Order lines and renewals held now because their storefront did not receive the keys (Delivery = \"unconfirmed\"); -1 when the database does not answer.",
	}, func() float64 {
		n, err := count()
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// serviceName is OTEL_SERVICE_NAME, else keysmith.
func serviceName() attribute.KeyValue {
	if name := os.Getenv("OTEL_SERVICE_NAME"); name != "" {
		return semconv.ServiceName(name)
	}
	return semconv.ServiceName("keysmith")
}
