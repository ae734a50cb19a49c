package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name string
		give string
		want *regexp.Regexp
	}{
		{name: "taken from the caller", give: "req-123", want: regexp.MustCompile(`^req-123$`)},
		{name: "generated when absent", give: "", want: generated},
		{name: "replaced when it has spaces", give: "two words", want: generated},
		{name: "replaced when too long", give: strings.Repeat("a", maxRequestIDLen+1), want: generated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, &fakePublisher{}, fakeChecker{}, time.Second)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil)
			req.Header.Set(requestIDHeader, tt.give)
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, req)
			if got := rec.Header().Get(requestIDHeader); !tt.want.MatchString(got) {
				t.Errorf("X-Request-Id = %q, want match for %s", got, tt.want)
			}
		})
	}
}

func TestRecovery(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	m, err := newHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(requestID(), accessLog(log, m), recovery(log))
	r.GET("/boom", func(*gin.Context) { panic("secret internals") })

	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/boom", nil)
	req.Header.Set(requestIDHeader, "req-boom")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)

	if rec.Code != http.StatusInternalServerError || compactJSON(t, rec.Body.String()) != `{"error":"internal_error"}` {
		t.Errorf("got %d %s, want 500 {\"error\":\"internal_error\"}", rec.Code, rec.Body.String())
	}
	lines := logLines(t, &logs)
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want the panic and the access log: %s", len(lines), logs.String())
	}
	if lines[0]["msg"] != "handler panic" || lines[0]["panic"] != "secret internals" || lines[0]["request_id"] != "req-boom" {
		t.Errorf("panic log = %v", lines[0])
	}
	if lines[1]["msg"] != "http request" || lines[1]["status"] != float64(500) || lines[1]["route"] != "/boom" {
		t.Errorf("access log = %v", lines[1])
	}
}

func TestMetrics(t *testing.T) {
	srv := newTestServer(t, &fakePublisher{}, fakeChecker{}, time.Second)
	post := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events", strings.NewReader(snakeEvent))
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Authorization", "Bearer "+validToken(t))
	srv.handler.ServeHTTP(httptest.NewRecorder(), post)
	srv.handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/no/such/path", nil))

	rec := httptest.NewRecorder()
	srv.admin.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	for _, want := range []string{
		`ingress_http_requests_total{code="202",route="/events"} 1`,
		`ingress_http_requests_total{code="404",route="unmatched"} 1`,
		`ingress_http_request_duration_seconds_count{route="/events"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, rec.Body.String())
		}
	}
}
