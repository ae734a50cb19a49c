// Package metrics holds the forwarder's Prometheus metrics in one place, registered on a registry
// of the binary's own so tests can build as many as they like.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Forwarder is every metric the forwarder exports.
type Forwarder struct {
	Registry *prometheus.Registry

	Records    *prometheus.CounterVec // records finished, by outcome
	Attempts   *prometheus.CounterVec // HTTP attempts, by result (status code or error class)
	Latency    prometheus.Histogram   // one HTTP attempt
	DLQWrites  *prometheus.CounterVec // dead-lettered records, by reason
	DedupeHits prometheus.Counter     // duplicates skipped
	Rerouted   prometheus.Counter     // records moved to the partition their key hashes to
	InFlight   prometheus.Gauge       // records being worked on
	Circuit    prometheus.Gauge       // 1 while the circuit to AdEventsX is open
	Committed  *prometheus.CounterVec // offset commits, by result
	Lag        *prometheus.GaugeVec   // records behind the log end, by assigned partition
	TxnBlocked *prometheus.GaugeVec   // records our reads wait behind an open transaction, by partition
	Loaded     prometheus.Counter     // delivered markers read back on assignment
	LoadErrors prometheus.Counter     // failed attempts to read the markers back (retried)
	Evictions  prometheus.Counter     // delivered ids forgotten for room inside the dedupe window
}

// New builds and registers the metrics.
func New() *Forwarder {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := &Forwarder{
		Registry: reg,
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forwarder_records_total",
			Help: "Records finished, by outcome: delivered, duplicate, rerouted, invalid, rejected, exhausted.",
		}, []string{"outcome"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forwarder_delivery_attempts_total",
			Help: "HTTP attempts to AdEventsX, by result (status code, or timeout/connect/connection/other).",
		}, []string{"result"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "forwarder_delivery_attempt_seconds",
			Help:    "Duration of one HTTP attempt to AdEventsX.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		DLQWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forwarder_dlq_writes_total",
			Help: "Records written to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		DedupeHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forwarder_dedupe_hits_total",
			Help: "Records skipped because their event_id was already delivered within the window.",
		}),
		Rerouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forwarder_rerouted_total",
			Help: "Records re-published to the partition their key hashes to.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forwarder_in_flight",
			Help: "Records being worked on.",
		}),
		Circuit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forwarder_circuit_open",
			Help: "1 while the circuit to AdEventsX is open (deliveries held back).",
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "forwarder_consumer_lag",
			Help: "Records of an assigned partition not yet committed: the listed log end minus the committed offset, every COMMIT_INTERVAL (it moves while fetching is paused).",
		}, []string{"partition"}),
		TxnBlocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "forwarder_transaction_blocked_records",
			Help: "Records of an assigned partition that reads wait behind because a transaction before them is still open (a dlq replay running, or killed until its transaction times out).",
		}, []string{"partition"}),
		Committed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forwarder_offset_commits_total",
			Help: "Offset commits, by result.",
		}, []string{"result"}),
		Loaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forwarder_dedupe_loaded_total",
			Help: "Delivered markers read back from the dedupe topic on partition assignment.",
		}),
		LoadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forwarder_dedupe_load_errors_total",
			Help: "Failed attempts to read the delivered markers back on assignment; each is retried for up to 30 s.",
		}),
		Evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forwarder_dedupe_evictions_total",
			Help: "Delivered event_ids forgotten to make room while still inside DEDUPE_WINDOW: a copy of one arriving later is delivered again. Above 0 means DEDUPE_CACHE_SIZE is too small for the traffic.",
		}),
	}
	reg.MustRegister(f.Records, f.Attempts, f.Latency, f.DLQWrites, f.DedupeHits, f.Rerouted,
		f.InFlight, f.Circuit, f.Committed, f.Lag, f.TxnBlocked, f.Loaded, f.LoadErrors, f.Evictions)
	return f
}
