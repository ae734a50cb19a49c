// Package deadletter is the format of a record in the dead-letter topic (CONTRACT.md): the
// original key and value unchanged, the original headers kept, and dlq.* headers saying why, when
// and from where; only a record over the size limit leaves its payload out (Shrink). The forwarder
// writes it; the dlq CLI reads and replays it.
package deadletter

import (
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/config"
)

// Record size limits. A record over MAX_RECORD_BYTES (default DefaultMaxRecordBytes) is invalid.
// With Headroom for the dlq.* headers, any record that is dead-lettered (or replayed) fits
// franz-go's default producer batch (DefaultBatchBytes) and Kafka's default max.message.bytes, so
// the defaults need no topic configuration.
const (
	DefaultMaxRecordBytes = 900 << 10
	Headroom              = 64 << 10
	DefaultBatchBytes     = 1_000_012 // franz-go's ProducerBatchMaxBytes default
)

// MaxRecordBytesVar is MAX_RECORD_BYTES: the forwarder dead-letters larger records without their
// payload, and dlq replay holds them back.
var MaxRecordBytesVar = config.Int("MAX_RECORD_BYTES", DefaultMaxRecordBytes, 1024, 100<<20,
	"larger records (key, value and headers) are invalid: dead-lettered without their payload, never replayed; above the default, raise max.message.bytes of the topics to match")

// BatchBytes is the producer batch size that takes any record of maxRecordBytes plus headers.
func BatchBytes(maxRecordBytes int) int { return max(DefaultBatchBytes, maxRecordBytes+Headroom) }

// TopicMaxMessageBytes is the max.message.bytes a topic needs to take such batches.
func TopicMaxMessageBytes(maxRecordBytes int) int {
	return max(1_048_588, BatchBytes(maxRecordBytes)+1024)
}

// Reason says why a record was dead-lettered.
type Reason string

const (
	// Invalid: the record is not a valid event (not JSON, a broken rule, a bad key).
	Invalid Reason = "invalid"
	// Rejected: AdEventsX refused it with a final 4xx.
	Rejected Reason = "rejected"
	// Exhausted: its retries ran out on passing failures.
	Exhausted Reason = "exhausted"
)

// Header names.
const (
	HeaderPrefix          = "dlq."
	HeaderReason          = "dlq.reason"
	HeaderError           = "dlq.error"
	HeaderHTTPStatus      = "dlq.http_status"
	HeaderAttempts        = "dlq.attempts"
	HeaderFirstAttemptAt  = "dlq.first_attempt_at"
	HeaderFailedAt        = "dlq.failed_at"
	HeaderSourceTopic     = "dlq.source_topic"
	HeaderSourcePartition = "dlq.source_partition"
	HeaderSourceOffset    = "dlq.source_offset"
	HeaderReplayCount     = "dlq.replay_count"
	// The latest replay of a record, set by the dlq CLI and kept when the record fails again.
	HeaderReplayedAt   = "dlq.replayed_at"
	HeaderReplayedFrom = "dlq.replayed_from" // topic/partition/offset of the DLQ record replayed
	HeaderReplayName   = "dlq.replay_name"
	// HeaderOmitted is on the DLQ record of a record too large to carry whole: what was left
	// out. The original stays readable at dlq.source_* for the topic's retention.
	HeaderOmitted = "dlq.omitted"
)

// Size is what a record weighs against MAX_RECORD_BYTES: every byte Kafka stores for it in a
// batch, headers included whatever their names (the pipeline's own dlq.* and fwd.* too), with the
// record's framing counted at its largest. A record within the limit therefore fits, with the
// Headroom its dead-letter or rerouted copy adds, any batch of BatchBytes.
func Size(r *kgo.Record) int {
	n := framing + bytesLen(len(r.Key)) + bytesLen(len(r.Value)) + varintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += bytesLen(len(h.Key)) + bytesLen(len(h.Value))
	}
	return n + varintLen(n)
}

// framing is a record's fixed part at its largest: attributes (1 byte), timestamp delta (a
// varlong, at most 10) and offset delta (a varint, at most 5).
const framing = 1 + 10 + 5

// bytesLen is a varint length prefix and the bytes.
func bytesLen(n int) int { return varintLen(n) + n }

// varintLen is the length of n as a zigzag varint, as Kafka writes lengths and counts.
func varintLen(n int) int {
	u := uint64(n) << 1
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// maxKeptKey is the largest key an oversized record's DLQ copy keeps, and maxKeptHeader the
// largest replay header value.
const (
	maxKeptKey    = 1024
	maxKeptHeader = 256
)

// Shrink is the part of an oversized record its DLQ copy can carry whatever the topic limits:
// topic, partition and offset, the key when it is small, and the replay headers (count and
// origin), each cut to 256 bytes; value and other headers are left out. omitted says what was
// left out, for Failure.Omitted.
func Shrink(src *kgo.Record) (shrunk *kgo.Record, omitted string) {
	shrunk = &kgo.Record{Topic: src.Topic, Partition: src.Partition, Offset: src.Offset, Key: src.Key}
	headerBytes := 0
	for _, h := range src.Headers {
		headerBytes += len(h.Key) + len(h.Value)
		switch h.Key {
		case HeaderReplayCount, HeaderReplayedAt, HeaderReplayedFrom, HeaderReplayName:
			if len(h.Value) > maxKeptHeader {
				h.Value = h.Value[:maxKeptHeader]
			}
			shrunk.Headers = append(shrunk.Headers, h)
		}
	}
	omitted = "value (" + strconv.Itoa(len(src.Value)) + " bytes) and headers (" +
		strconv.Itoa(headerBytes) + " bytes)"
	if len(src.Key) > maxKeptKey {
		shrunk.Key = nil
		omitted = "key (" + strconv.Itoa(len(src.Key)) + " bytes), " + omitted
	}
	return shrunk, omitted + "; read the original at dlq.source_topic/partition/offset"
}

// Failure is what the forwarder knows about why a record could not be delivered. It is the error
// that decoding and delivery return for a record that is finished by being dead-lettered.
type Failure struct {
	Reason         Reason
	Message        string // one human line, for dlq.error
	HTTPStatus     int    // 0: none
	Attempts       int
	FirstAttemptAt time.Time // zero: never attempted
	FailedAt       time.Time
	Omitted        string // what Shrink left out of an oversized record; empty: nothing
}

func (f *Failure) Error() string { return string(f.Reason) + ": " + f.Message }

// Source is where a dead-lettered record was read: dlq.source_topic/partition/offset.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Parse reads back what Record wrote: the failure and the source. A missing or unreadable header
// reads as its zero value (the DLQ may also hold records others wrote); ok is false when the
// record has no dlq.reason, so is no dead letter of ours.
func Parse(r *kgo.Record) (f Failure, src Source, ok bool) {
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderReason:
			f.Reason, ok = Reason(v), true
		case HeaderError:
			f.Message = v
		case HeaderHTTPStatus:
			f.HTTPStatus, _ = strconv.Atoi(v)
		case HeaderAttempts:
			f.Attempts, _ = strconv.Atoi(v)
		case HeaderFirstAttemptAt:
			f.FirstAttemptAt, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderFailedAt:
			f.FailedAt, _ = time.Parse(time.RFC3339Nano, v)
		case HeaderOmitted:
			f.Omitted = v
		case HeaderSourceTopic:
			src.Topic = v
		case HeaderSourcePartition:
			p, _ := strconv.ParseInt(v, 10, 32)
			src.Partition = int32(p)
		case HeaderSourceOffset:
			src.Offset, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return f, src, ok
}

// Record builds the dead-letter record for src. The original headers are kept, except earlier
// dlq.* headers (of a record that was replayed and failed again), which this failure replaces;
// dlq.replay_count is carried over so the replay cap keeps working, and the latest replay's
// dlq.replayed_at, dlq.replayed_from and dlq.replay_name say which replay this failure came from.
func Record(topic string, src *kgo.Record, f Failure) *kgo.Record {
	replays := ReplayCount(src.Headers)
	headers := make([]kgo.RecordHeader, 0, len(src.Headers)+10)
	for _, h := range src.Headers {
		switch {
		case h.Key == HeaderReplayedAt, h.Key == HeaderReplayedFrom, h.Key == HeaderReplayName,
			!strings.HasPrefix(h.Key, HeaderPrefix):
			headers = append(headers, h)
		}
	}
	add := func(k, v string) { headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderReason, string(f.Reason))
	add(HeaderError, oneLine(f.Message))
	if f.HTTPStatus != 0 {
		add(HeaderHTTPStatus, strconv.Itoa(f.HTTPStatus))
	}
	add(HeaderAttempts, strconv.Itoa(f.Attempts))
	if !f.FirstAttemptAt.IsZero() {
		add(HeaderFirstAttemptAt, f.FirstAttemptAt.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderFailedAt, f.FailedAt.UTC().Format(time.RFC3339Nano))
	add(HeaderSourceTopic, src.Topic)
	add(HeaderSourcePartition, strconv.Itoa(int(src.Partition)))
	add(HeaderSourceOffset, strconv.FormatInt(src.Offset, 10))
	add(HeaderReplayCount, strconv.Itoa(replays))
	if f.Omitted != "" {
		add(HeaderOmitted, f.Omitted)
	}
	return &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value, Headers: headers}
}

// Header returns the value of the last header named key, and whether there was one.
func Header(hs []kgo.RecordHeader, key string) (string, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value), true
		}
	}
	return "", false
}

// ReplayCount reads dlq.replay_count; a missing or unreadable one is 0.
func ReplayCount(hs []kgo.RecordHeader) int {
	v, _ := Header(hs, HeaderReplayCount)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// oneLine keeps dlq.error to one line of bounded length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const limit = 1000
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}
