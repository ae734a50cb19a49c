package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// accessLogRouter is a router with the access log in front of routes that answer each status
// code in codes at GET /s/<code> (a 5xx with the error "broker down"); it logs at info, the
// default LOG_LEVEL.
func accessLogRouter(t *testing.T, logs *bytes.Buffer, codes ...int) (*gin.Engine, *httpMetrics) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := newHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(requestID(), accessLog(log, m), recovery(log))
	for _, code := range codes {
		r.GET("/s/"+strconv.Itoa(code), func(c *gin.Context) {
			if code >= 500 {
				_ = c.Error(errors.New("broker down"))
			}
			c.Status(code)
		})
	}
	return r, m
}

func logLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(logs.String()) {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		lines = append(lines, entry)
	}
	return lines
}

// TestAccessLogKeepsRefusalsAndErrors: a success is counted in the metrics and not logged (a
// line per accepted event was 74 MB in 13 s under load); a refusal (4xx) or an error (5xx) is
// counted and logged.
func TestAccessLogKeepsRefusalsAndErrors(t *testing.T) {
	tests := []struct {
		code      int
		wantLevel string // "" for no line
	}{
		{http.StatusOK, ""},
		{http.StatusAccepted, ""},
		{http.StatusNoContent, ""},
		{http.StatusBadRequest, "INFO"},
		{http.StatusUnauthorized, "INFO"},
		{http.StatusTooManyRequests, "INFO"},
		{http.StatusRequestEntityTooLarge, "INFO"},
		{http.StatusInternalServerError, "ERROR"},
		{http.StatusServiceUnavailable, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			var logs bytes.Buffer
			r, m := accessLogRouter(t, &logs, tt.code)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/s/"+strconv.Itoa(tt.code), nil)
			req.Header.Set(requestIDHeader, "req-1")
			r.ServeHTTP(httptest.NewRecorder(), req)

			route := "/s/" + strconv.Itoa(tt.code)
			if got := testutil.ToFloat64(m.requests.WithLabelValues(route, strconv.Itoa(tt.code))); got != 1 {
				t.Errorf("ingress_http_requests_total{route=%q,code=\"%d\"} = %v, want 1", route, tt.code, got)
			}
			if got := testutil.CollectAndCount(m.duration); got != 1 {
				t.Errorf("duration series = %d, want 1", got)
			}
			lines := logLines(t, &logs)
			if tt.wantLevel == "" {
				if len(lines) != 0 {
					t.Fatalf("a %d was logged: %v", tt.code, lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("a %d logged %d lines, want 1: %s", tt.code, len(lines), logs.String())
			}
			l := lines[0]
			if l["msg"] != "http request" || l["level"] != tt.wantLevel || l["status"] != float64(tt.code) ||
				l["route"] != route || l["request_id"] != "req-1" {
				t.Errorf("line = %v, want msg %q level %s status %d route %s request_id req-1", l, "http request", tt.wantLevel, tt.code, route)
			}
			if tt.code >= 500 && l["err"] != "broker down" {
				t.Errorf("a %d's line has error %v, want the handler's", tt.code, l["err"])
			}
		})
	}
}

// TestAccessLogSamplesBursts: refusals and errors by the thousand (a token flood, a broker
// outage under load) are all counted, but logged at most logBurst times per class and then
// logLinesPerSecond; the next line says how many it left out.
func TestAccessLogSamplesBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r, m := accessLogRouter(t, &logs, http.StatusServiceUnavailable, http.StatusTooManyRequests)
		send := func(code, n int) {
			for range n {
				r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/s/"+strconv.Itoa(code), nil))
			}
		}
		send(http.StatusServiceUnavailable, 1000)
		send(http.StatusTooManyRequests, 1000)

		errRoute, refRoute := "/s/503", "/s/429"
		if got := testutil.ToFloat64(m.requests.WithLabelValues(errRoute, "503")); got != 1000 {
			t.Errorf("503s counted = %v, want 1000", got)
		}
		if got := testutil.ToFloat64(m.requests.WithLabelValues(refRoute, "429")); got != 1000 {
			t.Errorf("429s counted = %v, want 1000", got)
		}
		count := func() (errs, refusals int) {
			for _, l := range logLines(t, &logs) {
				switch l["status"] {
				case float64(503):
					errs++
				case float64(429):
					refusals++
				}
			}
			return errs, refusals
		}
		if errs, refusals := count(); errs != logBurst || refusals != logBurst {
			t.Fatalf("logged %d 503s and %d 429s, want %d of each (one class's burst must not silence the other)", errs, refusals, logBurst)
		}
		if got := testutil.ToFloat64(m.unlogged.WithLabelValues("error")); got != 1000-logBurst {
			t.Errorf("unlogged errors = %v, want %d", got, 1000-logBurst)
		}

		time.Sleep(time.Second)
		logs.Reset()
		send(http.StatusServiceUnavailable, 1)
		lines := logLines(t, &logs)
		if len(lines) != 1 || lines[0]["unlogged_before"] != float64(1000-logBurst) {
			t.Errorf("after a second, lines = %v, want one saying unlogged_before %d", lines, 1000-logBurst)
		}
	})
}

// TestTokenRefusalsAreInTheSampledAccessLog: a refused token request is one access-log line
// saying why and about whom (it was a separate, unsampled line too: 7 500 a second under the
// token-flood bench).
func TestTokenRefusalsAreInTheSampledAccessLog(t *testing.T) {
	var logs bytes.Buffer
	srv := newTestServerWith(t, &fakePublisher{}, fakeChecker{}, time.Second, func(c *Config) {
		c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/token",
		strings.NewReader(`{"client_id":"web","client_secret":"wrong"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret = %d, want 401", rec.Code)
	}
	lines := logLines(t, &logs)
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want the access log's only: %s", len(lines), logs.String())
	}
	l := lines[0]
	if l["msg"] != "http request" || l["status"] != float64(401) || l["err"] != "token refused" ||
		l["client_id"] != "web" || l["ip"] != "192.0.2.1" {
		t.Errorf("line = %v, want the 401 with error %q, client_id web, ip 192.0.2.1", l, "token refused")
	}
}
