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
