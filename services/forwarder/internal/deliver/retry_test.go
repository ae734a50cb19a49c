package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/forwarder/internal/health"
)

// script is an AdEventsX stand-in that answers the given statuses in order, then 202.
type script struct {
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	calls    int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, r.Header.Clone())
	status := http.StatusAccepted
	if s.calls < len(s.statuses) {
		status = s.statuses[s.calls]
	}
	s.calls++
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
}

// busyGate is a gate through which another event is delivered before each attempt, so a
// failure counts against the event, as when other events are getting through.
type busyGate struct{ *health.Gate }

func (g busyGate) Acquire(ctx context.Context) (health.Ticket, error) {
	tk, err := g.Gate.Acquire(ctx)
	if err != nil {
		return tk, err
	}
	g.Gate.Done(tk, health.Report{Outcome: health.Healthy, EventID: "other"}, tk.Seen())
	return g.Gate.Acquire(ctx)
}

// testGate is a gate that has seen the destination answer well lately (healthy successes).
func testGate(t *testing.T, healthy int) *health.Gate {
	g := health.New(health.Config{
		Window: time.Minute, MinRequests: 1000, FailureRatio: 0.99,
		ProbeInterval: time.Millisecond, MaxProbe: time.Millisecond, MaxInFlight: 8, MinInFlight: 1,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for range healthy {
		tk, err := g.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		g.Done(tk, health.Report{Outcome: health.Healthy}, tk.Seen())
	}
	return g
}

func TestDeliverRetriesThenSucceedsOrGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		maxAttempts  int
		wantReason   deadletter.Reason // "" when delivered
		wantAttempts int
		wantStatus   int
	}{
		{"first try", nil, 4, "", 1, 202},
		{"500, 429 then 202", []int{500, 429}, 4, "", 3, 202},
		{"503 three times then 202", []int{503, 503, 503}, 4, "", 4, 202},
		{"400 is final", []int{400}, 4, deadletter.Rejected, 1, 400},
		{"422 after a 500", []int{500, 422}, 4, deadletter.Rejected, 2, 422},
		// The first failure does not count: nothing was delivered during it (busyGate delivers
		// another event before each attempt, so from the second on each failure counts).
		{"retries used up", []int{500, 502, 503, 504, 500}, 4, deadletter.Exhausted, 5, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{statuses: tt.statuses}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: "key-1", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 4})
			d := NewDeliverer(c, busyGate{testGate(t, 50)}, Policy{
				MaxAttempts: tt.maxAttempts, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			}, nil)
			err := d.Deliver(t.Context(), "id-1", []byte(`{}`))
			var f deadletter.Failure
			if fp := (*deadletter.Failure)(nil); errors.As(err, &fp) {
				f = *fp
			} else if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			calls := len(s.headers)
			if f.Reason != tt.wantReason || calls != tt.wantAttempts || (err != nil && f.HTTPStatus != tt.wantStatus) {
				t.Fatalf("result = %q after %d attempts (status %d), want %q after %d (%d)",
					f.Reason, calls, f.HTTPStatus, tt.wantReason, tt.wantAttempts, tt.wantStatus)
			}
			h := s.headers[0]
			if h.Get("X-Api-Key") != "key-1" || h.Get("Idempotency-Key") != "id-1" || h.Get("Content-Type") != "application/json" {
				t.Fatalf("request headers = %v", h)
			}
		})
	}
}

func TestDeliverTimesOutAnAttemptAndRetries(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			_, _ = io.ReadAll(r.Body) // the server notices a gone client only once the body is read
			<-r.Context().Done()      // hang until the client gives up
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: "k", AttemptTimeout: 50 * time.Millisecond, RetryAfterCap: time.Second, MaxConns: 4})
	d := NewDeliverer(c, testGate(t, 50), Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, nil)
	if err := d.Deliver(t.Context(), "id", []byte(`{}`)); err != nil || calls != 2 {
		t.Fatalf("Deliver = %v after %d calls; want sent on the 2nd attempt", err, calls)
	}
}

// A lone event against an API that fails everything: with no success around, its failures are
// the destination's, so it keeps trying (held back) instead of being exhausted into the DLQ.
func TestDeliverHoldsALoneEventBackWhileEverythingFails(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: "k", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 4})
	d := NewDeliverer(c, testGate(t, 0), Policy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		err := d.Deliver(ctx, "id", []byte(`{}`))
		if err == nil {
			err = fmt.Errorf("delivered")
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n >= 8 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("a lone event gave up while everything failed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d attempts in 10 s", n)
		}
		time.Sleep(time.Millisecond) // polling the server's call count
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver = %v, want it still holding back until cancelled", err)
	}
}

// Cancelled during its hour-long backoff after a first failed attempt, Deliver returns at once.
func TestDeliverStopsWaitingWhenCancelled(t *testing.T) {
	attempted := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case attempted <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: "k", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 4})
	d := NewDeliverer(c, testGate(t, 50), Policy{MaxAttempts: 10, InitialBackoff: time.Hour, MaxBackoff: time.Hour}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- d.Deliver(ctx, "id", []byte(`{}`))
	}()
	<-attempted // the first attempt failed; the backoff wait begins
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Deliver returned no error after cancel; the event would count as finished")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver kept waiting for its hour-long backoff after cancel")
	}
}

// A refusal's reason reaches dlq.error: the start of AdEventsX's answer, on one line, with our
// key masked should the API echo it.
func TestDeliverKeepsWhyTheEventWasRejected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "{\"error\":\"invalid_payload\",\n \"detail\":\"ts is in the future\",\"key\":\"secret-key-123\"}")
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: "secret-key-123", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 4})
	d := NewDeliverer(c, testGate(t, 50), Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, nil)
	err := d.Deliver(t.Context(), "id", []byte(`{}`))
	var f *deadletter.Failure
	if !errors.As(err, &f) || f.Reason != deadletter.Rejected {
		t.Fatalf("Deliver = %v; want rejected", err)
	}
	want := `adeventsx answered 400 Bad Request: {"error":"invalid_payload", "detail":"ts is in the future","key":"[api key]"}`
	if f.Message != want {
		t.Errorf("Message = %q, want %q", f.Message, want)
	}
}

// Our key echoed across the 300-byte cut is masked whole, not cut and left half visible.
func TestRefusalDetailMasksAKeyAcrossTheCut(t *testing.T) {
	key := "secret-key-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, strings.Repeat("x", maxDetail-5)+key)
	}))
	defer srv.Close()
	a := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: key, AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 1}).Send(t.Context(), "id", []byte(`{}`))
	if strings.Contains(a.Detail, "secret") || len(a.Detail) > maxDetail+3 {
		t.Errorf("detail %q (%d bytes) shows part of the key or is not cut", a.Detail, len(a.Detail))
	}
}
