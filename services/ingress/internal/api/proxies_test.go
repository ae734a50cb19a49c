package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTrustedProxies checks that the client address, which token requests are limited by, comes
// from X-Forwarded-For only when the request came through a trusted proxy (issue 9, item 7:
// behind a load balancer every client shared one address, hence one budget).
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		remote  string // the peer's address
		want    int    // 429s among 11 requests from 11 different forwarded addresses
	}{
		{name: "through a trusted proxy", trusted: []string{"10.0.0.0/8"}, remote: "10.1.2.3", want: 0},
		{name: "a trusted proxy given as an address", trusted: []string{"10.1.2.3"}, remote: "10.1.2.3", want: 0},
		{name: "from an untrusted peer", trusted: []string{"10.0.0.0/8"}, remote: "192.0.2.1", want: 1},
		{name: "no trusted proxies", trusted: nil, remote: "10.1.2.3", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServerWith(t, &fakePublisher{}, fakeChecker{}, time.Second, func(c *Config) {
				c.TrustedProxies = tt.trusted
			})
			limited := 0
			for i := range 11 { // the test servers allow 10 token requests per address
				req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/token",
					strings.NewReader(`{"client_id":"web","client_secret":"s3cret-web"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
				req.RemoteAddr = tt.remote + ":40000"
				rec := httptest.NewRecorder()
				srv.handler.ServeHTTP(rec, req)
				if rec.Code == http.StatusTooManyRequests {
					limited++
				}
			}
			if limited != tt.want {
				t.Errorf("%d of 11 token requests were limited, want %d", limited, tt.want)
			}
		})
	}
}
