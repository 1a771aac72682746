// Package telemetry gives the operator's instruments: Prometheus metrics
// (keysmith's own and the Temporal SDK's), OpenTelemetry traces from the
// storefront's HTTP call through the workflow to its activities, configured
// by the standard OTEL_ variables and off by default.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Telemetry is one process's instruments.
type Telemetry struct {
	Registry *prometheus.Registry
	Metrics  *Metrics
	tracer   trace.TracerProvider
	meter    *sdkmetric.MeterProvider
	shutdown []func(context.Context) error
}

// Options of New. Zero: traces as the OTEL_ variables say.
type Options struct {
	// SpanExporter, when set, receives the traces instead of the exporter
	// the environment names (tests).
	SpanExporter sdktrace.SpanExporter
}

// New sets up metrics and, when OTEL_TRACES_EXPORTER is "otlp" or an
// OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, traces over OTLP/HTTP.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	t := &Telemetry{Registry: prometheus.NewRegistry()}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	t.Metrics = newMetrics(t.Registry)

	// The Temporal SDK's metrics, through OpenTelemetry into the same registry.
	exporter, err := otelprom.New(otelprom.WithRegisterer(t.Registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	t.meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.shutdown = append(t.shutdown, t.meter.Shutdown)

	spans := o.SpanExporter
	if spans == nil && tracesConfigured() {
		if spans, err = otlptracehttp.New(ctx); err != nil {
			return nil, fmt.Errorf("telemetry: traces: %w", err)
		}
	}
	if spans == nil {
		t.tracer = noop.NewTracerProvider()
		return t, nil
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(serviceName()))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(res))
	t.tracer = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return t, nil
}

func tracesConfigured() bool {
	return os.Getenv("OTEL_TRACES_EXPORTER") == "otlp" ||
		os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing reports whether traces are recorded.
func (t *Telemetry) Tracing() bool {
	_, ok := t.tracer.(*sdktrace.TracerProvider)
	return ok
}

// Temporal adds the SDK's metrics and, when tracing, the tracing
// interceptor (workflow and activity spans under the caller's) to a
// client's options.
func (t *Telemetry) Temporal(o *client.Options) error {
	o.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                t.meter.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		OnError:              func(error) {}, // a metric is never worth a panic
	})
	if !t.Tracing() {
		return nil
	}
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: t.tracer.Tracer("keysmith/temporal")})
	if err != nil {
		return err
	}
	o.Interceptors = append([]interceptor.ClientInterceptor{i}, o.Interceptors...)
	return nil
}

// HTTP traces an HTTP handler (a span per request, continuing the caller's
// trace); unchanged when tracing is off.
func (t *Telemetry) HTTP(h http.Handler, operation string) http.Handler {
	if !t.Tracing() {
		return h
	}
	// The span is named by operation and method, never by path or query
	// (QLM URLs carry the provider's password).
	return otelhttp.NewHandler(h, operation, otelhttp.WithTracerProvider(t.tracer),
		otelhttp.WithSpanNameFormatter(func(operation string, r *http.Request) string { return operation + " " + r.Method }))
}

// MetricsHandler serves the registry in Prometheus' format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Flush exports the spans recorded so far.
func (t *Telemetry) Flush(ctx context.Context) error {
	if tp, ok := t.tracer.(*sdktrace.TracerProvider); ok {
		return tp.ForceFlush(ctx)
	}
	return nil
}

// Shutdown flushes traces and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
