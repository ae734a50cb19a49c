package deliver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/martech/eventfwd/services/forwarder/internal/health"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// Final is how a delivery ended.
type Final int

const (
	// Sent: AdEventsX accepted the event.
	Sent Final = iota
	// Rejected: AdEventsX refused the event itself (a 4xx other than 401/403/408/429).
	Rejected
	// Exhausted: the retry budget ran out on passing failures.
	Exhausted
)

// Result is what a delivery came to.
type Result struct {
	Final          Final
	Attempts       int // HTTP requests made, counted or not
	LastStatus     int
	LastError      string // one human line, for dlq.error
	FirstAttemptAt time.Time
}

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
	Done(t health.Ticket, o health.Outcome) (counted bool)
	Epoch() uint64
}

// Deliverer sends one event with retries. A delivery waiting for its next attempt holds nothing
// but its own goroutine, so the records behind it go on.
type Deliverer struct {
	client  *Client
	gate    Gate
	policy  Policy
	metrics *metrics.Forwarder
}

// NewDeliverer wires the client, the gate and the policy.
func NewDeliverer(c *Client, g Gate, p Policy, m *metrics.Forwarder) *Deliverer {
	return &Deliverer{client: c, gate: g, policy: p, metrics: m}
}

// deliver sends body until it is delivered, rejected or its retries are used up. It returns
// ctx's error, and no Result, when ctx ends first (the partition was revoked or the process is
// stopping): the event is then not finished and someone will deliver it again.
func (d *Deliverer) deliver(ctx context.Context, eventID string, body []byte) (Result, error) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d.policy.InitialBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(d.policy.Jitter),
		backoff.WithMaxInterval(d.policy.MaxBackoff),
		backoff.WithMaxElapsedTime(0),
	)
	var res Result
	counted := 0
	var epoch uint64
	for {
		ticket, err := d.gate.Acquire(ctx)
		if err != nil {
			return Result{}, err
		}
		if res.FirstAttemptAt.IsZero() {
			res.FirstAttemptAt = time.Now().UTC()
		}
		// The attempt outlives ctx: once a request is out we want its answer.
		a := d.client.Send(context.WithoutCancel(ctx), eventID, body)
		res.Attempts++
		res.LastStatus = a.Status
		d.observe(a)
		if d.gate.Done(ticket, outcomeOf(a)) {
			// Failures from before an outage were the outage's, not this event's.
			if e := d.gate.Epoch(); e != epoch {
				epoch, counted = e, 0
			}
			counted++
		}
		switch a.Verdict {
		case Delivered:
			res.Final, res.LastError = Sent, ""
			return res, nil
		case Reject:
			res.Final, res.LastError = Rejected, describe(a)
			return res, nil
		}
		res.LastError = describe(a)
		if counted >= d.policy.MaxAttempts {
			res.Final = Exhausted
			return res, nil
		}
		wait := max(b.NextBackOff(), a.RetryAfter)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Result{}, ctx.Err()
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
	case a.Verdict == Unauthorized:
		return health.KeyRefused
	case a.Status == http.StatusTooManyRequests:
		return health.Throttled
	case a.Verdict == Retry:
		return health.Failing
	}
	return health.Healthy
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
