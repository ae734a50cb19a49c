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
			// A table full of busy keys must not refuse a newcomer: the least recently used
			// key is forgotten instead (its bucket starts over full if it comes back).
			name: "full: evicts the least recently used key",
			max:  2,
			give: []take{{"a", 4, 0}, {"b", 4, 0}, {"a", 1, 0}, {"c", 1, 0}, {"b", 1, 0}, {"c", 1, 0}},
			want: []Decision{
				{Allowed: true, Limit: 4, Remaining: 0, Reset: 2 * time.Second},
				{Allowed: true, Limit: 4, Remaining: 0, Reset: 2 * time.Second},
				{Limit: 4, Remaining: 0, Reset: 2 * time.Second, RetryAfter: 500 * time.Millisecond},
				{Allowed: true, Limit: 4, Remaining: 3, Reset: 500 * time.Millisecond},
				{Allowed: true, Limit: 4, Remaining: 3, Reset: 500 * time.Millisecond}, // b was evicted, a goes
				{Allowed: true, Limit: 4, Remaining: 2, Reset: time.Second},            // c was kept
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

func TestSourceKey(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{give: "203.0.113.7", want: "203.0.113.7"},
		{give: "::ffff:203.0.113.7", want: "203.0.113.7"},
		{give: "2001:db8:1:2:aaaa::1", want: "2001:db8:1:2::/64"},
		{give: "2001:db8:1:2:bbbb:cccc:dddd:eeee", want: "2001:db8:1:2::/64"},
		{give: "2001:db8:1:3::1", want: "2001:db8:1:3::/64"},
		{give: "fe80::1%eth0", want: "fe80::/64"},
		{give: "not an ip", want: "not an ip"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := SourceKey(tt.give); got != tt.want {
				t.Errorf("SourceKey(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
