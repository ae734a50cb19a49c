package ratelimit

import (
	"net/http"
	"testing"
	"time"
)

func TestKeyedTake(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	type take struct {
		key string
		n   int
		at  time.Duration // after start
	}
	tests := []struct {
		name string
		max  int
		give []take
		want []Decision
	}{
		{
			name: "drain and refill",
			max:  10,
			give: []take{{"a", 4, 0}, {"a", 1, 0}, {"a", 2, time.Second}, {"a", 2, 2 * time.Second}},
			want: []Decision{
				{Allowed: true, Limit: 4, Remaining: 0, Reset: 2 * time.Second},
				{Limit: 4, Remaining: 0, Reset: 2 * time.Second, RetryAfter: 500 * time.Millisecond},
				{Allowed: true, Limit: 4, Remaining: 0, Reset: 2 * time.Second},
				{Allowed: true, Limit: 4, Remaining: 0, Reset: 2 * time.Second},
			},
		},
		{
			name: "more than the burst is never allowed",
			max:  10,
			give: []take{{"a", 5, 0}},
			want: []Decision{{Limit: 4, Remaining: 4, RetryAfter: 0}},
		},
		{
			name: "full: forgets refilled buckets, refuses new keys while all are busy",
			max:  2,
			give: []take{{"a", 1, 0}, {"b", 1, 0}, {"c", 1, 0}, {"c", 1, time.Second}},
			want: []Decision{
				{Allowed: true, Limit: 4, Remaining: 3, Reset: 500 * time.Millisecond},
				{Allowed: true, Limit: 4, Remaining: 3, Reset: 500 * time.Millisecond},
				{Limit: 4, Reset: time.Second, RetryAfter: time.Second},
				{Allowed: true, Limit: 4, Remaining: 3, Reset: 500 * time.Millisecond},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyed(func(string) Limit { return Limit{Rate: 2, Burst: 4} }, tt.max)
			for i, g := range tt.give {
				if got := k.Take(g.key, g.n, start.Add(g.at)); got != tt.want[i] {
					t.Errorf("take %d: got %+v, want %+v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestKeyedPeek(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name  string
		taken int           // taken from "a" at start
		give  string        // key peeked at
		at    time.Duration // after start
		want  Decision
	}{
		{name: "unknown key is full", taken: 0, give: "b", want: Decision{Allowed: true, Limit: 4, Remaining: 4}},
		{name: "tokens left", taken: 3, give: "a", want: Decision{Allowed: true, Limit: 4, Remaining: 1, Reset: 1500 * time.Millisecond}},
		{name: "empty", taken: 4, give: "a", want: Decision{Limit: 4, Reset: 2 * time.Second, RetryAfter: 500 * time.Millisecond}},
		{name: "refilled", taken: 4, give: "a", at: time.Second, want: Decision{Allowed: true, Limit: 4, Remaining: 2, Reset: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyed(func(string) Limit { return Limit{Rate: 2, Burst: 4} }, 10)
			k.Take("a", tt.taken, start)
			got := k.Peek(tt.give, 1, start.Add(tt.at))
			again := k.Peek(tt.give, 1, start.Add(tt.at))
			if got != tt.want || again != tt.want {
				t.Errorf("Peek = %+v, then %+v; want %+v both times", got, again, tt.want)
			}
		})
	}
}

func TestDecisionSetHeaders(t *testing.T) {
	tests := []struct {
		name string
		give Decision
		want map[string]string
	}{
		{
			name: "allowed",
			give: Decision{Allowed: true, Limit: 100, Remaining: 42, Reset: 2100 * time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "3", "Retry-After": ""},
		},
		{
			name: "refused, retry rounded up",
			give: Decision{Limit: 100, Reset: 10 * time.Second, RetryAfter: 200 * time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "10", "Retry-After": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.give.SetHeaders(h)
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
