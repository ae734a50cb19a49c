package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/martech/eventfwd/libs/deadletter"
)

// memoryTraces installs a tracer provider that keeps every ended span in memory.
func memoryTraces(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })
	return exp
}

func spanNamed(t *testing.T, exp *tracetest.InMemoryExporter, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range exp.GetSpans() {
			names = append(names, s.Name)
		}
		t.Fatalf("want one span %q, have %d among %v", name, len(found), names)
	}
	return found[0]
}

// cluster is a kfake cluster with the topics, and a producing and a consuming client with hooks.
func cluster(t *testing.T, hooks *KafkaHooks, topics ...string) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithHooks(hooks))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

// consumeOne reads the next record of topic with the hooks, from the start.
func consumeOne(t *testing.T, c *kfake.Cluster, hooks *KafkaHooks, topic string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithHooks(hooks),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			t.Fatalf("no record on %s: %v", topic, ctx.Err())
		}
		if rs := fs.Records(); len(rs) > 0 {
			return rs[0]
		}
	}
}

func header(r *kgo.Record, key string) string {
	v, _ := deadletter.Header(r.Headers, key)
	return v
}

// One event's spans form one trace: the request, the publish to events.raw, the forwarder's
// receive, its delivery and its dead-letter write; the marker topic is not traced.
func TestOneEventIsOneTraceAcrossKafka(t *testing.T) {
	exp := memoryTraces(t)
	hooks := NewKafkaHooks("test", "group", "raw", "dlq")
	c, cl := cluster(t, hooks, "raw", "dlq", "markers")

	// The ingress: a request span, and the record published inside it.
	reqCtx, req := Tracer().Start(t.Context(), "POST /events")
	if err := cl.ProduceSync(reqCtx, &kgo.Record{Topic: "raw", Key: []byte("id-1"), Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	req.End()

	// The forwarder: receive, deliver, dead-letter (the DLQ record keeps the original headers),
	// and a marker write on a topic the hooks leave alone.
	r := consumeOne(t, c, hooks, "raw")
	if got := header(r, "traceparent"); got == "" {
		t.Fatalf("record headers %v: no traceparent", r.Headers)
	}
	ctx := RecordContext(context.Background(), r)
	_, deliver := Tracer().Start(ctx, "adeventsx deliver")
	deliver.End()
	dlq := deadletter.Record("dlq", r, deadletter.Failure{Reason: deadletter.Rejected, Message: "400", FailedAt: time.Now()})
	if err := cl.ProduceSync(ctx, dlq).FirstErr(); err != nil {
		t.Fatal(err)
	}
	marker := &kgo.Record{Topic: "markers", Key: []byte("id-1")}
	if err := cl.ProduceSync(ctx, marker).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if header(marker, "traceparent") != "" {
		t.Errorf("the marker got a traceparent: %v", marker.Headers)
	}

	request := spanNamed(t, exp, "POST /events")
	publish := spanNamed(t, exp, "raw publish")
	receive := spanNamed(t, exp, "raw receive")
	delivered := spanNamed(t, exp, "adeventsx deliver")
	deadLettered := spanNamed(t, exp, "dlq publish")
	tests := []struct {
		name         string
		span, parent tracetest.SpanStub
	}{
		{"publish in the request", publish, request},
		{"receive after the publish", receive, publish},
		{"delivery of the received record", delivered, receive},
		{"dead-letter write of the received record", deadLettered, receive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.span.SpanContext.TraceID() != request.SpanContext.TraceID() {
				t.Errorf("%s is in trace %s, the request in %s", tt.span.Name, tt.span.SpanContext.TraceID(), request.SpanContext.TraceID())
			}
			if tt.span.Parent.SpanID() != tt.parent.SpanContext.SpanID() {
				t.Errorf("%s's parent is %s, want %s (%s)", tt.span.Name, tt.span.Parent.SpanID(), tt.parent.SpanContext.SpanID(), tt.parent.Name)
			}
		})
	}
	if len(exp.GetSpans()) != 5 {
		t.Errorf("%d spans, want 5 (no marker spans)", len(exp.GetSpans()))
	}
	// The DLQ record carries the trace on, for a later replay to link to.
	if got, want := header(dlq, "traceparent"), deadLettered.SpanContext.TraceID().String(); len(got) < 36 || got[3:35] != want {
		t.Errorf("DLQ record traceparent %q, want trace %s", got, want)
	}
}

// A record from an upstream producer that knows nothing of tracing starts a new trace.
func TestRecordWithoutTraceStartsOne(t *testing.T) {
	exp := memoryTraces(t)
	hooks := NewKafkaHooks("test", "group", "raw")
	c, _ := cluster(t, hooks, "raw")
	plain, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(t.Context(), &kgo.Record{Topic: "raw", Key: []byte("id-2"), Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := consumeOne(t, c, hooks, "raw")
	_, deliver := Tracer().Start(RecordContext(context.Background(), r), "adeventsx deliver")
	deliver.End()

	receive := spanNamed(t, exp, "raw receive")
	if receive.Parent.IsValid() || !receive.SpanContext.TraceID().IsValid() {
		t.Errorf("receive span parent %v, trace %s: want a new root", receive.Parent, receive.SpanContext.TraceID())
	}
	if d := spanNamed(t, exp, "adeventsx deliver"); d.SpanContext.TraceID() != receive.SpanContext.TraceID() {
		t.Errorf("the delivery is not in the new trace")
	}
}

// A record `dlq replay` re-published starts a new trace that links to its original one.
func TestReplayedRecordLinksToItsOriginalTrace(t *testing.T) {
	exp := memoryTraces(t)
	hooks := NewKafkaHooks("test", "group", "raw", "dlq")
	c, cl := cluster(t, hooks, "raw", "dlq")

	// The original: dead-lettered within its trace.
	origCtx, orig := Tracer().Start(t.Context(), "POST /events")
	dlq := deadletter.Record("dlq", &kgo.Record{Topic: "raw", Key: []byte("id-3"), Value: []byte("{}")},
		deadletter.Failure{Reason: deadletter.Exhausted, FailedAt: time.Now()})
	if err := cl.ProduceSync(origCtx, dlq).FirstErr(); err != nil {
		t.Fatal(err)
	}
	orig.End()

	// The replay, as the dlq CLI does it: the DLQ record's key, value and headers, replay count +1,
	// by a client without tracing.
	replayed := &kgo.Record{Topic: "raw", Key: dlq.Key, Value: dlq.Value}
	for _, h := range dlq.Headers {
		if h.Key == deadletter.HeaderReplayCount {
			h.Value = []byte("1")
		}
		replayed.Headers = append(replayed.Headers, h)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.ProduceSync(t.Context(), replayed).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumeOne(t, c, hooks, "raw")

	original := spanNamed(t, exp, "dlq publish")
	receive := spanNamed(t, exp, "raw receive")
	if receive.SpanContext.TraceID() == original.SpanContext.TraceID() || receive.Parent.IsValid() {
		t.Fatalf("the replayed record's receive span continues trace %s (parent %s): want a new trace",
			receive.SpanContext.TraceID(), receive.Parent.SpanID())
	}
	if len(receive.Links) != 1 || receive.Links[0].SpanContext.TraceID() != original.SpanContext.TraceID() ||
		receive.Links[0].SpanContext.SpanID() != original.SpanContext.SpanID() {
		t.Fatalf("receive span links %+v, want one link to the dead-letter write %s/%s",
			receive.Links, original.SpanContext.TraceID(), original.SpanContext.SpanID())
	}
}

// The HTTP handler continues a caller's trace, names the span by route, and leaves other paths
// (probes, scrapes) untraced.
func TestHTTPHandlerTracesRoutes(t *testing.T) {
	exp := memoryTraces(t)
	var inner trace.SpanContext
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			inner = trace.SpanContextFromContext(r.Context())
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}), "/events")

	const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := httptest.NewRequest(http.MethodPost, "/events", nil)
	req.Header.Set("traceparent", caller)
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))

	s := spanNamed(t, exp, "POST /events")
	if s.SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span trace %s parent %s: want the caller's", s.SpanContext.TraceID(), s.Parent.SpanID())
	}
	if inner.SpanID() != s.SpanContext.SpanID() {
		t.Errorf("the handler's context does not carry the server span")
	}
	if s.Status.Code.String() != "Error" {
		t.Errorf("a 503 left the span status %v", s.Status)
	}
	if n := len(exp.GetSpans()); n != 1 {
		t.Errorf("%d spans, want 1 (GET /metrics untraced)", n)
	}
}

// With exporting off, a request that carries a trace still hands it to the handler (the ingress
// passes it on into Kafka), and one that carries none reaches the handler as it came.
func TestHTTPHandlerWithExportingOffPassesACallersTraceOn(t *testing.T) {
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(noop.NewTracerProvider())
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	var got trace.SpanContext
	var sameRequest bool
	var plain *http.Request
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
		sameRequest = r == plain
	}), "/events")

	req := httptest.NewRequest(http.MethodPost, "/events", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("the handler got trace %s, want the caller's", got.TraceID())
	}

	var bag baggage.Baggage
	h = HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, bag = trace.SpanContextFromContext(r.Context()), baggage.FromContext(r.Context())
		sameRequest = r == plain
	}), "/events")
	req = httptest.NewRequest(http.MethodPost, "/events", nil)
	req.Header.Set("baggage", "campaign=c-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if bag.Member("campaign").Value() != "c-1" {
		t.Errorf("the handler got baggage %q, want the caller's", bag.String())
	}

	plain = httptest.NewRequest(http.MethodPost, "/events", nil)
	h.ServeHTTP(httptest.NewRecorder(), plain)
	if got.IsValid() || !sameRequest {
		t.Errorf("a request without trace headers got span context %v (same request: %v), want it untouched", got, sameRequest)
	}
}

func TestReadSettings(t *testing.T) {
	tests := []struct {
		name      string
		give      map[string]string
		exporting bool
		wantErr   string
	}{
		{"off by default", map[string]string{}, false, ""},
		{"on with an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ""},
		{"on with a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, ""},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"grpc refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, false, "OTEL_TRACES_EXPORTER"},
		{"bad disabled", map[string]string{"OTEL_SDK_DISABLED": "yes"}, false, "OTEL_SDK_DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ReadSettings(func(k string) string { return tt.give[k] })
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !errors.As(err, new(SettingError)) || gotErr[:len(tt.wantErr)] != tt.wantErr) {
				t.Fatalf("error %q, want one starting with %q", gotErr, tt.wantErr)
			}
			if err == nil && s.Exporting() != tt.exporting {
				t.Errorf("Exporting() = %v, want %v", s.Exporting(), tt.exporting)
			}
		})
	}
}

// With exporting off no span is made, but a trace that came in goes out: from a produced
// record's context into its headers, and from a fetched record's headers into its context.
func TestHooksWithExportingOffPassTheTraceOn(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	hooks := NewKafkaHooks("test", "group", "raw")
	if hooks.recording {
		t.Fatal("hooks record spans with no exporting provider installed")
	}
	c, cl := cluster(t, hooks, "raw")
	incoming := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 1}, SpanID: trace.SpanID{0xb7, 2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(t.Context(), incoming)
	traced := &kgo.Record{Topic: "raw", Key: []byte("a")}
	plain := &kgo.Record{Topic: "raw", Key: []byte("b")}
	if err := cl.ProduceSync(ctx, traced).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), plain).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := "00-" + incoming.TraceID().String() + "-" + incoming.SpanID().String() + "-01"
	if got := header(traced, "traceparent"); got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if len(plain.Headers) != 0 {
		t.Errorf("a record without a trace got headers %v", plain.Headers)
	}
	r := consumeOne(t, c, hooks, "raw")
	if got := trace.SpanContextFromContext(RecordContext(context.Background(), r)); got.TraceID() != incoming.TraceID() || got.SpanID() != incoming.SpanID() {
		t.Errorf("fetched record's context carries %s/%s, want %s/%s", got.TraceID(), got.SpanID(), incoming.TraceID(), incoming.SpanID())
	}
}
