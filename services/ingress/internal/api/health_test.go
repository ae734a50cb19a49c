package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbes(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		readyErr error
		wantCode int
		wantBody string
	}{
		{name: "healthz", path: "/healthz", wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "healthz while kafka is down", path: "/healthz", readyErr: errors.New("dial tcp: refused"), wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "readyz", path: "/readyz", wantCode: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "readyz while kafka is down", path: "/readyz", readyErr: errors.New("dial tcp: refused"), wantCode: http.StatusServiceUnavailable, wantBody: `{"status":"unavailable"}`},
		{name: "unknown path", path: "/nope", wantCode: http.StatusNotFound, wantBody: `{"error":"not_found"}`},
		{name: "wrong method", path: "/events", wantCode: http.StatusMethodNotAllowed, wantBody: `{"error":"method_not_allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, &fakePublisher{}, fakeChecker{err: tt.readyErr}, time.Second)
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if got, want := compactJSON(t, rec.Body.String()), compactJSON(t, tt.wantBody); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
		})
	}
}
