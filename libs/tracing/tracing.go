// Package tracing sets up OpenTelemetry tracing for the services and carries a trace across
// Kafka: the W3C traceparent travels in record headers (franz-go's kotel plugin), so one event's
// spans, from the ingress request to the forwarder's AdEventsX call and dead-letter write, form
// one trace. Exporting is off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the standard OTEL_* variables apply.
package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation name of this project's own spans.
const Name = "github.com/martech/eventfwd"

// Tracer is the tracer of this project's own spans, from the global provider (a no-op one until
// Setup installs another).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Settings are the tracing settings read from the standard OTel environment variables.
type Settings struct {
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; empty
	// leaves exporting off.
	Endpoint string
	// Disabled is OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
	Disabled bool
}

// Exporting reports whether spans are exported.
func (s Settings) Exporting() bool { return s.Endpoint != "" && !s.Disabled }

// SettingError is a bad OTEL_* setting; its message names the variable.
type SettingError struct{ error }

func (e SettingError) Unwrap() error { return e.error }

// ReadSettings reads the OTel variables this package acts on and refuses the ones it cannot
// honour, naming the variable.
func ReadSettings(getenv func(string) string) (Settings, error) {
	s := Settings{Endpoint: getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")}
	if s.Endpoint == "" {
		s.Endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	switch v := strings.ToLower(getenv("OTEL_SDK_DISABLED")); v {
	case "", "false":
	case "true":
		s.Disabled = true
	default:
		return s, SettingError{fmt.Errorf("OTEL_SDK_DISABLED: %q is not true or false", v)}
	}
	switch v := getenv("OTEL_TRACES_EXPORTER"); v {
	case "", "otlp":
	case "none":
		s.Disabled = true
	default:
		return s, SettingError{fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (otlp or none)", v)}
	}
	if !s.Exporting() {
		return s, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := getenv(name); v != "" && v != "http/protobuf" {
			// Only the HTTP exporter is built in: it keeps gRPC out of the binaries.
			return s, SettingError{fmt.Errorf("%s: %q is not supported (http/protobuf)", name, v)}
		}
	}
	return s, nil
}

// Setup installs the W3C trace-context propagator and, when s says so, a tracer provider that
// exports to the OTLP endpoint in batches. service is the default service.name (OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES override it). The returned function flushes and stops the
// exporter; call it at shutdown.
func Setup(ctx context.Context, service string, s Settings) (func(context.Context) error, error) {
	// Propagation works also without exporting: a traceparent that came in goes out again.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if !s.Exporting() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx) // endpoint, headers, timeout, TLS from the OTEL_* variables
	if err != nil {
		return nil, SettingError{fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)}
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the default name.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service)), resource.WithFromEnv())
	if err != nil {
		return nil, SettingError{fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)}
	}
	// The sampler (OTEL_TRACES_SAMPLER) and the batch settings (OTEL_BSP_*) are read by the SDK.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// SetupFromEnv is ReadSettings from the process environment, then Setup.
func SetupFromEnv(ctx context.Context, service string) (func(context.Context) error, error) {
	s, err := ReadSettings(os.Getenv)
	if err != nil {
		return nil, err
	}
	return Setup(ctx, service, s)
}
