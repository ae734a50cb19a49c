package health

import "time"

// limiter is the adaptive concurrency limit. It starts small and doubles per round trip (slow
// start) until latency first grows past its baseline; from then on it grows by about 10% per
// round trip while latency stays within tolerance of the baseline, shrinks in proportion when it
// does not (at most once per round trip), and halves on 429 (at most once a second, so one burst
// of 429s is one decrease). It only grows while the limit is in use, so a quiet hour does not
// leave a limit the destination never saw. Not safe for concurrent use: the gate's lock guards it.
type limiter struct {
	lo, hi       float64
	limit        float64
	slowStart    bool
	base         baseline
	smoothed     time.Duration // latency averaged over about a round trip's answers
	lastDecrease time.Time
	lastThrottle time.Time
}

const (
	initialLimit = 64
	// Latency within tolerance of the baseline: at most 1.5x it, or 20 ms over it (a fast local
	// destination's baseline of 1 ms would otherwise make scheduling noise look like queueing).
	toleranceFactor = 1.5
	toleranceAdd    = 20 * time.Millisecond
	// growth per answer in congestion avoidance: about limit answers come back per round trip,
	// so +0.1 each is +10% per round trip.
	growth = 0.1
)

func newLimiter(lo, hi int) limiter {
	lo, hi = max(1, lo), max(1, lo, hi)
	return limiter{lo: float64(lo), hi: float64(hi), limit: float64(min(hi, max(lo, initialLimit))), slowStart: true}
}

func (l *limiter) current() int { return max(1, int(l.limit)) }

// observe takes one answer: its outcome, how long it took, and how many attempts were under way
// with it.
func (l *limiter) observe(now time.Time, o Outcome, took time.Duration, inFlight int) {
	switch o {
	case Throttled:
		if now.Sub(l.lastThrottle) >= time.Second {
			l.limit = max(l.lo, l.limit/2)
			l.lastThrottle, l.slowStart = now, false
		}
		return
	case Healthy, Rejected:
	default:
		return // failures say nothing about queueing
	}
	base := l.base.observe(now, took)
	// One slow answer is noise; a round trip's worth of them is queueing.
	if l.smoothed == 0 {
		l.smoothed = took
	} else {
		alpha := 2 / (l.limit + 1)
		l.smoothed += time.Duration(alpha * float64(took-l.smoothed))
	}
	tolerated := max(time.Duration(float64(base)*toleranceFactor), base+toleranceAdd)
	switch {
	case l.smoothed > tolerated:
		if now.Sub(l.lastDecrease) >= l.smoothed {
			l.limit = max(l.lo, l.limit*float64(tolerated)/float64(l.smoothed))
			l.lastDecrease, l.slowStart = now, false
		}
	case 2*inFlight >= int(l.limit):
		if l.slowStart {
			l.limit = min(l.hi, l.limit+1)
		} else {
			l.limit = min(l.hi, l.limit+growth)
		}
	}
}

// baseline is the lowest latency of the last five minutes, kept in 30-second buckets so an old
// minimum ages out (the destination may have got slower for good).
type baseline struct {
	mins  [10]time.Duration
	start [10]time.Time
}

const bucketSpan = 30 * time.Second

func (b *baseline) observe(now time.Time, took time.Duration) time.Duration {
	slot := int(now.UnixNano()/int64(bucketSpan)) % len(b.mins)
	bucketStart := now.Truncate(bucketSpan)
	if !b.start[slot].Equal(bucketStart) {
		b.start[slot], b.mins[slot] = bucketStart, took
	} else {
		b.mins[slot] = min(b.mins[slot], took)
	}
	lowest := took
	for i, m := range b.mins {
		if !b.start[i].IsZero() && now.Sub(b.start[i]) < time.Duration(len(b.mins))*bucketSpan {
			lowest = min(lowest, m)
		}
	}
	return lowest
}
