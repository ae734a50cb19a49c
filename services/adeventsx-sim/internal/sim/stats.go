package sim

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// statusClientClosed counts requests whose client went away before the answer (nginx's 499).
const statusClientClosed = 499

// stats counts POST /v1/conversions answers by status. Reset swaps in a new one.
type stats struct {
	requests  atomic.Int64
	responses [600]atomic.Int64 // by status; anything out of range lands on 0
}

func (s *stats) count(status int) {
	if status < 0 || status >= len(s.responses) {
		status = 0
	}
	s.responses[status].Add(1)
}

// byStatus returns the non-zero counts keyed by status code.
func (s *stats) byStatus() map[string]int64 {
	out := make(map[string]int64)
	for code := range s.responses {
		if n := s.responses[code].Load(); n > 0 {
			out[strconv.Itoa(code)] = n
		}
	}
	return out
}

// statsView is the JSON of GET /_sim/stats.
type statsView struct {
	Requests  int64            `json:"requests"`
	InFlight  int64            `json:"in_flight"`
	Responses map[string]int64 `json:"responses"`
}

// collector exposes the counters to Prometheus at scrape time, so the request path pays
// nothing for metrics. Values drop after POST /_sim/reset, which Prometheus reads as a
// counter reset.
type collector struct {
	h                                            *Handler
	requests, responses, inFlight, accepted, ids *prometheus.Desc
}

func newCollector(h *Handler) *collector {
	return &collector{
		h:         h,
		requests:  prometheus.NewDesc("adeventsx_sim_requests_total", "POST /v1/conversions requests since start or reset.", nil, nil),
		responses: prometheus.NewDesc("adeventsx_sim_responses_total", "POST /v1/conversions answers by status (499: client went away).", []string{"code"}, nil),
		inFlight:  prometheus.NewDesc("adeventsx_sim_in_flight_requests", "POST /v1/conversions requests being answered.", nil, nil),
		accepted:  prometheus.NewDesc("adeventsx_sim_accepted_total", "Accepted requests, duplicates included.", nil, nil),
		ids:       prometheus.NewDesc("adeventsx_sim_received_events", "Distinct event ids accepted.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.responses
	ch <- c.inFlight
	ch <- c.accepted
	ch <- c.ids
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.stats.Load()
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.requests.Load()))
	for code, n := range st.byStatus() {
		ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n), code)
	}
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(c.h.inFlight.Load()))
	t := c.h.store.Load().totals()
	ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(t.Total))
	ch <- prometheus.MustNewConstMetric(c.ids, prometheus.GaugeValue, float64(t.Count))
}
