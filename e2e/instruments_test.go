package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/workflows"
)

// The operator's instruments: /metrics moves after an order (requests,
// to-key latency, keyed lines, emails, the Temporal SDK's own metrics);
// /readyz fails while Postgres is down and recovers after; /healthz stays
// up; one trace runs from the storefront's HTTP call through the workflow
// to its activities.
func TestOperatorsInstruments(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	s := newStackTraced(t, spans)

	before := s.metrics()
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))
	if status, again := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1)); status != http.StatusOK || again != key {
		t.Fatalf("repeat: %d %s", status, again)
	}
	after := s.metrics()
	for _, m := range []struct {
		name string
		want float64
	}{
		{`keysmith_http_requests_total{code="200",route="getactivationkey"}`, 2},
		{`keysmith_http_request_duration_seconds_count{route="getactivationkey"}`, 2},
		{`keysmith_order_lines_keyed_total{kind="order",provider="shareit",source="workflow"}`, 1},
		{`keysmith_order_lines_keyed_total{kind="order",provider="shareit",source="stored"}`, 1},
		{`keysmith_emails_total{outcome="sent"}`, 1},
	} {
		if got := after[m.name] - before[m.name]; got != m.want {
			t.Errorf("%s moved by %v, want %v", m.name, got, m.want)
		}
	}
	// The SDK's own metrics (its counters move just after the server has
	// the workflow's completion, so wait a moment for them).
	eventually(t, 5*time.Second, "the Temporal SDK's metrics on /metrics", func() bool {
		for name, v := range s.metrics() {
			if strings.HasPrefix(name, "temporal_workflow_completed") && v > 0 {
				return true
			}
		}
		return false
	})

	// Readiness follows Postgres; liveness does not.
	if code := s.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d with everything up", code)
	}
	ctx := context.Background()
	if err := testenv.AllowConnections(ctx, s.db, false); err != nil {
		t.Fatal(err)
	}
	if code := s.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Postgres down, want 503", code)
	}
	if code := s.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d with Postgres down, want 200", code)
	}
	if err := testenv.AllowConnections(ctx, s.db, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "/readyz after Postgres is back", func() bool { return s.get("/readyz") == http.StatusOK })

	// One trace: HTTP call, Update-With-Start, workflow, activities.
	if err := s.app.Telemetry.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	traces := map[string][]string{}
	for _, sp := range spans.GetSpans() {
		for _, a := range sp.Attributes {
			if testing.Verbose() {
				t.Logf("%s %s=%s", sp.Name, a.Key, a.Value.String())
			}
			if strings.Contains(a.Value.String(), password) || strings.Contains(a.Value.String(), "juergen") {
				t.Errorf("span %s holds %s = %q: a secret or the buyer's data", sp.Name, a.Key, a.Value.String())
			}
		}
		id := sp.SpanContext.TraceID().String()
		traces[id] = append(traces[id], sp.Name)
	}
	found := false
	for _, names := range traces {
		joined := strings.Join(names, " | ")
		if strings.Contains(joined, "keysmith api POST") && strings.Contains(joined, "UpdateWithStartWorkflow:issue-key") &&
			strings.Contains(joined, "RunWorkflow:IssueLicense") &&
			strings.Contains(joined, "RunActivity:SaveOrder") && strings.Contains(joined, "RunActivity:SendEmail") {
			found = true
		}
	}
	if !found {
		t.Errorf("no trace from the HTTP call through the workflow to its activities: %v", traces)
	}
}

// metrics reads /metrics into name{labels} -> value.
func (s *stack) metrics() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get(s.api.URL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	line := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$`)
	for l := range strings.SplitSeq(string(b), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}

func (s *stack) get(path string) int {
	s.t.Helper()
	resp, err := http.Get(s.api.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
