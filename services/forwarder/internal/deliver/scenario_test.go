package deliver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/forwarder/internal/health"
)

// The scenarios below run the retry loop and the gate with the shipped settings in a synctest
// bubble: hours of backoff, probes and outages pass in microseconds of real time.

// fakeAPI answers each attempt with answer(eventID, now) and counts the attempts.
type fakeAPI struct {
	mu     sync.Mutex
	answer func(id string, now time.Time) int
	calls  map[string]int
	slow   string // an event id whose requests take 100 ms; the others take 20 ms
}

func (f *fakeAPI) Send(_ context.Context, id string, _ []byte) Attempt {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[id]++
	status := f.answer(id, time.Now())
	took := 20 * time.Millisecond
	if id == f.slow {
		took = 100 * time.Millisecond
	}
	f.mu.Unlock()
	time.Sleep(took) // the request's round trip, in fake time
	return Attempt{Status: status, Verdict: Classify(status, nil), Took: took}
}

// shipped is the forwarder's default gate and retry policy (config.go).
func shipped(api Sender) (*Deliverer, *health.Gate) {
	g := health.New(health.Config{
		Window: 10 * time.Second, MinRequests: 5, FailureRatio: 0.5,
		ProbeInterval: time.Second, MaxProbe: 30 * time.Second,
		MaxInFlight: 256, MinInFlight: 1,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	return NewDeliverer(api, g, Policy{MaxAttempts: 4, InitialBackoff: time.Second,
		MaxBackoff: 30 * time.Second, Jitter: 0.2}, nil), g
}

type outcome struct {
	err error // nil: delivered; *deadletter.Failure; or the context's
	at  time.Time
}

// final is the failure's reason, "" when delivered; ok is false for any other error.
func (o outcome) final() (reason deadletter.Reason, ok bool) {
	var f *deadletter.Failure
	switch {
	case o.err == nil:
		return "", true
	case errors.As(o.err, &f):
		return f.Reason, true
	}
	return "", false
}

func deliverAsync(ctx context.Context, d *Deliverer, id string) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		err := d.Deliver(ctx, id, []byte(`{}`))
		out <- outcome{err, time.Now()}
	}()
	return out
}

// An event AdEventsX refuses on its own (500) while traffic is sparse (another event every two
// minutes, all delivered) is exhausted after a bounded time, not held for hours pinning its
// partition's commit.
func TestAFailingEventAmongSparseTrafficIsExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(id string, _ time.Time) int {
			if id == "bad" {
				return http.StatusInternalServerError
			}
			return http.StatusAccepted
		}}
		d, _ := shipped(api)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		bad := deliverAsync(ctx, d, "bad")
		go func() { // sparse traffic: one good event every two minutes
			for i := 0; ctx.Err() == nil; i++ {
				_ = d.Deliver(ctx, "good-"+time.Now().String(), []byte(`{}`))
				select {
				case <-time.After(2 * time.Minute):
				case <-ctx.Done():
				}
			}
		}()
		select {
		case o := <-bad:
			if r, _ := o.final(); r != deadletter.Exhausted {
				t.Fatalf("bad event = %v; want exhausted", o.err)
			}
			if took := o.at.Sub(start); took > 15*time.Minute {
				t.Fatalf("bad event held %s before exhausted, want a bound under 15 min", took)
			}
		case <-time.After(6 * time.Hour):
			t.Fatal("a failing event among sparse successful traffic was still held after 6 hours")
		}
	})
}

// A full outage of two hours puts nothing in the DLQ: every event waits and is delivered after.
func TestATwoHourOutageExhaustsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		api := &fakeAPI{answer: func(_ string, now time.Time) int {
			if now.Sub(start) < 2*time.Hour {
				return http.StatusServiceUnavailable
			}
			return http.StatusAccepted
		}}
		d, _ := shipped(api)
		var outs []<-chan outcome
		for i := range 30 {
			outs = append(outs, deliverAsync(t.Context(), d, "ev-"+string(rune('a'+i))))
			time.Sleep(time.Second)
		}
		for i, out := range outs {
			o := <-out
			if o.err != nil {
				t.Fatalf("event %d = %v; want delivered after the outage", i, o.err)
			}
		}
	})
}

// The same 4xx answered to every event (a gateway's 404 while AdEventsX deploys) is the
// destination's failure: the circuit opens, events wait instead of being rejected, and they are
// delivered once the endpoint is back. A single event's 400 among successes is still final.
func TestAStatusEveryEventGetsIsTheDestinations(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone, http.StatusUnprocessableEntity} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				api := &fakeAPI{answer: func(_ string, now time.Time) int {
					if now.Sub(start) < 10*time.Minute {
						return status
					}
					return http.StatusAccepted
				}}
				d, g := shipped(api)
				var outs []<-chan outcome
				for i := range 40 {
					outs = append(outs, deliverAsync(t.Context(), d, "ev-"+string(rune('A'+i))))
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(time.Minute)
				if !g.Open() {
					t.Errorf("circuit closed while every event gets %d", status)
				}
				rejected := 0
				for _, out := range outs {
					r, ok := (<-out).final()
					if !ok {
						t.Fatal("Deliver ended on its context")
					}
					if r == deadletter.Rejected {
						rejected++
					}
				}
				if rejected > 1 {
					t.Errorf("%d of 40 events rejected for the destination's %d, want at most the first", rejected, status)
				}
			})
		})
	}
}

func TestASingleEventsBadRequestIsFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(id string, _ time.Time) int {
			if id == "bad" {
				return http.StatusBadRequest
			}
			return http.StatusAccepted
		}}
		d, g := shipped(api)
		for i := range 20 {
			<-deliverAsync(t.Context(), d, "good-"+string(rune('a'+i)))
		}
		err := (<-deliverAsync(t.Context(), d, "bad")).err
		var f *deadletter.Failure
		if !errors.As(err, &f) || f.Reason != deadletter.Rejected || f.Attempts != 1 {
			t.Fatalf("bad event = %v; want rejected on its first attempt", err)
		}
		if g.Open() {
			t.Fatal("one event's 400 opened the circuit")
		}
	})
}

// A lone event at night against a failing API is never exhausted: nothing else gets through, so
// its failures are the destination's. It is held where an operator sees it: the circuit opens.
func TestALoneFailingEventIsHeldVisibly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(string, time.Time) int { return http.StatusBadGateway }}
		d, g := shipped(api)
		ctx, cancel := context.WithCancel(t.Context())
		out := deliverAsync(ctx, d, "lone")
		time.Sleep(3 * time.Hour)
		select {
		case o := <-out:
			t.Fatalf("lone event finished (%v) while nothing got through", o.err)
		default:
		}
		if !g.Open() {
			t.Error("lone event held for 3 h with the circuit closed: nothing shows it")
		}
		cancel()
		if o := <-out; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("Deliver = %v, want the cancellation", o.err)
		}
	})
}

// One delivery during an event's first attempt counts against that attempt only: with nothing
// delivered after it, the event's later failures are an outage's, so a budget of two is not
// spent by one delivery counted twice.
func TestADeliveryCountsAgainstOneAttemptOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{slow: "bad", answer: func(id string, _ time.Time) int {
			if id == "good" {
				return http.StatusAccepted
			}
			return http.StatusServiceUnavailable
		}}
		d, _ := shipped(api)
		d.policy.MaxAttempts = 2
		ctx, cancel := context.WithCancel(t.Context())
		bad := deliverAsync(ctx, d, "bad")
		time.Sleep(5 * time.Millisecond) // good goes out during bad's first attempt
		if err := d.Deliver(ctx, "good", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Minute)
		select {
		case o := <-bad:
			t.Fatalf("the event was finished (%v) by one delivery counted against two attempts", o.err)
		default:
		}
		cancel()
		<-bad
	})
}
