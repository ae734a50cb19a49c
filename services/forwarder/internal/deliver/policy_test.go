package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   Verdict
	}{
		{"200", 200, nil, Delivered},
		{"202", 202, nil, Delivered},
		{"400", 400, nil, Reject},
		{"404", 404, nil, Refused},
		{"405", 405, nil, Refused},
		{"410", 410, nil, Refused},
		{"409", 409, nil, Reject},
		{"422", 422, nil, Reject},
		{"401", 401, nil, Refused},
		{"403", 403, nil, Refused},
		{"408", 408, nil, Retry},
		{"429", 429, nil, Retry},
		{"500", 500, nil, Retry},
		{"502", 502, nil, Retry},
		{"503", 503, nil, Retry},
		{"504", 504, nil, Retry},
		{"timeout", 0, context.DeadlineExceeded, Retry},
		{"connection refused", 0, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, Retry},
		{"301 is the destination failing", 301, nil, Retry},
		{"302 is the destination failing", 302, nil, Retry},
		{"307 is the destination failing", 307, nil, Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.status, tt.err); got != tt.want {
				t.Errorf("Classify(%d, %v) = %s, want %s", tt.status, tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorClass(t *testing.T) {
	tests := []struct {
		name string
		give error
		want string
	}{
		{"none", nil, ""},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), "timeout"},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("refused")}, "connect"},
		{"other", errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorClass(tt.give); got != tt.want {
				t.Errorf("ErrorClass = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	limit := 30 * time.Second
	tests := []struct {
		name string
		give string
		want time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "3", 3 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"capped seconds", "3600", limit},
		{"huge seconds", "99999999999999999", limit},
		{"http date", now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{"http date capped", now.Add(time.Hour).Format(http.TimeFormat), limit},
		{"http date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.give != "" {
				h.Set("Retry-After", tt.give)
			}
			if got := RetryAfter(h, now, limit); got != tt.want {
				t.Errorf("RetryAfter(%q) = %s, want %s", tt.give, got, tt.want)
			}
		})
	}
}
