package health

import (
	"testing"
	"time"
)

// drive feeds the limiter rounds of answers at a latency that latency(limit) gives, each round
// being one round trip with the limit's worth of answers, as a saturated pipeline sends them.
func drive(l *limiter, start time.Time, rounds int, o Outcome, latency func(limit int) time.Duration) time.Time {
	now := start
	for range rounds {
		n, took := l.current(), latency(l.current())
		now = now.Add(took)
		for range n {
			l.observe(now, o, took, n)
		}
	}
	return now
}

func TestLimiterGrowsWhileLatencyHoldsAndShrinksWhenItQueues(t *testing.T) {
	l := newLimiter(1, 2048)
	flat := func(int) time.Duration { return 50 * time.Millisecond }
	now := drive(&l, time.Unix(0, 0), 10, Healthy, flat)
	if got := l.current(); got != 2048 {
		t.Fatalf("limit after 10 round trips at a steady 50 ms = %d, want the ceiling 2048", got)
	}
	// A destination that queues beyond 300 in flight: latency grows with the limit past it.
	queues := func(limit int) time.Duration {
		return 50*time.Millisecond + time.Duration(max(0, limit-300))*time.Millisecond
	}
	drive(&l, now, 60, Healthy, queues)
	if got := l.current(); got < 200 || got > 400 {
		t.Fatalf("limit against a destination that queues past 300 = %d, want about 300", got)
	}
}

func TestLimiterHalvesOn429OncePerSecond(t *testing.T) {
	l := newLimiter(1, 256)
	now := time.Unix(0, 0)
	before := l.current()
	l.observe(now, Throttled, time.Millisecond, 1)
	l.observe(now.Add(500*time.Millisecond), Throttled, time.Millisecond, 1)
	if got := l.current(); got != before/2 {
		t.Fatalf("limit after two 429s within a second = %d, want %d", got, before/2)
	}
	l.observe(now.Add(1500*time.Millisecond), Throttled, time.Millisecond, 1)
	if got := l.current(); got != before/4 {
		t.Fatalf("limit after a 429 a second later = %d, want %d", got, before/4)
	}
}

// An idle pipeline (few in flight) does not raise a limit the destination never saw.
func TestLimiterDoesNotGrowUnused(t *testing.T) {
	l := newLimiter(1, 2048)
	now := time.Unix(0, 0)
	for i := range 10000 {
		l.observe(now.Add(time.Duration(i)*time.Millisecond), Healthy, time.Millisecond, 2)
	}
	if got := l.current(); got != initialLimit {
		t.Fatalf("limit after 10 000 answers with 2 in flight = %d, want it unchanged at %d", got, initialLimit)
	}
}

// One slow answer among many is noise, not queueing: the limit holds.
func TestLimiterIgnoresAnOutlier(t *testing.T) {
	l := newLimiter(1, 2048)
	now := drive(&l, time.Unix(0, 0), 10, Healthy, func(int) time.Duration { return 50 * time.Millisecond })
	before := l.current()
	l.observe(now.Add(time.Millisecond), Healthy, 2*time.Second, before)
	if got := l.current(); got < before*9/10 {
		t.Fatalf("limit after one 2 s answer among 50 ms ones = %d, was %d", got, before)
	}
}
