// Package health guards AdEventsX from us and us from its bad days. The Gate is asked before and
// told after every HTTP attempt. It holds three things:
//
//   - A circuit breaker that holds deliveries back while the destination as a whole is failing and
//     probes with single requests until one succeeds. It opens when most recent requests fail,
//     when every recent request is refused the same way (401/403/404/405/410, or the same other
//     4xx for several distinct events in a row: a gateway answering for an API being deployed),
//     or when failures go on while nothing at all has got through for a window (a lone event at
//     night: held where an operator sees it, never silently).
//   - The judge of whether a failure counts against the event's own retry budget: only when some
//     other event was delivered since the event's previous attempt. Then the destination works
//     and the failure is the event's own; otherwise it is the destination's, and an outage of any
//     length exhausts nothing. This does not depend on how much traffic there is.
//   - An adaptive concurrency limit (own code, gradient style; no maintained Go port of the
//     well-known concurrency-limit libraries is served here): slow start, then +10% per round
//     trip while latency stays near its baseline, down in proportion when latency grows, halved on
//     429, between MinInFlight and MaxInFlight.
//
// It is written here rather than taken from a breaker library because the forwarder needs what
// those do not give: waiting (not failing fast) while open, and the verdict on each failure.
package health

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Outcome is how an attempt went, as far as the destination's health is concerned.
type Outcome int

const (
	// Healthy: 2xx.
	Healthy Outcome = iota
	// Rejected: a 4xx that may be about the event itself (400, 422, ...).
	Rejected
	// Failing: 5xx, 3xx, 408, timeout or connection error.
	Failing
	// Throttled: 429; also lowers the concurrency limit.
	Throttled
	// Refused: 401, 403, 404, 405, 410: our key or the endpoint is refused, for every event.
	Refused
)

// Report is one attempt's result, told to Done.
type Report struct {
	Outcome Outcome
	Status  int // HTTP status; 0 without a response
	EventID string
	Latency time.Duration
}

// Verdict is the gate's judgement of one attempt.
type Verdict struct {
	// Final: a Rejected attempt is the event's own refusal (no other event got the same answer
	// just before it). A Rejected attempt that is not final waits and is tried again.
	Final bool
	// Counted: a failure that counts against the event's retry budget.
	Counted bool
	// Seen is how many deliveries the gate had counted when it judged: pass it to Done of the
	// event's next attempt as since.
	Seen uint64
}

// Config tunes the gate.
type Config struct {
	Window        time.Duration // how far back "recent" reaches
	MinRequests   int           // recent requests needed before the circuit may open on the ratio
	FailureRatio  float64       // share of recent requests failing that opens the circuit
	ProbeInterval time.Duration // first wait between probes; doubles up to MaxProbe
	MaxProbe      time.Duration
	MaxInFlight   int     // upper bound of the adaptive limit
	MinInFlight   int     // lower bound of the adaptive limit
	MaxRPS        float64 // 0: no cap
}

// Ticket is the permission for one attempt; hand it back to Done.
type Ticket struct {
	probe bool
	seen  uint64 // deliveries counted when the ticket was handed out
}

// Seen is how many deliveries the gate had counted when the ticket was handed out: pass it to
// Done of the event's first attempt as since.
func (t Ticket) Seen() uint64 { return t.seen }

type sample struct {
	at     time.Time
	failed bool
}

const (
	// sameRunToOpen distinct events in a row refused the same way open the circuit.
	sameRunToOpen = 5
	// quietFailuresToOpen failures within a window with no delivery in it open the circuit.
	quietFailuresToOpen = 3
	// ring is how many recent attempts the window ratio looks at, at most.
	ring = 256
)

// Gate is safe for concurrent use.
type Gate struct {
	cfg Config
	log *slog.Logger
	rps *rate.Limiter

	mu           sync.Mutex
	open         bool
	probing      bool
	nextProbe    time.Time
	probeWait    time.Duration
	samples      []sample // ring, oldest first from head
	head         int
	delivered    uint64    // 2xx answers so far
	lastDelivery time.Time // of the latest 2xx
	run          sameRun
	refusals     int // Refused answers in a row, lately
	inFlight     int
	queue        []chan wake // callers waiting for a slot, oldest first
	onChange     func(open bool)
	limiter      limiter
}

// sameRun is the latest run of distinct events refused with one status and nothing delivered in
// between.
type sameRun struct {
	status int
	events map[string]bool
}

// New returns a closed gate. onChange, if set, is called (outside the lock) when the circuit opens
// or closes.
func New(cfg Config, log *slog.Logger, onChange func(open bool)) *Gate {
	g := &Gate{
		cfg:      cfg,
		log:      log,
		onChange: onChange,
		limiter:  newLimiter(cfg.MinInFlight, cfg.MaxInFlight),
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
	return g.limiter.current()
}

// Acquire waits until an attempt may be made: the circuit is closed and the concurrency limit has
// room, or the circuit is open and it is this caller's turn to probe. Waiters queue in order and
// a freed slot is handed to the oldest one (thousands may wait at a high limit: they are not all
// woken for each slot, and none is overtaken by a newcomer).
func (g *Gate) Acquire(ctx context.Context) (Ticket, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Ticket{}, err
		}
		g.mu.Lock()
		now := time.Now()
		t := Ticket{seen: g.delivered}
		ok := false
		switch {
		case !g.open && len(g.queue) == 0 && g.inFlight < g.limiter.current():
			g.inFlight++
			ok = true
		case g.open && !g.probing && !now.Before(g.nextProbe):
			g.inFlight++
			g.probing, t.probe, ok = true, true, true
		}
		if ok {
			g.mu.Unlock()
			return g.paced(ctx, t)
		}
		w := make(chan wake, 1)
		g.queue = append(g.queue, w)
		var timer *time.Timer
		var probeDue <-chan time.Time
		if g.open && !g.probing {
			timer = time.NewTimer(g.nextProbe.Sub(now))
			probeDue = timer.C
		}
		g.mu.Unlock()

		var err error
		var got wake
		woken := false
		select {
		case got = <-w:
			woken = true // wakeLocked took w off the queue
		case <-probeDue:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		if !woken {
			g.mu.Lock()
			if i := slices.Index(g.queue, w); i >= 0 {
				g.queue = slices.Delete(g.queue, i, i+1)
			} else {
				got, woken = <-w, true // handed something at the same time
			}
			g.mu.Unlock()
		}
		if woken && got.granted {
			if err != nil {
				g.release(got.ticket) // a slot it will not use goes to the next waiter
				return Ticket{}, err
			}
			return g.paced(ctx, got.ticket)
		}
		if err != nil {
			return Ticket{}, err
		}
	}
}

// wake is what a queued caller is handed: a slot (granted, with its ticket), or a nudge to look
// again (the circuit opened: time to wait for a probe's turn instead).
type wake struct {
	granted bool
	ticket  Ticket
}

// paced waits for the requests/s cap, if any, with a slot already taken.
func (g *Gate) paced(ctx context.Context, t Ticket) (Ticket, error) {
	if g.rps != nil {
		if err := g.rps.Wait(ctx); err != nil {
			g.release(t)
			return Ticket{}, err
		}
	}
	return t, nil
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

// wakeLocked hands each free slot to the oldest queued caller; while the circuit is open and no
// probe is out, it nudges all of them to wait for the next probe's turn (rare: once per probe).
func (g *Gate) wakeLocked() {
	if g.open {
		if !g.probing {
			for _, w := range g.queue {
				w <- wake{}
			}
			g.queue = g.queue[:0]
		}
		return
	}
	for len(g.queue) > 0 && g.inFlight < g.limiter.current() {
		g.inFlight++
		g.queue[0] <- wake{granted: true, ticket: Ticket{seen: g.delivered}}
		g.queue = g.queue[1:]
	}
}

// Done returns a ticket with the attempt's result and judges it. since is the Seen of the
// verdict of the event's previous attempt (of this attempt's ticket, for a first attempt): a
// failure counts against the event only when a delivery happened since then.
func (g *Gate) Done(t Ticket, r Report, since uint64) Verdict {
	g.mu.Lock()
	g.inFlight--
	now := time.Now()
	var v Verdict
	changed, reason := false, ""
	failed := r.Outcome != Healthy
	if r.Outcome == Rejected {
		v.Final = g.judgeRejection(r)
		failed = !v.Final
	}
	if r.Outcome == Refused {
		g.refusals++
	} else {
		g.refusals = 0
	}
	if r.Outcome == Healthy {
		g.delivered++
		g.lastDelivery = now
		g.run = sameRun{}
	}
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
		g.record(now, failed)
		if failed {
			if reason = g.shouldOpen(now, r); reason != "" {
				g.open = true
				g.probeWait = g.cfg.ProbeInterval
				g.nextProbe = now.Add(g.probeWait)
				changed = true
			} else {
				v.Counted = g.delivered > since
			}
		}
		g.limiter.observe(now, r.Outcome, r.Latency, g.inFlight+1)
	}
	v.Seen = g.delivered
	open, limit := g.open, g.limiter.current()
	g.wakeLocked()
	g.mu.Unlock()

	if changed {
		if open {
			g.log.Warn("adeventsx circuit opened: holding deliveries back", "reason", reason,
				"probe_every", g.cfg.ProbeInterval.String())
		} else {
			g.log.Info("adeventsx circuit closed: deliveries resume", "limit", limit)
		}
		if g.onChange != nil {
			g.onChange(open)
		}
	}
	return v
}

// judgeRejection reports whether a Rejected attempt is final: it is unless the event before it
// (another one, nothing delivered in between) got the same status.
func (g *Gate) judgeRejection(r Report) bool {
	if g.run.status != r.Status {
		g.run = sameRun{status: r.Status, events: map[string]bool{r.EventID: true}}
		return true
	}
	if len(g.run.events) < ring {
		g.run.events[r.EventID] = true
	}
	return len(g.run.events) < 2
}

// shouldOpen says why the failure r opens the circuit, or "" when it does not.
func (g *Gate) shouldOpen(now time.Time, r Report) string {
	total, failed := g.recent(now)
	switch {
	case r.Outcome == Refused && g.refusals >= sameRunToOpen,
		r.Outcome == Rejected && len(g.run.events) >= sameRunToOpen:
		return "every recent event answered " + strconv.Itoa(r.Status) + ": the key or the endpoint is refused"
	case total >= g.minRequests(r) && float64(failed) >= g.cfg.FailureRatio*float64(total):
		if r.Outcome == Throttled {
			return "most recent requests answered 429"
		}
		return "most recent requests failing (5xx, timeouts, connection errors, refusals)"
	case failed >= quietFailuresToOpen && now.Sub(g.lastDelivery) > g.cfg.Window:
		return "requests failing and nothing delivered for " + g.cfg.Window.String()
	}
	return ""
}

func (g *Gate) minRequests(r Report) int {
	if r.Outcome == Refused {
		// A refusal is about every request, so fewer of them are needed.
		return max(1, g.cfg.MinRequests/2)
	}
	return g.cfg.MinRequests
}

// record adds a sample to the ring of the latest attempts.
func (g *Gate) record(now time.Time, failed bool) {
	s := sample{at: now, failed: failed}
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
		if s.failed {
			failed++
		}
	}
	return total, failed
}
