// Package replay re-publishes dead-letter records to the events topic so that they take the
// normal path through the forwarder again, dedupe included.
//
// A replay has a name. Its position in the DLQ is the committed offsets of the consumer group
// "dlq-replay-<name>", and it moves only inside Kafka transactions (transactional id
// "dlq-replay-<name>") that also carry the records the batch sent: a batch's records and the
// position after them become visible together or not at all. The forwarder reads events.raw
// read_committed, so a batch cut off by a crash or kill is never delivered, and a re-run with the
// same name starts where the last committed batch ended: no dead-letter record is sent twice by
// one name. Starting a run fences any earlier run of the same name (its open transaction is
// aborted, and it can no longer commit).
//
// Every record a run looks at moves the position, whether the filters select it or not, and
// whether it was sent, held back or capped: a name stands for one selection, and a different
// selection of records already looked at needs a new name.
package replay

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

// GroupID is the consumer group that holds the position of the replay called name.
func GroupID(name string) string { return "dlq-replay-" + name }

// TransactionalID is the transactional id of the replay called name.
func TransactionalID(name string) string { return "dlq-replay-" + name }

// Record is the record a replay writes to topic for the dead-letter record r: the same key and
// value, the same headers (the original ones and the dlq.* ones, for tracing), with
// dlq.replay_count one higher and dlq.replayed_at, dlq.replayed_from and dlq.replay_name set.
// The partition is left to the default partitioner, which puts the event where its key hashes,
// as the forwarder wants it.
func Record(topic string, r *kgo.Record, name string, now time.Time) *kgo.Record {
	replays := deadletter.ReplayCount(r.Headers)
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+4)
	for _, h := range r.Headers {
		switch h.Key {
		case deadletter.HeaderReplayCount, deadletter.HeaderReplayedAt, deadletter.HeaderReplayedFrom, deadletter.HeaderReplayName:
		default:
			headers = append(headers, h)
		}
	}
	add := func(k, v string) { headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(deadletter.HeaderReplayCount, strconv.Itoa(replays+1))
	add(deadletter.HeaderReplayedAt, now.UTC().Format(time.RFC3339Nano))
	add(deadletter.HeaderReplayedFrom, dlqrecord.Where(r))
	add(deadletter.HeaderReplayName, name)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers}
}
