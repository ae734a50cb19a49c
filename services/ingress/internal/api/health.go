package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Checker reports whether the service's dependencies answer.
type Checker interface {
	Ready(ctx context.Context) error
}

const (
	// readyTTL is how long a readiness answer is reused: probes, however many, cost the
	// broker at most one request per readyTTL.
	readyTTL = time.Second
	// readyTimeout bounds one readiness check.
	readyTimeout = 2 * time.Second
)

type statusBody struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: the process is up and serving.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, "ok")
}

// NewAdmin returns the admin listener's handler (INGRESS_ADMIN_ADDR): GET /healthz, GET /readyz
// (Kafka reachable, checked at most once a second), GET /metrics (what reg gathers) and the Go
// profiles under GET /debug/pprof/. It is
// kept off the public port: probes and scrapes need not pass the internet's traffic, and the
// internet need not see the metrics nor make the ingress ask Kafka.
func NewAdmin(log *slog.Logger, checker Checker, reg *prometheus.Registry) http.Handler {
	ready := &cachedCheck{checker: checker, ttl: readyTTL}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready.Ready(r.Context()); err != nil {
			log.WarnContext(r.Context(), "not ready", "err", err)
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles for the operator, on the admin address only (loopback by default).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"status":"` + status + `"}`))
}

// cachedCheck runs its checker at most once per ttl and answers with the last result between
// runs; callers arriving during a run wait for it.
type cachedCheck struct {
	checker Checker
	ttl     time.Duration

	mu        sync.Mutex
	checkedAt time.Time
	err       error
}

func (c *cachedCheck) Ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checkedAt.IsZero() && time.Since(c.checkedAt) < c.ttl {
		return c.err
	}
	// The answer serves other callers too: one caller going away must not cut it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	c.err = c.checker.Ready(ctx)
	c.checkedAt = time.Now()
	return c.err
}
