// Package publish writes accepted events to Kafka and waits for the write to be acknowledged by
// all in-sync replicas, so that the HTTP layer answers 202 only for an event that cannot be lost.
package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/kafka"
)

// ClientOpts are the producer options the ingress adds to kafka.ClientOpts.
func ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		// acks=all is what makes a 202 durable. franz-go's idempotent producer (its default,
		// kept) makes its internal retries safe from duplicates.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Every request waits for its own record, so what a linger buys is batching across
		// concurrent requests, paid in latency by each of them. Under wrk at 64 connections on
		// two cores shared with the broker: none sent a produce request per one or two records
		// and tripled the broker's CPU per event; 1 ms cost every request a millisecond, which
		// at a fixed number of connections is throughput (64 connections over 2 ms is 32 000
		// requests a second at most); 200 µs keeps the requests full at a fifth of the wait.
		kgo.ProducerLinger(Linger),
		// No RecordDeliveryTimeout: every Publish is bounded by its context instead.
	}
}

// Linger is how long a partition's records wait for more before their produce request goes.
const Linger = 200 * time.Microsecond

// Producer publishes event records to one topic.
type Producer struct {
	cl      *kgo.Client
	topic   string
	latency prometheus.Histogram
	errors  *prometheus.CounterVec
}

// New returns a Producer writing to topic with cl, registering its metrics on reg.
func New(cl *kgo.Client, topic string, reg prometheus.Registerer) (*Producer, error) {
	p := &Producer{
		cl:    cl,
		topic: topic,
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ingress_produce_duration_seconds",
			Help:    "Time from handing an event to the Kafka client to its acknowledgement (or failure).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingress_produce_errors_total",
			Help: "Events that could not be written to Kafka, by reason (timeout, canceled, kafka).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{p.latency, p.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register produce metrics: %w", err)
		}
	}
	return p, nil
}

// Publish writes one record and returns once Kafka acknowledged it, or when ctx is done. The
// client only drops a record whose context ended before it was sent; one already in flight
// stays in flight, so Publish stops waiting for it itself, which is what keeps a slow broker
// from hanging the caller. Such a record may still be written: its sender got no 202 and may
// send it again, and the forwarder's dedupe absorbs the copy.
func (p *Producer) Publish(ctx context.Context, key, value []byte) error {
	start := time.Now()
	done := make(chan error, 1)
	p.cl.Produce(ctx, &kgo.Record{Topic: p.topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
		done <- err
	})
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		p.errors.WithLabelValues(reason(err)).Inc()
		return fmt.Errorf("produce to %s: %w", p.topic, err)
	}
	return nil
}

// Record is one event record: its key and value.
type Record struct {
	Key, Value []byte
}

// PublishBatch writes records together and returns once Kafka acknowledged every one of them,
// or when ctx is done or any of them failed. As with Publish, records may still be written after
// it gave up; their sender got no acknowledgement and may send them again.
func (p *Producer) PublishBatch(ctx context.Context, records []Record) error {
	start := time.Now()
	done := make(chan error, len(records))
	promise := func(_ *kgo.Record, err error) { done <- err }
	for _, r := range records {
		p.cl.Produce(ctx, &kgo.Record{Topic: p.topic, Key: r.Key, Value: r.Value}, promise)
	}
	var err error
	for range records {
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	p.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		p.errors.WithLabelValues(reason(err)).Add(float64(len(records)))
		return fmt.Errorf("produce %d records to %s: %w", len(records), p.topic, err)
	}
	return nil
}

// Ready reports whether the cluster answers; GET /readyz uses it.
func (p *Producer) Ready(ctx context.Context) error {
	return kafka.Ping(ctx, p.cl)
}

func reason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "kafka"
	}
}
