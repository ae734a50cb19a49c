package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/libs/tracing"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/deliver"
	"github.com/martech/eventfwd/services/forwarder/internal/engine"
	"github.com/martech/eventfwd/services/forwarder/internal/forward"
	"github.com/martech/eventfwd/services/forwarder/internal/health"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

func run(ctx context.Context, log *slog.Logger, cfg Config) error {
	stopTracing, err := tracing.SetupFromEnv(ctx, "forwarder")
	if err != nil {
		return configError{err}
	}
	defer flushTraces(log, stopTracing)

	// Records of the events and DLQ topics carry their trace (W3C traceparent) in their headers.
	baseOpts := append(kafka.ClientOpts(cfg.Kafka, "forwarder", log),
		kgo.WithHooks(tracing.NewKafkaHooks("forwarder", cfg.ConsumerGroup, cfg.EventsTopic, cfg.DLQTopic)))
	counts, err := ensureTopics(ctx, cfg, baseOpts)
	if err != nil {
		return err
	}

	m := metrics.New()
	gate := health.New(health.Config{
		Window:        cfg.CircuitWindow,
		MinRequests:   cfg.CircuitMinRequests,
		FailureRatio:  cfg.CircuitFailureRatio,
		ProbeInterval: cfg.CircuitProbeInterval,
		MaxProbe:      cfg.CircuitMaxProbe,
		MaxInFlight:   cfg.MaxInFlight,
		MinInFlight:   1,
		MaxRPS:        cfg.MaxRPS,
	}, log, func(open bool) {
		m.Circuit.Set(map[bool]float64{true: 1, false: 0}[open])
	})
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "forwarder_concurrency_limit",
		Help: "Current adaptive limit on concurrent requests to AdEventsX.",
	}, func() float64 { return float64(gate.Limit()) }))
	client := deliver.NewClient(deliver.ClientConfig{
		BaseURL:        cfg.URL,
		APIKey:         cfg.APIKey,
		AttemptTimeout: cfg.AttemptTimeout,
		RetryAfterCap:  cfg.RetryAfterCap,
		MaxConns:       cfg.MaxInFlight,
	})
	defer client.CloseIdle()
	deliverer := deliver.NewDeliverer(client, gate, deliver.Policy{
		MaxAttempts:    cfg.MaxAttempts,
		InitialBackoff: cfg.Backoff,
		MaxBackoff:     cfg.MaxBackoff,
		Jitter:         cfg.Jitter,
	}, m)
	store := dedupe.New(cfg.DedupeTopic, cfg.DedupeCacheSize, cfg.DedupeWindow,
		dedupe.WithEvictionReport(log, m.Evictions))

	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return configError{fmt.Errorf("FORWARDER_ADMIN_ADDR: listen on %s: %w", cfg.AdminAddr, err)}
	}
	defer ln.Close()

	// Markers, dead letters and reroutes go through a producer client of their own: linger lets
	// the markers of many deliveries share one acks=all produce request.
	producer, err := kgo.NewClient(append(append([]kgo.Opt{}, baseOpts...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(10*time.Millisecond),
		// A record up to MaxRecordBytes must fit in a DLQ or reroute write, headers included.
		kgo.ProducerBatchMaxBytes(int32(deadletter.BatchBytes(cfg.MaxRecordBytes))),
		kgo.BrokerMaxWriteBytes(int32(max(100<<20, 2*deadletter.BatchBytes(cfg.MaxRecordBytes)))),
	)...)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()

	pipe := forward.New(forward.Config{
		DLQTopic:       cfg.DLQTopic,
		Partitions:     counts[cfg.EventsTopic],
		MaxRecordBytes: cfg.MaxRecordBytes,
		Names:          event.NewNames(cfg.EventNames...),
	}, log, store, deliverer.Deliver, produceAcked(producer), m)
	eng, err := engine.New(engine.Config{
		Topic:           cfg.EventsTopic,
		Group:           cfg.ConsumerGroup,
		SessionTimeout:  cfg.SessionTimeout,
		MaxInFlight:     cfg.MaxInFlight,
		MaxPerPartition: cfg.MaxInFlightPerPart,
		CommitInterval:  cfg.CommitInterval,
		RevokeTimeout:   cfg.ShutdownTimeout,
	}, log, baseOpts, pipe.Handle, func(ctx context.Context, ids []int32) error {
		return pipe.Prepare(ctx, ids, baseOpts)
	}, m)
	if err != nil {
		return err
	}

	admin := &http.Server{
		Addr:              cfg.AdminAddr,
		Handler:           adminMux(eng.Client(), gate, m),
		ReadHeaderTimeout: 5 * time.Second,
	}
	adminErr := make(chan error, 1)
	go func() { adminErr <- admin.Serve(ln) }()
	log.Info("forwarder running", "admin_addr", ln.Addr().String(), "partitions", counts[cfg.EventsTopic])

	engCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight records", "deadline", cfg.ShutdownTimeout.String())
	case err = <-adminErr:
		err = fmt.Errorf("admin server: %w", err)
	case err = <-engDone:
		engDone <- err
	}
	stopEngine()
	if eerr := <-engDone; eerr != nil && err == nil {
		err = eerr
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = admin.Shutdown(sctx)
	log.Info("stopped")
	return err
}

// flushTraces exports the spans still buffered, for at most 5 s.
func flushTraces(log *slog.Logger, stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
}

// produceAcked writes a record through cl and waits for its acknowledgement, without flushing:
// records produced meanwhile share the batch (ProduceSync would send each at once).
func produceAcked(cl *kgo.Client) forward.Produce {
	return func(ctx context.Context, r *kgo.Record) error {
		done := make(chan error, 1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { done <- err })
		return <-done
	}
}

// ensureTopics creates the events, DLQ and dedupe topics when missing and checks that the dedupe
// topic has as many partitions as the events topic (its markers follow the same key hash).
func ensureTopics(ctx context.Context, cfg Config, opts []kgo.Opt) (map[string]int32, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	maxMessage := fmt.Sprint(deadletter.TopicMaxMessageBytes(cfg.MaxRecordBytes))
	counts, err := kafka.EnsureTopics(tctx, cl, cfg.Kafka,
		// Read, and Write for the copies re-published to their home partition.
		kafka.Topic{Name: cfg.EventsTopic, Need: []kafka.Op{kafka.Read, kafka.Write}},
		kafka.Topic{Name: cfg.DLQTopic, Configs: map[string]*string{"max.message.bytes": &maxMessage}, Need: []kafka.Op{kafka.Write}})
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	retention := fmt.Sprint((cfg.DedupeWindow + time.Hour).Milliseconds())
	compact, segment := "compact,delete", fmt.Sprint(time.Hour.Milliseconds())
	dc, err := kafka.EnsureTopics(tctx, cl, cfg.Kafka, kafka.Topic{
		Name:       cfg.DedupeTopic,
		Partitions: counts[cfg.EventsTopic],
		Configs: map[string]*string{
			"cleanup.policy": &compact,
			"retention.ms":   &retention,
			"segment.ms":     &segment,
		},
		Need: []kafka.Op{kafka.Read, kafka.Write},
	})
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	if dc[cfg.DedupeTopic] != counts[cfg.EventsTopic] {
		return nil, configError{fmt.Errorf("DEDUPE_TOPIC: %s has %d partitions but %s has %d; they must match",
			cfg.DedupeTopic, dc[cfg.DedupeTopic], cfg.EventsTopic, counts[cfg.EventsTopic])}
	}
	if err := kafka.CheckGroup(tctx, cl, cfg.Kafka, cfg.ConsumerGroup); err != nil {
		return nil, err
	}
	return counts, nil
}

func adminMux(cl *kgo.Client, gate *health.Gate, m *metrics.Forwarder) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := kafka.Ping(r.Context(), cl); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"not ready","reason":"kafka unreachable"}`)
			return
		}
		if gate.Open() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"not ready","reason":"adeventsx circuit open"}`)
			return
		}
		fmt.Fprint(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	// Profiles for the operator on the admin address (loopback by default).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
