package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/tracing"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/deliver"
)

// HeaderReroutedFrom marks a record the forwarder moved to the partition its key hashes to; the
// value is "topic/partition/offset" of the original.
const HeaderReroutedFrom = "fwd.rerouted_from"

// process takes one record through decode -> route -> dedupe -> transform -> deliver, and
// dead-letters what cannot be delivered. It returns nil when the record is finished (its offset
// may be committed) and an error when it is not (stop or hard ended first).
func (e *Engine) process(stop, hard context.Context, r *kgo.Record) error {
	// The record's trace (libs/tracing) goes on into the delivery and the dead-letter write.
	stop, hard = tracing.RecordContext(stop, r), tracing.RecordContext(hard, r)
	raw, err := e.decode(r)
	if err != nil {
		return e.deadLetter(hard, r, deadletter.Failure{Reason: deadletter.Invalid, Error: err.Error()})
	}

	// Dedupe is per partition, so every copy of an event must be handled by the partition its
	// key hashes to. Copies an upstream producer put elsewhere (another client's partitioner) are
	// moved there first.
	// The home is that of the canonical (lowercase) event_id, whatever case the key was sent in.
	keyed := r
	if string(r.Key) != raw.EventID {
		keyed = &kgo.Record{Key: []byte(raw.EventID)}
	}
	if home := int32(e.home.Partition(keyed, int(e.cfg.Partitions))); home != r.Partition {
		return e.reroute(hard, r, keyed.Key, home)
	}

	release, err := e.store.Claim(stop, raw.EventID)
	if errors.Is(err, dedupe.ErrDuplicate) {
		e.metrics.DedupeHits.Inc()
		e.metrics.Records.WithLabelValues("duplicate").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	defer release()

	body, err := json.Marshal(raw.Conversion())
	if err != nil {
		return e.deadLetter(hard, r, deadletter.Failure{Reason: deadletter.Invalid, Error: "transform: " + err.Error()})
	}
	res, err := e.deliverer.Deliver(stop, raw.EventID, body)
	if err != nil {
		return err
	}
	switch res.Final {
	case deliver.Sent:
		now := time.Now()
		e.store.MarkDelivered(raw.EventID, now)
		// Waits out a broker outage; ends only when a revoke's deadline passes (hard), which
		// SHUTDOWN_TIMEOUT > DELIVERY_ATTEMPT_TIMEOUT keeps for real trouble.
		if err := e.produce(hard, e.store.Marker(raw.EventID, now)); err != nil {
			return fmt.Errorf("write delivered marker for %s: %w", raw.EventID, err)
		}
		e.metrics.Records.WithLabelValues("delivered").Inc()
		return nil
	case deliver.Rejected:
		return e.deadLetter(hard, r, failure(deadletter.Rejected, res))
	default:
		return e.deadLetter(hard, r, failure(deadletter.Exhausted, res))
	}
}

// decode checks the record's shape and the event's rules; the error says what is wrong.
func (e *Engine) decode(r *kgo.Record) (event.Raw, error) {
	if n := deadletter.Size(r); n > e.cfg.MaxRecordBytes {
		return event.Raw{}, fmt.Errorf("record is %d bytes (key, value and headers), over the %d-byte limit (MAX_RECORD_BYTES)",
			n, e.cfg.MaxRecordBytes)
	}
	if r.Key == nil {
		return event.Raw{}, errors.New("record has no key; the key must be the event_id")
	}
	raw, err := event.Decode(r.Value, e.cfg.Names)
	if err != nil {
		return event.Raw{}, err
	}
	if !bytes.EqualFold(r.Key, []byte(raw.EventID)) {
		return event.Raw{}, fmt.Errorf("record key %q is not the event_id %q", truncate(r.Key), raw.EventID)
	}
	return raw, nil
}

// reroute re-publishes r's value and headers keyed by key, the canonical event_id, so the default
// partitioner puts it in the partition key hashes to (home); the original is then finished.
func (e *Engine) reroute(ctx context.Context, r *kgo.Record, key []byte, home int32) error {
	moved := &kgo.Record{
		Topic: r.Topic,
		Key:   key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader{}, r.Headers...), kgo.RecordHeader{
			Key:   HeaderReroutedFrom,
			Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)),
		}),
	}
	if err := e.produce(ctx, moved); err != nil {
		return fmt.Errorf("reroute %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if moved.Partition != home {
		// The partitioner sees the topic's partition count now, home the one at start: the topic
		// grew. Going on would move records round in circles; the restart re-reads the count.
		return fmt.Errorf("rerouted copy of %s/%d/%d landed in partition %d, not %d: %s no longer has the %d partitions it had at start",
			r.Topic, r.Partition, r.Offset, moved.Partition, home, r.Topic, e.cfg.Partitions)
	}
	e.metrics.Rerouted.Inc()
	e.metrics.Records.WithLabelValues("rerouted").Inc()
	return nil
}

// deadLetter writes r to the DLQ and returns nil once Kafka acknowledged it.
func (e *Engine) deadLetter(ctx context.Context, r *kgo.Record, f deadletter.Failure) error {
	f.FailedAt = time.Now()
	src := r
	if deadletter.Size(r) > e.cfg.MaxRecordBytes {
		// Whole, it may not fit the DLQ topic or a producer batch, and a write Kafka refuses
		// stops the forwarder, on this record again after every restart.
		src, f.Omitted = deadletter.Shrink(r)
	}
	if err := e.produce(ctx, deadletter.Record(e.cfg.DLQTopic, src, f)); err != nil {
		return fmt.Errorf("dead-letter %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	e.metrics.DLQWrites.WithLabelValues(string(f.Reason)).Inc()
	e.metrics.Records.WithLabelValues(string(f.Reason)).Inc()
	e.log.Warn("record dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"reason", f.Reason, "error", f.Error, "http_status", f.HTTPStatus, "attempts", f.Attempts)
	return nil
}

// produce writes rec and waits for acks=all. franz-go retries on its own until ctx ends.
func (e *Engine) produce(ctx context.Context, rec *kgo.Record) error {
	return e.cl.ProduceSync(ctx, rec).FirstErr()
}

func failure(reason deadletter.Reason, res deliver.Result) deadletter.Failure {
	return deadletter.Failure{
		Reason:         reason,
		Error:          res.LastError,
		HTTPStatus:     res.LastStatus,
		Attempts:       res.Attempts,
		FirstAttemptAt: res.FirstAttemptAt,
	}
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
