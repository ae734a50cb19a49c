package deadletter

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRecordKeepsTheOriginalAndTheLatestReplayAndReplacesEarlierDLQHeaders(t *testing.T) {
	src := &kgo.Record{
		Topic: "events.raw", Partition: 3, Offset: 42,
		Key: []byte("k"), Value: []byte("not json"),
		Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: HeaderReason, Value: []byte("exhausted")},
			{Key: HeaderReplayCount, Value: []byte("2")},
			{Key: HeaderReplayedAt, Value: []byte("2026-01-01T00:00:00Z")},
			{Key: HeaderReplayName, Value: []byte("outage-1")},
			{Key: HeaderAttempts, Value: []byte("9")},
		},
	}
	failed := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	got := Record("events.dlq", src, Failure{
		Reason: Rejected, Message: "adeventsx answered\n400", HTTPStatus: 400, Attempts: 1,
		FirstAttemptAt: failed, FailedAt: failed,
	})
	if got.Topic != "events.dlq" || string(got.Key) != "k" || string(got.Value) != "not json" {
		t.Fatalf("record = %s %q %q, want the original key and value in events.dlq", got.Topic, got.Key, got.Value)
	}
	want := map[string]string{
		"trace":               "abc",
		HeaderReason:          "rejected",
		HeaderError:           "adeventsx answered 400",
		HeaderHTTPStatus:      "400",
		HeaderAttempts:        "1",
		HeaderFirstAttemptAt:  "2026-11-24T10:00:00Z",
		HeaderFailedAt:        "2026-11-24T10:00:00Z",
		HeaderSourceTopic:     "events.raw",
		HeaderSourcePartition: "3",
		HeaderSourceOffset:    "42",
		HeaderReplayCount:     "2",
		HeaderReplayedAt:      "2026-01-01T00:00:00Z", // which replay this failure came from
		HeaderReplayName:      "outage-1",
	}
	seen := map[string]int{}
	for _, h := range got.Headers {
		seen[h.Key]++
	}
	for k, v := range want {
		if h, _ := Header(got.Headers, k); h != v {
			t.Errorf("header %s = %q, want %q", k, h, v)
		}
		if seen[k] != 1 {
			t.Errorf("header %s appears %d times, want once", k, seen[k])
		}
	}

}

func TestReplayCount(t *testing.T) {
	tests := []struct {
		name string
		give []kgo.RecordHeader
		want int
	}{
		{"absent", nil, 0},
		{"set", []kgo.RecordHeader{{Key: HeaderReplayCount, Value: []byte("3")}}, 3},
		{"garbage", []kgo.RecordHeader{{Key: HeaderReplayCount, Value: []byte("x")}}, 0},
		{"negative", []kgo.RecordHeader{{Key: HeaderReplayCount, Value: []byte("-1")}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplayCount(tt.give); got != tt.want {
				t.Errorf("ReplayCount = %d, want %d", got, tt.want)
			}
		})
	}
}

// Size is every byte Kafka stores for a record, the pipeline's own headers included, checked
// against franz-go's own encoding of the record with the largest deltas.
func TestSizeCountsEveryByteKafkaStores(t *testing.T) {
	many := make([]kgo.RecordHeader, 200_000)
	tests := []struct {
		name string
		give *kgo.Record
	}{
		{"empty", &kgo.Record{}},
		{"small", &kgo.Record{Key: []byte("kk"), Value: []byte("vvvv")}},
		{"pipeline headers", &kgo.Record{Key: []byte("k"), Value: make([]byte, 1000), Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: HeaderError, Value: make([]byte, 300)},
			{Key: "fwd.rerouted_from", Value: make([]byte, 70_000)},
			{Key: HeaderReplayName, Value: make([]byte, 500_000)},
		}}},
		{"200 000 empty headers", &kgo.Record{Key: []byte("k"), Headers: many}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := kmsg.Record{TimestampDelta64: math.MaxInt64, OffsetDelta: math.MaxInt32,
				Key: tt.give.Key, Value: tt.give.Value}
			for _, h := range tt.give.Headers {
				kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
			}
			kr.Length = int32(len(kr.AppendTo(nil)) - 1) // a 1-byte placeholder for the length
			want := len(kr.AppendTo(nil))
			if got := Size(tt.give); got != want {
				t.Errorf("Size = %d, want %d (franz-go's encoding)", got, want)
			}
		})
	}
}

// Shrunk, a record keeps its offset, its key when small, and its replay count and origin cut to
// 256 bytes each, whatever their size: the shrunk copy is small whatever the original.
func TestShrinkKeepsTheReplayHeadersSmall(t *testing.T) {
	long := make([]byte, 100_000)
	r := &kgo.Record{Topic: "events.raw", Partition: 1, Offset: 7, Key: []byte("kk"), Value: []byte("vvvv"),
		Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: HeaderReplayCount, Value: []byte("2")},
			{Key: HeaderReplayName, Value: []byte("r1")},
			{Key: HeaderReplayedFrom, Value: long},
		}}
	shrunk, omitted := Shrink(r)
	if shrunk.Value != nil || string(shrunk.Key) != "kk" || shrunk.Offset != 7 || ReplayCount(shrunk.Headers) != 2 {
		t.Errorf("shrunk = %+v, want key, offset and replay count kept, value left out", shrunk)
	}
	if name, _ := Header(shrunk.Headers, HeaderReplayName); name != "r1" {
		t.Errorf("shrunk lost dlq.replay_name")
	}
	if from, _ := Header(shrunk.Headers, HeaderReplayedFrom); len(from) != maxKeptHeader {
		t.Errorf("shrunk dlq.replayed_from is %d bytes, want cut to %d", len(from), maxKeptHeader)
	}
	if _, ok := Header(shrunk.Headers, "trace"); ok {
		t.Error("shrunk kept the producer's headers")
	}
	if Size(shrunk) > 2048 {
		t.Errorf("shrunk copy is %d bytes", Size(shrunk))
	}
	want := "value (4 bytes) and headers (100059 bytes); read the original at dlq.source_topic/partition/offset"
	if omitted != want {
		t.Errorf("omitted = %q, want %q", omitted, want)
	}
}

// Parse reads back what Record wrote.
func TestParseReadsWhatRecordWrote(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123_000_000, time.UTC)
	want := Failure{Reason: Exhausted, Message: "adeventsx answered 503", HTTPStatus: 503, Attempts: 4,
		FirstAttemptAt: at.Add(-time.Minute), FailedAt: at, Omitted: "value (9 bytes)"}
	src := &kgo.Record{Topic: "events.raw", Partition: 5, Offset: 99, Key: []byte("k"), Value: []byte("v")}
	got, from, ok := Parse(Record("events.dlq", src, want))
	if !ok || got != want || from != (Source{Topic: "events.raw", Partition: 5, Offset: 99}) {
		t.Errorf("Parse = %+v %+v %v, want %+v from events.raw/5/99", got, from, ok, want)
	}
	if _, _, ok := Parse(&kgo.Record{Value: []byte("garbage")}); ok {
		t.Error("a record without dlq.reason parsed as a dead letter")
	}
}
