package dlqrecord

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
)

func headers(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestRead(t *testing.T) {
	written := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		give []kgo.RecordHeader
		want Fields
	}{
		{"the forwarder's headers", headers("dlq.reason", "rejected", "dlq.http_status", "400", "dlq.attempts", "1",
			"dlq.failed_at", "2026-11-24T10:00:00.5Z", "dlq.replay_count", "2"),
			Fields{Reason: "rejected", HTTPStatus: 400, Attempts: 1, FailedAt: time.Date(2026, 11, 24, 10, 0, 0, 5e8, time.UTC), ReplayCount: 2}},
		{"a replayed record that failed again", headers("dlq.reason", "exhausted", "dlq.replay_count", "1", "dlq.replay_name", "outage-1"),
			Fields{Reason: "exhausted", FailedAt: written, ReplayCount: 1, ReplayName: "outage-1"}},
		{"none: failed_at is the record's time", nil, Fields{FailedAt: written}},
		{"unreadable ones read as absent", headers("dlq.http_status", "4OO", "dlq.failed_at", "today", "dlq.replay_count", "-1"),
			Fields{FailedAt: written}},
		{"the last of a name wins", headers("dlq.reason", "invalid", "dlq.reason", "exhausted"), Fields{Reason: "exhausted", FailedAt: written}},
		{"other reasons kept as written", headers("dlq.reason", "parked"), Fields{Reason: "parked", FailedAt: written}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Read(&kgo.Record{Headers: tt.give, Timestamp: written})
			if !got.FailedAt.Equal(tt.want.FailedAt) {
				t.Errorf("FailedAt = %v, want %v", got.FailedAt, tt.want.FailedAt)
			}
			got.FailedAt, tt.want.FailedAt = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEventName(t *testing.T) {
	tests := []struct{ give, want string }{
		{`{"event_id":"x","event_name":"purchase"}`, "purchase"},
		{`{"eventName" : "lead"}`, "lead"},
		{`{"event_name":"caf\u00e9"}`, "café"},
		{`{"event_name":"a\"b"}`, `a"b`},
		{`{"event_name":42}`, ""},
		{`not json`, ""},
		{`{"event_name":"unterminated`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := EventName([]byte(tt.give)); got != tt.want {
				t.Errorf("EventName = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkReadAndEventName(b *testing.B) {
	r := &kgo.Record{
		Value: []byte(`{"event_id":"00000000-0000-4000-8000-000000000001","user_id":"u1","event_name":"lead","event_time":"2026-11-24T02:05:18Z","value":"1.5","campaign_id":"c1"}`),
		Headers: headers("dlq.reason", "rejected", "dlq.error", "AdEventsX answered 400", "dlq.http_status", "400",
			"dlq.attempts", "1", "dlq.failed_at", "2026-11-24T02:05:18.037334375Z", "dlq.source_topic", "events.raw",
			"dlq.source_partition", "0", "dlq.source_offset", "21", "dlq.replay_count", "0"),
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Read(r)
		_ = EventNameBytes(r.Value)
	}
}

// Read is the CLI's allocation-free reader of the headers deadletter.Record writes; it agrees
// with deadletter.Parse, the library's reader, on every field both read.
func TestReadAgreesWithDeadletterParse(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 500_000_000, time.UTC)
	src := &kgo.Record{Topic: "events.raw", Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: deadletter.HeaderReplayCount, Value: []byte("3")}}}
	for _, f := range []deadletter.Failure{
		{Reason: deadletter.Rejected, Message: "400", HTTPStatus: 400, Attempts: 1, FirstAttemptAt: at, FailedAt: at},
		{Reason: deadletter.Exhausted, Message: "503", HTTPStatus: 503, Attempts: 9, FailedAt: at},
		{Reason: deadletter.Invalid, Message: "not JSON", FailedAt: at, Omitted: "value (2000000 bytes)"},
	} {
		r := deadletter.Record("events.dlq", src, f)
		parsed, _, ok := deadletter.Parse(r)
		got := Read(r)
		if !ok || got.Reason != string(parsed.Reason) || got.HTTPStatus != parsed.HTTPStatus ||
			got.Attempts != parsed.Attempts || !got.FailedAt.Equal(parsed.FailedAt) ||
			got.ReplayCount != deadletter.ReplayCount(r.Headers) {
			t.Errorf("Read = %+v, deadletter.Parse = %+v", got, parsed)
		}
	}
}
