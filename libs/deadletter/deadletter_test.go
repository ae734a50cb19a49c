package deadletter

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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
		Reason: Rejected, Error: "adeventsx answered\n400", HTTPStatus: 400, Attempts: 1,
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

// A record weighs the same dead-lettered, replayed or rerouted: the pipeline's own headers do not
// count. Shrunk, it keeps its replay count and origin.
func TestSizeAndShrink(t *testing.T) {
	r := &kgo.Record{Topic: "events.raw", Partition: 1, Offset: 7, Key: []byte("kk"), Value: []byte("vvvv"),
		Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: HeaderError, Value: []byte("a long reason")},
			{Key: "fwd.rerouted_from", Value: []byte("events.raw/0/1")},
			{Key: HeaderReplayCount, Value: []byte("2")},
			{Key: HeaderReplayName, Value: []byte("r1")},
		}}
	if got := Size(r); got != 2+4+len("trace")+3 {
		t.Errorf("Size = %d, want key, value and the producer's own header only (14)", got)
	}
	shrunk, omitted := Shrink(r)
	if shrunk.Value != nil || string(shrunk.Key) != "kk" || shrunk.Offset != 7 || ReplayCount(shrunk.Headers) != 2 {
		t.Errorf("shrunk = %+v, want key, offset and replay count kept, value left out", shrunk)
	}
	if name, _ := Header(shrunk.Headers, HeaderReplayName); name != "r1" {
		t.Errorf("shrunk lost dlq.replay_name")
	}
	if _, ok := Header(shrunk.Headers, "trace"); ok {
		t.Error("shrunk kept the producer's headers")
	}
	if omitted != "value (4 bytes) and headers (8 bytes); read the original at dlq.source_topic/partition/offset" {
		t.Errorf("omitted = %q", omitted)
	}
}
