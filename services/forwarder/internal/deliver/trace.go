package deliver

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/martech/eventfwd/libs/tracing"
)

// Deliver is deliver in a span "adeventsx deliver", child of the record's trace in ctx (see
// libs/tracing), which each HTTP attempt's span joins.
func (d *Deliverer) Deliver(ctx context.Context, eventID string, body []byte) (Result, error) {
	ctx, span := tracing.Tracer().Start(ctx, "adeventsx deliver", trace.WithAttributes(attribute.String("event.id", eventID)))
	defer span.End()
	res, err := d.deliver(ctx, eventID, body)
	switch {
	case err != nil:
		// Not finished: the partition was revoked or the process is stopping.
		span.SetStatus(codes.Error, err.Error())
	default:
		span.SetAttributes(attribute.String("delivery.outcome", outcomes[res.Final]), attribute.Int("delivery.attempts", res.Attempts))
		if res.Final != Sent {
			span.SetStatus(codes.Error, res.LastError)
		}
	}
	return res, err
}

var outcomes = map[Final]string{Sent: "delivered", Rejected: "rejected", Exhausted: "exhausted"}

// Send is send in a client span "POST /v1/conversions". The trace is not sent to AdEventsX:
// its requests carry only the headers its API names.
func (c *Client) Send(ctx context.Context, eventID string, body []byte) Attempt {
	ctx, span := tracing.Tracer().Start(ctx, "POST /v1/conversions", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", "POST"), attribute.String("event.id", eventID)))
	defer span.End()
	a := c.send(ctx, eventID, body)
	if a.Status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", a.Status))
	}
	switch {
	case a.Err != nil:
		span.SetStatus(codes.Error, a.Err.Error())
	case a.Verdict != Delivered:
		span.SetStatus(codes.Error, strconv.Itoa(a.Status))
	}
	return a
}
