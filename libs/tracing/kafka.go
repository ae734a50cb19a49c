package tracing

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/martech/eventfwd/libs/deadletter"
)

// KafkaHooks are kgo hooks (kgo.WithHooks) that trace the records of the given topics, and only
// those: a produced record gets a "<topic> publish" span, child of the span in its context, and
// its traceparent header; a fetched record gets a "<topic> receive" span, child of the trace in
// its headers or the root of a new trace when it has none (an upstream producer's record). A
// record a `dlq replay` re-published (dlq.replay_count >= 1) starts a new trace instead, linked
// to the one it failed in. The span is in the record's Context; RecordContext passes it on.
//
// With no exporting tracer provider installed (exporting off) no span is made: the hooks only
// pass a traceparent on, from a produced record's context into its headers and from a fetched
// record's headers into its context, which costs next to nothing for records without one.
type KafkaHooks struct {
	topics    map[string]bool
	recording bool
	prop      propagation.TextMapPropagator
	child     *kotel.Tracer // spans continue the record's trace
	linked    *kotel.Tracer // spans start a new trace, linked to the record's
}

var (
	_ kgo.HookProduceRecordBuffered   = (*KafkaHooks)(nil)
	_ kgo.HookProduceRecordUnbuffered = (*KafkaHooks)(nil)
	_ kgo.HookFetchRecordBuffered     = (*KafkaHooks)(nil)
	_ kgo.HookFetchRecordUnbuffered   = (*KafkaHooks)(nil)
)

// NewKafkaHooks returns hooks tracing topics for a client with clientID (and group, for a
// consumer; empty otherwise). Other topics (the forwarder's delivered markers) are left alone.
func NewKafkaHooks(clientID, group string, topics ...string) *KafkaHooks {
	opts := []kotel.TracerOpt{kotel.ClientID(clientID)}
	if group != "" {
		opts = append(opts, kotel.ConsumerGroup(group))
	}
	_, recording := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	h := &KafkaHooks{
		topics:    map[string]bool{},
		recording: recording,
		prop:      otel.GetTextMapPropagator(),
		child:     kotel.NewTracer(opts...),
		linked:    kotel.NewTracer(append(opts, kotel.LinkSpans())...),
	}
	for _, t := range topics {
		h.topics[t] = true
	}
	return h
}

// OnProduceRecordBuffered starts the publish span and writes its traceparent into the headers.
func (h *KafkaHooks) OnProduceRecordBuffered(r *kgo.Record) {
	switch {
	case !h.topics[r.Topic]:
	case h.recording:
		h.child.OnProduceRecordBuffered(r)
	case r.Context != nil && trace.SpanContextFromContext(r.Context).IsValid():
		h.prop.Inject(r.Context, kotel.NewRecordCarrier(r))
	}
}

// OnProduceRecordUnbuffered ends the publish span once Kafka acknowledged the record (or not).
func (h *KafkaHooks) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	// The same tests as when buffered: otherwise this would end the caller's span.
	if h.recording && h.topics[r.Topic] {
		h.child.OnProduceRecordUnbuffered(r, err)
	}
}

// OnFetchRecordBuffered starts the receive span from the record's headers.
func (h *KafkaHooks) OnFetchRecordBuffered(r *kgo.Record) {
	switch {
	case !h.topics[r.Topic] || r.Attrs.IsControl(): // a kept transaction marker is no event
	case !h.recording:
		if _, ok := deadletter.Header(r.Headers, "traceparent"); ok {
			r.Context = h.prop.Extract(context.Background(), kotel.NewRecordCarrier(r))
		}
	case deadletter.ReplayCount(r.Headers) > 0:
		h.linked.OnFetchRecordBuffered(r)
	default:
		h.child.OnFetchRecordBuffered(r)
	}
}

// OnFetchRecordUnbuffered ends the receive span when the record is handed to the application.
func (h *KafkaHooks) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if h.recording && h.topics[r.Topic] && !r.Attrs.IsControl() {
		h.child.OnFetchRecordUnbuffered(r, polled)
	}
}

// RecordContext returns ctx (its deadline and cancellation) carrying the span of r's context, so
// that the work done for a fetched record joins the record's trace.
func RecordContext(ctx context.Context, r *kgo.Record) context.Context {
	if r.Context == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, trace.SpanFromContext(r.Context))
}
