package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// TestEventRateLimit sends requests in order against a bucket of 3 events refilling at one
// event every 10 s, and checks each answer's status and headers.
func TestEventRateLimit(t *testing.T) {
	type give struct {
		client, path, body string
	}
	type want struct {
		status                  int
		limit, remaining, retry string
	}
	single := give{client: "web", path: "/events", body: snakeEvent}
	// A body of 8 KiB and a bit is charged like 3 events, valid or not (issue 9, item 6: a
	// 1 MiB body cost as much CPU as hundreds of events and was charged as one).
	padded := snakeEvent[:len(snakeEvent)-1] + `,"pad":"` + strings.Repeat("x", 8<<10) + `"}`
	large := give{client: "web", path: "/events", body: padded}
	largeInvalid := give{client: "web", path: "/events", body: `{"pad":"` + strings.Repeat("x", 8<<10) + `"}`}
	largeBatch := give{client: "web", path: "/events/batch", body: "[" + padded + "]"}
	tests := []struct {
		name string
		give []give
		want []want
	}{
		{
			name: "single events until empty",
			give: []give{single, single, single, single},
			want: []want{
				{status: 202, limit: "3", remaining: "2"},
				{status: 202, limit: "3", remaining: "1"},
				{status: 202, limit: "3", remaining: "0"},
				{status: 429, limit: "3", remaining: "0", retry: "10"},
			},
		},
		{
			name: "clients have their own buckets",
			give: []give{single, single, single, {client: "app", path: "/events", body: snakeEvent}},
			want: []want{
				{status: 202, limit: "3", remaining: "2"},
				{status: 202, limit: "3", remaining: "1"},
				{status: 202, limit: "3", remaining: "0"},
				{status: 202, limit: "3", remaining: "2"},
			},
		},
		{
			name: "a batch costs its events",
			give: []give{
				{client: "web", path: "/events/batch", body: "[" + snakeEvent + "," + snakeEvent + "]"},
				{client: "web", path: "/events/batch", body: "[" + snakeEvent + "," + snakeEvent + "]"},
				single,
			},
			want: []want{
				{status: 200, limit: "3", remaining: "1"},
				// One event paid at the door leaves none for the second item.
				{status: 429, limit: "3", remaining: "0", retry: "10"},
				{status: 429, limit: "3", remaining: "0", retry: "10"},
			},
		},
		{
			name: "a large body costs an event per 4 KiB",
			give: []give{large, single},
			want: []want{
				{status: 202, limit: "3", remaining: "0"},
				{status: 429, limit: "3", remaining: "0", retry: "10"},
			},
		},
		{
			name: "a large invalid body costs as much",
			give: []give{largeInvalid, single},
			want: []want{
				{status: 400, limit: "3", remaining: "0"},
				{status: 429, limit: "3", remaining: "0", retry: "10"},
			},
		},
		{
			name: "a large batch of one event costs its size",
			give: []give{largeBatch, single},
			want: []want{
				{status: 200, limit: "3", remaining: "0"},
				{status: 429, limit: "3", remaining: "0", retry: "10"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServerWith(t, &fakePublisher{}, fakeChecker{}, time.Second, func(c *Config) {
				c.EventLimit = ratelimit.Limit{Rate: 0.1, Burst: 3}
				c.MaxBodyBytes = 64 << 10
			})
			for i, g := range tt.give {
				req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, g.path, strings.NewReader(g.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tokenFor(t, g.client))
				rec := httptest.NewRecorder()
				srv.handler.ServeHTTP(rec, req)
				h := rec.Header()
				got := want{status: rec.Code, limit: h.Get("RateLimit-Limit"), remaining: h.Get("RateLimit-Remaining"), retry: h.Get("Retry-After")}
				if got != tt.want[i] {
					t.Errorf("request %d: got %+v, want %+v (%s)", i, got, tt.want[i], rec.Body.String())
				}
				if rec.Code == http.StatusTooManyRequests && compactJSON(t, rec.Body.String()) != `{"error":"rate_limited"}` {
					t.Errorf("request %d: 429 body %s", i, rec.Body.String())
				}
			}
		})
	}
}
