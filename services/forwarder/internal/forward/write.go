package forward

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
)

// deadLetter is the one place a record goes to the DLQ. err is why: a *deadletter.Failure, or
// any other error, which is passed on and leaves the record unfinished (the context ended, say).
// It returns nil once Kafka acknowledged the dead letter.
func (p *Pipeline) deadLetter(ctx context.Context, r *kgo.Record, err error) error {
	var f *deadletter.Failure
	if !errors.As(err, &f) {
		return err
	}
	f.FailedAt = time.Now()
	src := r
	if deadletter.Size(r) > p.cfg.MaxRecordBytes {
		// Whole, it may not fit the DLQ topic or a producer batch.
		src, f.Omitted = deadletter.Shrink(r)
	}
	werr := p.produce(ctx, deadletter.Record(p.cfg.DLQTopic, src, *f))
	if tooLarge(werr) && f.Omitted == "" {
		// A second line of defence, should the topic's limit be below what Size allows: a write
		// Kafka refuses as too large would stop the partition on this record after every
		// restart, so the record goes without its payload.
		src, f.Omitted = deadletter.Shrink(r)
		werr = p.produce(ctx, deadletter.Record(p.cfg.DLQTopic, src, *f))
	}
	if werr != nil {
		return fmt.Errorf("dead-letter %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, werr)
	}
	p.metrics.DLQWrites.WithLabelValues(string(f.Reason)).Inc()
	p.metrics.Records.WithLabelValues(string(f.Reason)).Inc()
	p.log.Warn("record dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"reason", f.Reason, "err", f.Message, "http_status", f.HTTPStatus, "attempts", f.Attempts,
		"omitted", f.Omitted)
	return nil
}

// reroute re-publishes r's value and headers keyed by key, the canonical event_id, so the default
// partitioner puts it in the partition key hashes to (home); the original is then finished.
func (p *Pipeline) reroute(ctx context.Context, r *kgo.Record, key []byte, home int32) error {
	moved := &kgo.Record{
		Topic: r.Topic,
		Key:   key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader{}, r.Headers...), kgo.RecordHeader{
			Key:   HeaderReroutedFrom,
			Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)),
		}),
	}
	err := p.produce(ctx, moved)
	if tooLarge(err) {
		return p.deadLetter(ctx, r, &deadletter.Failure{Reason: deadletter.Invalid,
			Message: "record is too large for Kafka to take again on its home partition (" + err.Error() + ")"})
	}
	if err != nil {
		return fmt.Errorf("reroute %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if moved.Partition != home {
		// The partitioner sees the topic's partition count now, home the one at start: the topic
		// grew. Going on would move records round in circles; the restart re-reads the count.
		return fmt.Errorf("rerouted copy of %s/%d/%d landed in partition %d, not %d: %s no longer has the %d partitions it had at start",
			r.Topic, r.Partition, r.Offset, moved.Partition, home, r.Topic, p.cfg.Partitions)
	}
	p.metrics.Rerouted.Inc()
	p.metrics.Records.WithLabelValues("rerouted").Inc()
	return nil
}

// tooLarge says Kafka (or the client, before sending) refused a write for its size.
func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}
