package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCORS(t *testing.T) {
	const dashboard = "https://dashboard.example.com"
	type give struct {
		method, origin, requestMethod string
	}
	type want struct {
		status      int
		allowOrigin string
		allowHeader bool // Access-Control-Allow-Headers names Authorization
	}
	tests := []struct {
		name string
		give give
		want want
	}{
		{name: "preflight from the dashboard", give: give{http.MethodOptions, dashboard, http.MethodPost},
			want: want{status: http.StatusNoContent, allowOrigin: dashboard, allowHeader: true}},
		{name: "post from the dashboard", give: give{http.MethodPost, dashboard, ""},
			want: want{status: http.StatusAccepted, allowOrigin: dashboard}},
		{name: "preflight from elsewhere", give: give{http.MethodOptions, "https://evil.example.com", http.MethodPost},
			want: want{status: http.StatusForbidden}},
		{name: "post from elsewhere", give: give{http.MethodPost, "https://evil.example.com", ""},
			want: want{status: http.StatusForbidden}},
		{name: "no origin: not a browser", give: give{http.MethodPost, "", ""},
			want: want{status: http.StatusAccepted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServerWith(t, &fakePublisher{}, fakeChecker{}, time.Second, func(c *Config) {
				c.CORSOrigins = []string{dashboard}
			})
			req := httptest.NewRequestWithContext(t.Context(), tt.give.method, "/events", strings.NewReader(snakeEvent))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+validToken(t))
			if tt.give.origin != "" {
				req.Header.Set("Origin", tt.give.origin)
			}
			if tt.give.requestMethod != "" {
				req.Header.Set("Access-Control-Request-Method", tt.give.requestMethod)
				req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			}
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, req)
			got := want{
				status:      rec.Code,
				allowOrigin: rec.Header().Get("Access-Control-Allow-Origin"),
				allowHeader: strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "authorization"),
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	srv := newTestServer(t, &fakePublisher{}, fakeChecker{}, time.Second)
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != `{"openapi":"3.0.3"}` {
		t.Errorf("GET /openapi.json = %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
