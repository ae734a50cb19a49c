// Package health guards AdEventsX from us and us from its bad days: a circuit breaker that holds
// deliveries back while most recent requests fail (or 401/403 say our key is bad) and probes with
// single requests until one succeeds, an adaptive concurrency limit that halves under 429s and
// grows back by one per limit's worth of successes (AIMD), and an optional requests/s cap.
//
// It is written here rather than taken from a breaker library because the forwarder needs two
// things those do not give: waiting (not failing fast) while open, and telling the caller whether a
// failure counts against the event's own retry budget.
package health

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Outcome is how an attempt went, as far as the destination's health is concerned.
type Outcome int

const (
	// Healthy: the destination answered for itself (2xx, or a 4xx about the event).
	Healthy Outcome = iota
	// Failing: 5xx, timeout or connection error.
	Failing
	// Throttled: 429; also lowers the concurrency limit.
	Throttled
	// KeyRefused: 401/403, the destination refuses our key for everything.
	KeyRefused
)

// Config tunes the gate.
type Config struct {
	Window        time.Duration // how far back "recent" reaches
	MinRequests   int           // recent requests needed before the circuit may open
	FailureRatio  float64       // share of recent requests failing that opens the circuit
	ProbeInterval time.Duration // first wait between probes; doubles up to MaxProbeInterval
	MaxProbe      time.Duration
	MaxInFlight   int     // upper bound of the adaptive limit
	MinInFlight   int     // lower bound of the adaptive limit
	MaxRPS        float64 // 0: no cap
}

// Ticket is the permission for one attempt; hand it back to Done.
type Ticket struct {
	probe bool
}

type sample struct {
	at time.Time
	o  Outcome
}

const (
	// judgeLast is how many of the latest attempts decide whether a failure is the event's own.
	// Few enough that a burst of successes seconds before an outage does not make the outage's
	// failures count (a whole window's worth did: events were exhausted right after a burst).
	judgeLast = 20
	// refusedRunToOpen 401/403s in a row open the circuit, whatever succeeded before them: a
	// refused key is about every request.
	refusedRunToOpen = 5
)

// Gate is safe for concurrent use.
type Gate struct {
	cfg Config
	log *slog.Logger
	rps *rate.Limiter
	now func() time.Time

	mu        sync.Mutex
	open      bool
	reason    string
	epoch     uint64
	probing   bool
	nextProbe time.Time
	probeWait time.Duration
	samples   []sample // ring, oldest first from head
	head      int
	limit     float64
	inFlight  int
	lastDecr  time.Time
	waiters   int
	wake      chan struct{}
	onChange  func(open bool)
}

// New returns a closed gate. onChange, if set, is called (outside the lock) when the circuit opens
// or closes.
func New(cfg Config, log *slog.Logger, onChange func(open bool)) *Gate {
	g := &Gate{
		cfg:      cfg,
		log:      log,
		now:      time.Now,
		limit:    float64(cfg.MaxInFlight),
		wake:     make(chan struct{}),
		onChange: onChange,
	}
	if cfg.MaxRPS > 0 {
		g.rps = rate.NewLimiter(rate.Limit(cfg.MaxRPS), max(1, int(cfg.MaxRPS/10)))
	}
	return g
}

// Open reports whether deliveries are held back.
func (g *Gate) Open() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Limit is the current adaptive concurrency limit.
func (g *Gate) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return int(g.limit)
}

// Epoch counts the times the circuit has opened. A delivery whose failures straddle an opening
// knows they were part of an outage, not its own fault.
func (g *Gate) Epoch() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// Acquire waits until an attempt may be made: the circuit is closed and the concurrency limit has
// room, or the circuit is open and it is this caller's turn to probe.
func (g *Gate) Acquire(ctx context.Context) (Ticket, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Ticket{}, err
		}
		g.mu.Lock()
		now := g.now()
		var t Ticket
		ok := false
		switch {
		case !g.open && g.inFlight < max(1, int(g.limit)):
			ok = true
		case g.open && !g.probing && !now.Before(g.nextProbe):
			g.probing, t.probe, ok = true, true, true
		}
		if ok {
			g.inFlight++
			g.mu.Unlock()
			if g.rps != nil {
				if err := g.rps.Wait(ctx); err != nil {
					g.release(t)
					return Ticket{}, err
				}
			}
			return t, nil
		}
		wake := g.wake
		g.waiters++
		var timer *time.Timer
		var probeDue <-chan time.Time
		if g.open && !g.probing {
			timer = time.NewTimer(g.nextProbe.Sub(now))
			probeDue = timer.C
		}
		g.mu.Unlock()

		var err error
		select {
		case <-wake:
		case <-probeDue:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		g.mu.Lock()
		g.waiters--
		g.mu.Unlock()
		if err != nil {
			return Ticket{}, err
		}
	}
}

// release returns a ticket that was never used for a request: no outcome, no sample.
func (g *Gate) release(t Ticket) {
	g.mu.Lock()
	g.inFlight--
	if t.probe {
		g.probing = false
	}
	g.wakeLocked()
	g.mu.Unlock()
}

func (g *Gate) wakeLocked() {
	if g.waiters > 0 {
		close(g.wake)
		g.wake = make(chan struct{})
	}
}

// Done returns a ticket with the attempt's outcome. counted says whether a failure counts against
// the event's retry budget: only when most of the latest attempts (judgeLast) succeeded, so the
// failure is the event's own. Not when the circuit was open for it, nor when failures are most of
// the latest attempts (the destination as a whole is failing, even before enough requests were
// seen to open the circuit, as with a lone event at night, or while the successes of a burst just
// before an outage still fill the window).
func (g *Gate) Done(t Ticket, o Outcome) (counted bool) {
	g.mu.Lock()
	g.inFlight--
	now := g.now()
	failed := o != Healthy
	changed := false
	switch {
	case t.probe:
		g.probing = false
		if failed {
			g.probeWait = min(g.probeWait*2, g.cfg.MaxProbe)
			g.nextProbe = now.Add(g.probeWait)
		} else {
			g.open = false
			g.samples, g.head = g.samples[:0], 0
			changed = true
		}
	case g.open:
		// An attempt that started before the circuit opened.
	default:
		g.record(now, o)
		total, failures := g.recent(now)
		latest, latestFailures, refusedRun := g.latest(now)
		switch {
		case failed && (g.shouldOpen(o, total, failures) || refusedRun >= refusedRunToOpen):
			g.open, g.epoch = true, g.epoch+1
			g.reason = reasonOf(o)
			g.probeWait = g.cfg.ProbeInterval
			g.nextProbe = now.Add(g.probeWait)
			changed = true
		case failed:
			counted = 2*latestFailures < latest
		}
		g.adapt(now, o)
	}
	open, reason, limit := g.open, g.reason, g.limit
	g.wakeLocked()
	g.mu.Unlock()

	if changed {
		if open {
			g.log.Warn("adeventsx circuit opened: holding deliveries back", "reason", reason,
				"probe_every", g.cfg.ProbeInterval.String())
		} else {
			g.log.Info("adeventsx circuit closed: deliveries resume", "limit", int(limit))
		}
		if g.onChange != nil {
			g.onChange(open)
		}
	}
	return counted
}

func reasonOf(o Outcome) string {
	switch o {
	case KeyRefused:
		return "401/403: the API key is refused"
	case Throttled:
		return "most recent requests answered 429"
	}
	return "most recent requests failing (5xx, timeouts, connection errors)"
}

// record adds a sample to the ring of the last few hundred attempts.
func (g *Gate) record(now time.Time, o Outcome) {
	const ring = 256
	s := sample{at: now, o: o}
	if len(g.samples) < ring {
		g.samples = append(g.samples, s)
		return
	}
	g.samples[g.head] = s
	g.head = (g.head + 1) % ring
}

// recent counts the samples of the window and the failures among them.
func (g *Gate) recent(now time.Time) (total, failed int) {
	since := now.Add(-g.cfg.Window)
	for _, s := range g.samples {
		if s.at.Before(since) {
			continue
		}
		total++
		if s.o != Healthy {
			failed++
		}
	}
	return total, failed
}

// latest looks at the judgeLast newest samples of the window, newest first: how many there are,
// how many failed, and how many of the newest in a row were 401/403.
func (g *Gate) latest(now time.Time) (total, failed, refusedRun int) {
	since := now.Add(-g.cfg.Window)
	n := len(g.samples)
	run := true
	for i := 0; i < n && total < judgeLast; i++ {
		s := g.samples[(g.head+n-1-i)%n]
		if s.at.Before(since) {
			break
		}
		total++
		if s.o != Healthy {
			failed++
		}
		if run = run && s.o == KeyRefused; run {
			refusedRun++
		}
	}
	return total, failed, refusedRun
}

func (g *Gate) shouldOpen(o Outcome, total, failed int) bool {
	enough := g.cfg.MinRequests
	if o == KeyRefused {
		// 401/403 is about every request, so fewer of them are needed.
		enough = max(1, enough/2)
	}
	return total >= enough && float64(failed) >= g.cfg.FailureRatio*float64(total)
}

// adapt moves the concurrency limit: halve on a 429 (at most once a second, so one burst of 429s
// is one decrease), otherwise grow by one per limit's worth of successes.
func (g *Gate) adapt(now time.Time, o Outcome) {
	switch o {
	case Throttled:
		if now.Sub(g.lastDecr) >= time.Second {
			g.limit = max(float64(g.cfg.MinInFlight), g.limit/2)
			g.lastDecr = now
		}
	case Healthy:
		g.limit = min(float64(g.cfg.MaxInFlight), g.limit+1/g.limit)
	}
}
