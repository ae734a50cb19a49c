package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the request counters and latencies by route, and what the access log left out.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// unlogged counts the refusals and errors the access log sampled out.
	unlogged *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingress_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ingress_http_request_duration_seconds",
			Help:    "HTTP request duration by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		unlogged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingress_http_unlogged_total",
			Help: "Refusals (4xx) and errors (5xx) left out of the access log by its sampling, by class (refusal, error); every request is in ingress_http_requests_total.",
		}, []string{"class"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.unlogged} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
