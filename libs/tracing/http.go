package tracing

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// HTTPHandler traces the requests to routes (exact paths) with a server span named "METHOD
// path", continuing the trace of the request's traceparent header when it has one. Other paths
// (probes, scrapes) pass untraced. With exporting off (no SDK provider installed before the
// call) a request without trace headers has nothing to record or pass on, and passes untraced
// too: the span machinery is a cost per request the ingress's hot path does not pay for nothing.
func HTTPHandler(next http.Handler, routes ...string) http.Handler {
	traced := map[string]bool{}
	for _, r := range routes {
		traced[r] = true
	}
	tracer := Tracer()
	_, recording := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !traced[r.URL.Path] || !recording && !carriesTrace(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", r.URL.Path),
			))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(sw.status))
		}
	})
}

// carriesTrace reports whether h has any of the headers the W3C propagators read.
func carriesTrace(h http.Header) bool {
	return len(h["Traceparent"]) > 0 || len(h["Tracestate"]) > 0 || len(h["Baggage"]) > 0
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
