package sim

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
)

func TestShares(t *testing.T) {
	tests := []struct {
		give           string
		wantStatus     int
		wantError      string
		wantRetryAfter string
	}{
		{`{"fail_429":1,"retry_after_seconds":7}`, 429, "rate_limited", "7"},
		{`{"fail_500":1}`, 500, "internal_error", ""},
		{`{"fail_503":1}`, 503, "unavailable", ""},
		{`{"fail_400":1}`, 400, "invalid_payload", ""},
		{`{"fail_401":1}`, 401, "unauthorized", ""},
		{`{"timeout":1,"timeout_hold_ms":1}`, 504, "timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, srv := newSim(t, Options{})
			mustControl(t, srv, tt.give)
			for range 3 {
				got := send(t, srv, "s-1")
				if got.status != tt.wantStatus || errorField(t, got.body).Error != tt.wantError {
					t.Fatalf("got %d %s, want %d %s", got.status, got.body, tt.wantStatus, tt.wantError)
				}
				if ra := got.header.Get("Retry-After"); ra != tt.wantRetryAfter {
					t.Fatalf("Retry-After = %q, want %q", ra, tt.wantRetryAfter)
				}
				if got.header.Get("X-Sim-Injected") == "" {
					t.Fatal("no X-Sim-Injected header")
				}
			}
			var rec receivedJSON
			getJSON(t, srv, "/_sim/received?summary=1", &rec)
			if rec.Total != 0 {
				t.Fatalf("injected failures were recorded: %+v", rec)
			}
		})
	}
}

func TestBadKeyIsUnauthorizedEvenWhenDown(t *testing.T) {
	_, srv := newSim(t, Options{})
	mustControl(t, srv, `{"down":true,"fail_503":1}`)
	req := conversionRequest(t.Context(), t, srv, "x", validBody("x"))
	req.Header.Set("X-Api-Key", "wrong")
	if got := do(t, srv, req); got.status != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", got.status)
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		give           string
		want           []int
		wantRetryAfter string // of the last answer
		wantTimes      int64
	}{
		{`{"fail_next":{"count":1,"status":503}}`, []int{503, 202, 202}, "", 2},
		{`{"fail_next":{"count":2}}`, []int{503, 503, 202}, "", 1},
		{`{"fail_next":{"count":2,"status":429}}`, []int{429, 429}, "1", 0},
		{`{"fail_next":{"count":1,"status":"timeout"},"timeout_hold_ms":1}`, []int{504, 202, 202}, "", 2},
		{`{"fail_next":{"count":0,"status":500}}`, []int{202, 202, 202}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			_, srv := newSim(t, Options{})
			mustControl(t, srv, tt.give)
			var got []int
			var last result
			for range tt.want {
				last = send(t, srv, "fn")
				got = append(got, last.status)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("statuses = %v, want %v", got, tt.want)
			}
			if ra := last.header.Get("Retry-After"); ra != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", ra, tt.wantRetryAfter)
			}
			var rec receivedJSON
			getJSON(t, srv, "/_sim/received?summary=1", &rec)
			if rec.Total != tt.wantTimes {
				t.Fatalf("accepted %d times, want %d", rec.Total, tt.wantTimes)
			}
		})
	}
}

func TestDown(t *testing.T) {
	_, srv := newSim(t, Options{})
	steps := []struct {
		control string
		want    int
	}{
		{`{"down":true}`, 503},
		{`{"down_status":401}`, 401},
		{`{"down_status":"timeout","timeout_hold_ms":1}`, 504},
		{`{"down":false}`, 202},
	}
	for _, tt := range steps {
		mustControl(t, srv, tt.control)
		for range 2 {
			if got := send(t, srv, "d"); got.status != tt.want {
				t.Fatalf("after %s: status %d, want %d", tt.control, got.status, tt.want)
			}
		}
	}
}

func TestTimeoutReturnsWhenTheClientGivesUp(t *testing.T) {
	h, srv := newSim(t, Options{})
	mustControl(t, srv, `{"timeout":1,"timeout_hold_ms":600000}`)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	req := conversionRequest(ctx, t, srv, "t", validBody("t"))
	go func() { errc <- post(srv, req).err }()
	waitFor(t, "the request to be held", func() bool { return h.inFlight.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error = %v, want context.Canceled", err)
	}
	waitFor(t, "the handler to return", func() bool { return h.inFlight.Load() == 0 })
	var st statsJSON
	getJSON(t, srv, "/_sim/stats", &st)
	if st.Responses["499"] != 1 || st.Requests != 1 {
		t.Fatalf("stats = %+v, want one 499", st)
	}
}

func TestStopReleasesHeldRequests(t *testing.T) {
	h, srv := newSim(t, Options{})
	mustControl(t, srv, `{"timeout":1,"timeout_hold_ms":600000}`)
	done := make(chan statusOrError, 1)
	req := conversionRequest(t.Context(), t, srv, "held", validBody("held"))
	go func() { done <- post(srv, req) }()
	waitFor(t, "the request to be held", func() bool { return h.inFlight.Load() == 1 })
	h.Stop()
	if got := <-done; got.err != nil || got.status != http.StatusServiceUnavailable {
		t.Fatalf("got %+v, want 503", got)
	}
}

func TestSeedMakesDrawsReproducible(t *testing.T) {
	run := func() []int {
		_, srv := newSim(t, Options{Seed: 42})
		mustControl(t, srv, `{"fail_503":0.5}`)
		var got []int
		for range 40 {
			got = append(got, send(t, srv, "r").status)
		}
		return got
	}
	first, second := run(), run()
	if !slices.Equal(first, second) {
		t.Fatalf("same seed, different draws:\n%v\n%v", first, second)
	}
	if !slices.Contains(first, 503) || !slices.Contains(first, 202) {
		t.Fatalf("a share of 0.5 gave %v", first)
	}
}
