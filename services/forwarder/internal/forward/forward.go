// Package forward is what happens to one record of the events topic, in order: decode -> route
// to its home partition -> dedupe -> transform -> deliver -> mark delivered, and dead-letter
// whatever cannot be delivered, in one place. It knows nothing of consuming: the engine calls
// Handle for each record and Prepare for each assignment. It writes to Kafka through the
// Produce function it is given, so it is tested without a broker.
package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/tracing"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// HeaderReroutedFrom marks a record the forwarder moved to the partition its key hashes to; the
// value is "topic/partition/offset" of the original.
const HeaderReroutedFrom = "fwd.rerouted_from"

// Produce writes a record and returns once Kafka acknowledged it (acks=all), or ctx ended. On
// success the record's Partition is where it landed.
type Produce func(ctx context.Context, r *kgo.Record) error

// Deliver sends one event to AdEventsX: nil once delivered, a *deadletter.Failure when it is
// rejected or exhausted, ctx's error when ctx ends first.
type Deliver func(ctx context.Context, eventID string, body []byte) error

// Config is what the path needs to know.
type Config struct {
	DLQTopic       string
	Partitions     int32 // of the events topic, at start: the key-to-partition check
	MaxRecordBytes int
	Names          event.Names
}

// Pipeline is the path of one record. Safe for concurrent use.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	store   *dedupe.Store
	deliver Deliver
	produce Produce
	metrics *metrics.Forwarder
	home    kgo.TopicPartitioner
}

// New wires the path.
func New(cfg Config, log *slog.Logger, store *dedupe.Store, deliver Deliver, produce Produce,
	m *metrics.Forwarder) *Pipeline {
	return &Pipeline{
		cfg:     cfg,
		log:     log,
		store:   store,
		deliver: deliver,
		produce: produce,
		metrics: m,
		// The default partitioner of franz-go and of Kafka's Java client: murmur2 of the key.
		home: kgo.StickyKeyPartitioner(nil).ForTopic(""),
	}
}

// Handle takes one record through the path. It returns nil when the record is finished (its
// offset may be committed) and an error when it is not. release is called once the HTTP work is
// done, so the record's slot goes to the next one while it waits for Kafka's acknowledgement.
func (p *Pipeline) Handle(stop, hard context.Context, r *kgo.Record, release func()) error {
	// The record's trace (libs/tracing) goes on into the delivery and the dead-letter write.
	stop, hard = tracing.RecordContext(stop, r), tracing.RecordContext(hard, r)
	raw, err := p.decode(r)
	if err != nil {
		return p.deadLetter(hard, r, err)
	}

	// Dedupe is per partition, so every copy of an event must be handled by the partition its
	// key hashes to. Copies an upstream producer put elsewhere (another client's partitioner) are
	// moved there first. The home is that of the canonical (lowercase) event_id, whatever case
	// the key was sent in.
	key := r.Key
	if string(key) != raw.EventID {
		key = []byte(raw.EventID)
	}
	if home := int32(p.home.Partition(&kgo.Record{Key: key}, int(p.cfg.Partitions))); home != r.Partition {
		return p.reroute(hard, r, key, home)
	}

	done, err := p.store.Claim(stop, raw.EventID)
	if errors.Is(err, dedupe.ErrDuplicate) {
		p.metrics.DedupeHits.Inc()
		p.metrics.Records.WithLabelValues("duplicate").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	defer done()

	body := raw.Conversion().AppendJSON(make([]byte, 0, 128+len(r.Value)))
	err = p.deliver(stop, raw.EventID, body)
	release()
	if err != nil {
		return p.deadLetter(hard, r, err)
	}
	// Delivered: the id counts as delivered only once its marker is acknowledged. Until then it
	// is in flight (a copy waits in Claim), and a marker write that does not make it (the
	// partition lost) leaves the record unfinished, to be redone by whoever reads it next.
	// The write waits out a broker outage; it ends only when a revoke's deadline passes (hard).
	now := time.Now()
	if err := p.produce(hard, p.store.Marker(raw.EventID, now)); err != nil {
		return fmt.Errorf("write delivered marker for %s: %w", raw.EventID, err)
	}
	p.store.MarkDelivered(raw.EventID, now)
	p.metrics.Records.WithLabelValues("delivered").Inc()
	return nil
}

// decode checks the record's shape and the event's rules; the error is a *deadletter.Failure
// saying what is wrong.
func (p *Pipeline) decode(r *kgo.Record) (event.Raw, error) {
	invalid := func(format string, args ...any) (event.Raw, error) {
		return event.Raw{}, &deadletter.Failure{Reason: deadletter.Invalid, Message: fmt.Sprintf(format, args...)}
	}
	if n := deadletter.Size(r) - reroutedAllowance(r); n > p.cfg.MaxRecordBytes {
		return invalid("record is %d bytes (key, value and headers), over the %d-byte limit (MAX_RECORD_BYTES)",
			n, p.cfg.MaxRecordBytes)
	}
	if r.Key == nil {
		return invalid("record has no key; the key must be the event_id")
	}
	raw, err := event.Decode(r.Value, p.cfg.Names)
	if err != nil {
		return invalid("%s", err.Error())
	}
	if !bytes.EqualFold(r.Key, []byte(raw.EventID)) {
		return invalid("record key %q is not the event_id %q", truncate(r.Key), raw.EventID)
	}
	return raw, nil
}

// Prepare reads the delivered markers of newly assigned partitions back into the dedupe window,
// retrying for markerLoadPatience: a broker restarting, or one that has not yet applied a
// just-created marker topic, is no reason to stop the process. Without the markers a duplicate
// could be delivered twice, so a load that keeps failing stops the engine, which leaves the
// partitions uncommitted for whoever reads them next.
func (p *Pipeline) Prepare(ctx context.Context, ids []int32, opts []kgo.Opt) error {
	for _, id := range ids {
		if id >= p.cfg.Partitions {
			// The key-to-partition check and the marker topic no longer match the topic. A
			// restart refuses to start with the DEDUPE_TOPIC message that says what to do.
			return fmt.Errorf("the events topic has grown to more than %d partitions since start", p.cfg.Partitions)
		}
	}
	start := time.Now()
	var n int
	load := func() error {
		var err error
		n, err = p.store.Load(ctx, opts, ids)
		return err
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(markerLoadPatience))
	err := backoff.RetryNotify(load, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		p.metrics.LoadErrors.Inc()
		p.log.Warn("reading dedupe markers failed; retrying", "partitions", ids, "err", err,
			"retry_in", wait.Round(time.Millisecond).String())
	})
	if err != nil {
		return fmt.Errorf("read dedupe markers of partitions %v: %w", ids, err)
	}
	p.metrics.Loaded.Add(float64(n))
	p.log.Info("dedupe markers loaded", "partitions", ids, "markers_loaded", n,
		"load_took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// markerLoadPatience is how long Prepare goes on retrying failed reads. A read that makes
// progress is not cut short (a large window takes a while); one that stalls fails after
// dedupe.LoadStall and is retried.
const markerLoadPatience = 30 * time.Second

// reroutedAllowance is what the forwarder's own fwd.rerouted_from header adds to a record it
// moved to its home partition (its last header, up to 512 bytes, within Headroom): a valid event
// just under the limit on the wrong partition is delivered, not dead-lettered for the header its
// move added. A larger or earlier one (a producer's) counts like any other header.
func reroutedAllowance(r *kgo.Record) int {
	if n := len(r.Headers); n > 0 {
		if h := r.Headers[n-1]; h.Key == HeaderReroutedFrom && len(h.Value) <= 512 {
			return len(h.Key) + len(h.Value) + 4 // and its two length varints, at most 2 bytes each
		}
	}
	return 0
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
