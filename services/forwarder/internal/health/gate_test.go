package health

import (
	"context"

	"golang.org/x/time/rate"
	"io"
	"log/slog"
	"testing"
	"time"
)

func newTestGate(onChange func(bool)) *Gate {
	return New(Config{
		Window: time.Minute, MinRequests: 4, FailureRatio: 0.5,
		ProbeInterval: 20 * time.Millisecond, MaxProbe: 40 * time.Millisecond,
		MaxInFlight: 16, MinInFlight: 1,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), onChange)
}

func attempt(t *testing.T, g *Gate, o Outcome) bool {
	t.Helper()
	tk, err := g.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return g.Done(tk, o)
}

func TestGateOpensWhenMostRequestsFailAndClosesOnAProbe(t *testing.T) {
	changes := make(chan bool, 4)
	g := newTestGate(func(open bool) { changes <- open })

	counted := []bool{}
	for _, o := range []Outcome{Healthy, Healthy, Healthy, Healthy, Failing, Failing, Failing, Failing} {
		counted = append(counted, attempt(t, g, o))
	}
	// Failures count while most requests succeed; the one that makes failures half opens the
	// circuit and is the outage's.
	if want := []bool{false, false, false, false, true, true, true, false}; !equal(counted, want) {
		t.Fatalf("counted = %v, want %v", counted, want)
	}
	if !g.Open() || <-changes != true || g.Epoch() != 1 {
		t.Fatalf("open=%v epoch=%d, want open in epoch 1", g.Open(), g.Epoch())
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
	if g.Done(probe, Failing) {
		t.Fatal("a failed probe counted against the event")
	}
	if !g.Open() {
		t.Fatal("a failed probe closed the circuit")
	}
	if attempt(t, g, Healthy) || g.Open() || <-changes != false {
		t.Fatalf("a successful probe did not close the circuit")
	}
}

// A lone event at night against a dead API: too few requests to open the circuit, but its
// failures are all there is, so none of them counts against it.
func TestGateLoneFailuresDoNotCount(t *testing.T) {
	g := newTestGate(nil)
	g.cfg.MinRequests = 1000
	for i := range 10 {
		if attempt(t, g, Failing) {
			t.Fatalf("failure %d counted against the event with no success around it", i+1)
		}
	}
}

func TestGateOpensFastWhenTheKeyIsRefused(t *testing.T) {
	g := newTestGate(nil)
	attempt(t, g, KeyRefused)
	attempt(t, g, KeyRefused)
	if !g.Open() {
		t.Fatal("circuit closed after 401s for everything")
	}
}

func TestGateConcurrencyLimitHalvesOn429AndGrowsBack(t *testing.T) {
	g := newTestGate(nil)
	g.cfg.MinRequests = 1000 // keep the circuit out of this test
	attempt(t, g, Throttled)
	if got := g.Limit(); got != 8 {
		t.Fatalf("limit after a 429 = %d, want 8", got)
	}
	attempt(t, g, Throttled) // within the same second: one burst, one decrease
	if got := g.Limit(); got != 8 {
		t.Fatalf("limit after a second 429 in the same second = %d, want 8", got)
	}
	for range 200 {
		attempt(t, g, Healthy)
	}
	if got := g.Limit(); got != 16 {
		t.Fatalf("limit after 200 successes = %d, want back at 16", got)
	}
}

func TestGateHoldsCallersAtTheLimit(t *testing.T) {
	g := newTestGate(nil)
	g.cfg.MaxInFlight, g.limit = 2, 2
	a, _ := g.Acquire(t.Context())
	b, _ := g.Acquire(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(ctx); err == nil {
		t.Fatal("a third caller got through a limit of 2")
	}
	got := make(chan error, 1)
	go func() {
		_, err := g.Acquire(t.Context())
		got <- err
	}()
	// Free the slot only once the caller is really waiting, so the wake-up path is what is tested.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		waiting := g.waiters == 1
		g.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third caller never started waiting")
		}
		time.Sleep(time.Millisecond) // polling the gate's waiter count
	}
	g.Done(a, Healthy)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("a waiting caller failed when a slot freed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting caller was not woken when a slot freed")
	}
	g.Done(b, Healthy)
}

// A caller whose context ends while it waits for the rate limit gives its ticket back without an
// outcome: a probe ticket returned this way must not close the circuit.
func TestGateCancelledProbeDoesNotCloseTheCircuit(t *testing.T) {
	g := newTestGate(nil)
	for range 4 {
		attempt(t, g, Failing)
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
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An outage right after a burst of traffic: the burst's successes still fill the window, but the
// latest attempts are failures, so after a few the failures stop counting against the events.
func TestGateOutageRightAfterABurstDoesNotCount(t *testing.T) {
	g := newTestGate(nil)
	g.cfg.MinRequests = 1000 // the window alone would not open the circuit
	for range 150 {
		attempt(t, g, Healthy)
	}
	counted := 0
	for i := range 60 {
		if attempt(t, g, Failing) {
			counted++
			if i >= judgeLast/2 {
				t.Fatalf("failure %d counted although the latest %d attempts are mostly failures", i+1, judgeLast)
			}
		}
	}
	if counted == 0 || counted > judgeLast/2 {
		t.Errorf("%d failures counted, want the first few (at most %d)", counted, judgeLast/2)
	}
}

// A key refused right after a burst of traffic opens the circuit after a few 401s, although the
// window is mostly successes; none of them is counted once the refusals are the latest news.
func TestGateRefusedKeyAfterABurstOpensTheCircuit(t *testing.T) {
	g := newTestGate(nil)
	for range 150 {
		attempt(t, g, Healthy)
	}
	for i := range refusedRunToOpen {
		if g.Open() {
			t.Fatalf("open after %d refusals, want %d", i, refusedRunToOpen)
		}
		attempt(t, g, KeyRefused)
	}
	if !g.Open() {
		t.Fatalf("circuit closed after %d refusals in a row", refusedRunToOpen)
	}
}

// A 403 about one event while the others succeed is that event's own failure: it counts, and the
// circuit stays closed.
func TestGateOneEventsRefusalCounts(t *testing.T) {
	g := newTestGate(nil)
	for range 3 {
		for range 10 {
			attempt(t, g, Healthy)
		}
		if !attempt(t, g, KeyRefused) {
			t.Fatal("a lone 403 among successes did not count against its event")
		}
	}
	if g.Open() {
		t.Fatal("circuit opened for 403s about one event")
	}
}
