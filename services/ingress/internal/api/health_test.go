package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestProbes(t *testing.T) {
	tests := []struct {
		name     string
		admin    bool // asked on the admin listener, else on the public port
		path     string
		readyErr error
		wantCode int
		wantBody string
	}{
		{name: "healthz", path: "/healthz", wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "admin healthz", admin: true, path: "/healthz", wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "healthz while kafka is down", admin: true, path: "/healthz", readyErr: errors.New("dial tcp: refused"), wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "readyz", admin: true, path: "/readyz", wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "readyz while kafka is down", admin: true, path: "/readyz", readyErr: errors.New("dial tcp: refused"), wantCode: http.StatusServiceUnavailable, wantBody: `{"status":"unavailable"}`},
		{name: "unknown path", path: "/nope", wantCode: http.StatusNotFound, wantBody: `{"error":"not_found"}`},
		{name: "wrong method", path: "/events", wantCode: http.StatusMethodNotAllowed, wantBody: `{"error":"method_not_allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, &fakePublisher{}, fakeChecker{err: tt.readyErr}, time.Second)
			h := srv.handler
			if tt.admin {
				h = srv.admin
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if got, want := compactJSON(t, rec.Body.String()), compactJSON(t, tt.wantBody); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
		})
	}
}

// TestOpsRoutesAreOffThePublicPort checks that readiness and metrics are served on the admin
// listener only (issue 9, item 8); /healthz stays on both for load balancers.
func TestOpsRoutesAreOffThePublicPort(t *testing.T) {
	srv := newTestServer(t, &fakePublisher{}, fakeChecker{}, time.Second)
	for _, path := range []string{"/readyz", "/metrics", "/debug/pprof/"} {
		rec := httptest.NewRecorder()
		srv.handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s on the public port = %d, want 404", path, rec.Code)
		}
	}
}

// TestAdminServesProfiles: the Go profiles an operator takes under load are on the admin
// listener (and, by TestOpsRoutesAreOffThePublicPort, only there).
func TestAdminServesProfiles(t *testing.T) {
	srv := newTestServer(t, &fakePublisher{}, fakeChecker{}, time.Second)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
		rec := httptest.NewRecorder()
		srv.admin.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s on the admin listener = %d with %d bytes, want 200 and a profile", path, rec.Code, rec.Body.Len())
		}
	}
}

// countingChecker counts its checks and answers err.
type countingChecker struct {
	calls atomic.Int64
	err   error
}

func (c *countingChecker) Ready(context.Context) error {
	c.calls.Add(1)
	return c.err
}

// TestReadyzIsCached checks that probes, however many, ask Kafka at most once a second (issue
// 9, item 8: each /readyz made a broker round trip, 6,800 a second under a flood).
func TestReadyzIsCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checker := &countingChecker{}
		srv := newTestServer(t, &fakePublisher{}, checker, time.Second)
		probe := func() int {
			rec := httptest.NewRecorder()
			srv.admin.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
			return rec.Code
		}
		for range 100 {
			if code := probe(); code != http.StatusOK {
				t.Fatalf("GET /readyz = %d, want 200", code)
			}
		}
		if n := checker.calls.Load(); n != 1 {
			t.Errorf("100 probes within a second made %d checks, want 1", n)
		}
		time.Sleep(readyTTL)
		checker.err = errors.New("kafka down")
		if code := probe(); code != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz a second later with Kafka down = %d, want 503", code)
		}
		if n := checker.calls.Load(); n != 2 {
			t.Errorf("checks after a second = %d, want 2", n)
		}
	})
}
