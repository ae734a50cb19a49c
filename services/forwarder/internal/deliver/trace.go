package deliver

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/tracing"
)

// Deliver is deliver in a span "adeventsx deliver", child of the record's trace in ctx (see
// libs/tracing), which each HTTP attempt's span joins.
func (d *Deliverer) Deliver(ctx context.Context, eventID string, body []byte) error {
	ctx, span := tracing.Tracer().Start(ctx, "adeventsx deliver", trace.WithAttributes(attribute.String("event.id", eventID)))
	defer span.End()
	err := d.deliver(ctx, eventID, body)
	var f *deadletter.Failure
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("delivery.outcome", "delivered"))
	case errors.As(err, &f):
		span.SetAttributes(attribute.String("delivery.outcome", string(f.Reason)), attribute.Int("delivery.attempts", f.Attempts))
		span.SetStatus(codes.Error, f.Message)
	default:
		// Not finished: the partition was revoked or the process is stopping.
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

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
