package health

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"
)

func newTestGate(onChange func(bool)) *Gate {
	return New(Config{
		Window: time.Minute, MinRequests: 4, FailureRatio: 0.5,
		ProbeInterval: 20 * time.Millisecond, MaxProbe: 40 * time.Millisecond,
		MaxInFlight: 16, MinInFlight: 1,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), onChange)
}

// newGateWithoutRatioRule is a test gate whose failure-ratio rule cannot trip (it would need
// 1000 requests in its window), for tests of the other rules.
func newGateWithoutRatioRule() *Gate {
	g := newTestGate(nil)
	g.cfg.MinRequests = 1000
	return g
}

// attempt makes one attempt of event id with outcome o (status for a 4xx), the event's previous
// attempt having seen since deliveries.
func attempt(t *testing.T, g *Gate, id string, o Outcome, status int, since uint64) (Verdict, Ticket) {
	t.Helper()
	tk, err := g.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return g.Done(tk, Report{Outcome: o, Status: status, EventID: id, Latency: time.Millisecond}, since), tk
}

func deliverOthers(t *testing.T, g *Gate, n int) {
	t.Helper()
	for range n {
		attempt(t, g, "other", Healthy, 200, 0)
	}
}

func TestGateOpensWhenMostRequestsFailAndClosesOnAProbe(t *testing.T) {
	changes := make(chan bool, 4)
	g := newTestGate(func(open bool) { changes <- open })
	deliverOthers(t, g, 4)
	for range 4 {
		attempt(t, g, "ev", Failing, 500, 0)
	}
	if !g.Open() || <-changes != true {
		t.Fatal("circuit closed with half the recent requests failing")
	}
	// While open, only one caller at a time gets through, and only once the probe is due.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	probe, err := g.Acquire(t.Context())
	if err != nil || !probe.probe {
		t.Fatalf("Acquire while open = %+v, %v; want a probe ticket", probe, err)
	}
	if _, err := g.Acquire(ctx); err == nil {
		t.Fatal("a second caller got through while a probe was out")
	}
	if v := g.Done(probe, Report{Outcome: Failing}, 0); v.Counted {
		t.Fatal("a failed probe counted against the event")
	}
	if !g.Open() {
		t.Fatal("a failed probe closed the circuit")
	}
	if attempt(t, g, "ev", Healthy, 200, 0); g.Open() || <-changes != false {
		t.Fatal("a successful probe did not close the circuit")
	}
}

// A failure counts against its event only when another event was delivered since the event's
// previous attempt: then the destination works and the failure is the event's own.
func TestGateCountsAFailureOnlyWhenOthersGotThrough(t *testing.T) {
	g := newGateWithoutRatioRule()
	v, _ := attempt(t, g, "ev", Failing, 500, 0)
	if v.Counted {
		t.Fatal("a failure counted with nothing delivered since the event's previous attempt")
	}
	deliverOthers(t, g, 1)
	v, _ = attempt(t, g, "ev", Failing, 500, v.Seen)
	if !v.Counted {
		t.Fatal("a failure did not count though another event was delivered since")
	}
	// Nothing delivered since that attempt was judged: the next failure is not the event's own.
	if v, _ := attempt(t, g, "ev", Failing, 500, v.Seen); v.Counted {
		t.Fatal("one delivery counted against two attempts")
	}
}

// A delivery during an attempt counts for that attempt only, not for the next one too.
func TestGateCountsADeliveryDuringAnAttemptOnce(t *testing.T) {
	g := newGateWithoutRatioRule()
	deliverOthers(t, g, 1)
	tk, _ := g.Acquire(t.Context())
	deliverOthers(t, g, 1) // another event delivered while this attempt is out
	v := g.Done(tk, Report{Outcome: Failing, Status: 503, EventID: "ev"}, tk.Seen())
	if !v.Counted {
		t.Fatal("a failure with a delivery during it did not count")
	}
	if v, _ := attempt(t, g, "ev", Failing, 503, v.Seen); v.Counted {
		t.Fatal("the delivery during the first attempt counted against the second as well")
	}
}

// A freed slot goes to the caller that waited longest, not to a newcomer.
func TestGateHandsAFreedSlotToTheOldestWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateWithoutRatioRule()
		g.limiter.limit = 1
		held, _ := g.Acquire(t.Context())
		waiter := make(chan Ticket, 1)
		go func() {
			tk, _ := g.Acquire(t.Context())
			waiter <- tk
		}()
		synctest.Wait() // the waiter is queued
		g.release(held) // the slot frees; the waiter has not run yet
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		if _, err := g.Acquire(ctx); err == nil {
			t.Fatal("a newcomer took the slot freed for the waiter")
		}
		synctest.Wait()
		select {
		case <-waiter:
		default:
			t.Fatal("the waiter did not get the freed slot")
		}
	})
}

// A failure during an outage right after a burst of deliveries counts at most once per event:
// the burst's deliveries happened before the event's attempts, not between them.
func TestGateOutageRightAfterABurstCountsAtMostOnce(t *testing.T) {
	g := newGateWithoutRatioRule()
	deliverOthers(t, g, 150)
	for ev := range 20 {
		id := "ev-" + string(rune('a'+ev))
		since := uint64(150)
		counted := 0
		for range 5 {
			v, _ := attempt(t, g, id, Failing, 503, since)
			since = v.Seen
			if v.Counted {
				counted++
			}
		}
		if counted != 0 {
			t.Fatalf("%s: %d failures counted during an outage", id, counted)
		}
	}
}

// Nothing delivered for a window and failures go on: the circuit opens, so a lone event held
// back at night shows on /readyz and the circuit metric; none of its failures count.
func TestGateOpensWhenFailuresGoOnAndNothingIsDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateWithoutRatioRule()
		deliverOthers(t, g, 1)
		time.Sleep(2 * time.Minute)
		since := uint64(1) // the one delivery before the event's first attempt
		for i := range quietFailuresToOpen {
			if g.Open() {
				t.Fatalf("open after %d failures, want %d", i, quietFailuresToOpen)
			}
			v, tk := attempt(t, g, "lone", Failing, 502, since)
			if v.Counted {
				t.Fatal("a lone event's failure counted")
			}
			since = tk.Seen()
		}
		if !g.Open() {
			t.Fatalf("closed after %d failures with nothing delivered for 2 min", quietFailuresToOpen)
		}
	})
}

// Refusals of every request (401/403 key, 404/405/410 endpoint) open the circuit after a few in
// a row, whatever succeeded before them.
func TestGateRefusalsInARowOpenTheCircuit(t *testing.T) {
	g := newTestGate(nil)
	deliverOthers(t, g, 150)
	for i := range sameRunToOpen {
		if g.Open() {
			t.Fatalf("open after %d refusals, want %d", i, sameRunToOpen)
		}
		attempt(t, g, "ev-"+string(rune('a'+i)), Refused, 404, 150)
	}
	if !g.Open() {
		t.Fatalf("closed after %d refusals in a row", sameRunToOpen)
	}
}

// The same other 4xx for distinct events in a row: the first is final (one bad event), from the
// second on they wait, and the run opens the circuit. One event's 400 among successes is final.
func TestGateSameRejectionForEveryEventIsTheDestinations(t *testing.T) {
	g := newGateWithoutRatioRule()
	deliverOthers(t, g, 50)
	var finals []bool
	for i := range sameRunToOpen {
		v, _ := attempt(t, g, "ev-"+string(rune('a'+i)), Rejected, 422, 50)
		finals = append(finals, v.Final)
	}
	if want := []bool{true, false, false, false, false}; !slices.Equal(finals, want) {
		t.Fatalf("final = %v, want %v", finals, want)
	}
	if !g.Open() {
		t.Fatal("circuit closed after 5 distinct events in a row got 422")
	}

	g = newTestGate(nil)
	for range 3 {
		deliverOthers(t, g, 10)
		if v, _ := attempt(t, g, "bad", Rejected, 400, 0); !v.Final {
			t.Fatal("one event's 400 among successes was not final")
		}
	}
	if g.Open() {
		t.Fatal("circuit opened for one event's 400s")
	}
}

func TestGateHoldsCallersAtTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateWithoutRatioRule()
		g.limiter.limit = 2
		a, _ := g.Acquire(t.Context())
		b, _ := g.Acquire(t.Context())
		got := make(chan error, 1)
		go func() {
			_, err := g.Acquire(t.Context())
			got <- err
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("a third caller got through a limit of 2")
		default:
		}
		// A failure does not move the limit: only the freed slot can let the caller through.
		g.Done(a, Report{Outcome: Failing, Status: 503, Latency: time.Millisecond}, 0)
		synctest.Wait()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("a waiting caller failed when a slot freed: %v", err)
			}
		default:
			t.Fatal("a waiting caller was not woken when a slot freed")
		}
		if g.Limit() != 2 {
			t.Fatalf("limit moved to %d", g.Limit())
		}
		g.Done(b, Report{Outcome: Healthy, Latency: time.Millisecond}, 0)
	})
}

// A caller whose context ends while it waits for the rate limit gives its ticket back without an
// outcome: a probe ticket returned this way must not close the circuit.
func TestGateCancelledProbeDoesNotCloseTheCircuit(t *testing.T) {
	g := newTestGate(nil)
	for range 4 {
		attempt(t, g, "ev", Failing, 500, 0)
	}
	if !g.Open() {
		t.Fatal("circuit not open after 4 failures")
	}
	g.rps = rate.NewLimiter(rate.Limit(0.001), 1)
	g.rps.Allow() // empty the bucket: the next Wait cannot be met before the deadline
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(ctx); err == nil {
		t.Fatal("Acquire succeeded though the rate limit could not be met before the deadline")
	}
	if !g.Open() {
		t.Fatal("a probe that never went out closed the circuit")
	}
	// Its probe turn was given back: the next caller probes.
	g.rps = nil
	g.nextProbe = time.Now()
	tk, err := g.Acquire(t.Context())
	if err != nil || !tk.probe {
		t.Fatalf("Acquire after a cancelled probe = %+v, %v; want a probe ticket", tk, err)
	}
}
