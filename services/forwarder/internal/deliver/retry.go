package deliver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/forwarder/internal/health"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// Policy is the retry policy's timings.
type Policy struct {
	MaxAttempts    int           // attempts that count against an event, the first included
	InitialBackoff time.Duration // wait before the first retry; doubles after each
	MaxBackoff     time.Duration
	Jitter         float64 // +/- share of each wait
}

// Gate is the destination's health, asked before and told after every attempt.
type Gate interface {
	Acquire(ctx context.Context) (health.Ticket, error)
	Done(t health.Ticket, r health.Report, since uint64) health.Verdict
}

// Sender makes one HTTP attempt; *Client is the real one, tests script their own.
type Sender interface {
	Send(ctx context.Context, eventID string, body []byte) Attempt
}

// Deliverer sends one event with retries. A delivery waiting for its next attempt holds nothing
// but its own goroutine, so the records behind it go on.
type Deliverer struct {
	client  Sender
	gate    Gate
	policy  Policy
	metrics *metrics.Forwarder
}

// NewDeliverer wires the client, the gate and the policy.
func NewDeliverer(c Sender, g Gate, p Policy, m *metrics.Forwarder) *Deliverer {
	return &Deliverer{client: c, gate: g, policy: p, metrics: m}
}

// deliver sends body until it is delivered (nil), refused for good or out of retries (a
// *deadletter.Failure: rejected or exhausted, to dead-letter), or ctx ends first (ctx's error:
// the partition was revoked or the process is stopping, the event is not finished and someone
// will deliver it again).
func (d *Deliverer) deliver(ctx context.Context, eventID string, body []byte) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d.policy.InitialBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(d.policy.Jitter),
		backoff.WithMaxInterval(d.policy.MaxBackoff),
		backoff.WithMaxElapsedTime(0),
	)
	var f deadletter.Failure
	counted := 0
	var since uint64
	for {
		ticket, err := d.gate.Acquire(ctx)
		if err != nil {
			return err
		}
		if f.FirstAttemptAt.IsZero() {
			f.FirstAttemptAt = time.Now().UTC()
			since = ticket.Seen()
		}
		// The attempt outlives ctx: once a request is out we want its answer.
		a := d.client.Send(context.WithoutCancel(ctx), eventID, body)
		f.Attempts++
		f.HTTPStatus = a.Status
		d.observe(a)
		v := d.gate.Done(ticket, health.Report{Outcome: outcomeOf(a), Status: a.Status, EventID: eventID, Latency: a.Took}, since)
		since = v.Seen
		if a.Verdict == Delivered {
			return nil
		}
		f.Message = describe(a)
		if a.Verdict == Reject && v.Final {
			f.Reason = deadletter.Rejected
			return &f
		}
		if v.Counted {
			counted++
		}
		if counted >= d.policy.MaxAttempts {
			f.Reason = deadletter.Exhausted
			return &f
		}
		wait := max(b.NextBackOff(), a.RetryAfter)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

func (d *Deliverer) observe(a Attempt) {
	if d.metrics == nil {
		return
	}
	result := ErrorClass(a.Err)
	if a.Err == nil {
		result = strconv.Itoa(a.Status)
	}
	d.metrics.Attempts.WithLabelValues(result).Inc()
	d.metrics.Latency.Observe(a.Took.Seconds())
}

func outcomeOf(a Attempt) health.Outcome {
	switch {
	case a.Verdict == Delivered:
		return health.Healthy
	case a.Verdict == Refused:
		return health.Refused
	case a.Verdict == Reject:
		return health.Rejected
	case a.Status == http.StatusTooManyRequests:
		return health.Throttled
	}
	return health.Failing
}

// describe makes the one human line that goes into dlq.error.
func describe(a Attempt) string {
	if a.Err != nil {
		return fmt.Sprintf("adeventsx %s error: %v", ErrorClass(a.Err), a.Err)
	}
	line := fmt.Sprintf("adeventsx answered %d %s", a.Status, http.StatusText(a.Status))
	if a.Detail != "" {
		line += ": " + a.Detail
	}
	return line
}
