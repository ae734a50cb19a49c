package stats

import (
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

func TestAddCountsEveryDimension(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	type give struct {
		partition int32
		offset    int64
		value     string
		fields    dlqrecord.Fields
	}
	records := []give{
		{0, 0, `{"event_name":"purchase"}`, dlqrecord.Fields{Reason: "rejected", HTTPStatus: 400, FailedAt: now.Add(-time.Minute)}},
		{0, 1, `{"eventName":"lead"}`, dlqrecord.Fields{Reason: "rejected", HTTPStatus: 400, FailedAt: now.Add(-2 * time.Hour)}},
		{1, 0, `garbage`, dlqrecord.Fields{Reason: "invalid", FailedAt: now.Add(-3 * 24 * time.Hour)}},
		{2, 5, `{"event_name":"purchase"}`, dlqrecord.Fields{Reason: "exhausted", HTTPStatus: 503, FailedAt: now.Add(-8 * 24 * time.Hour)}},
		{2, 6, `{}`, dlqrecord.Fields{FailedAt: now.Add(-time.Hour)}},
	}
	s := New(now)
	for _, r := range records {
		s.Add(&kgo.Record{Partition: r.partition, Offset: r.offset, Value: []byte(r.value)}, r.fields)
	}
	s.Finish()

	tests := []struct {
		name string
		got  map[string]int64
		want map[string]int64
	}{
		{"reason", s.ByReason, map[string]int64{"rejected": 2, "invalid": 1, "exhausted": 1, None: 1}},
		{"status", s.ByStatus, map[string]int64{"400": 2, "503": 1, None: 2}},
		{"event_name", s.ByEventName, map[string]int64{"purchase": 2, "lead": 1, Unknown: 2}},
		{"age", map[string]int64{"<1h": s.ByAge[0], "1h-24h": s.ByAge[1], "1d-7d": s.ByAge[2], ">7d": s.ByAge[3]},
			map[string]int64{"<1h": 1, "1h-24h": 2, "1d-7d": 1, ">7d": 1}},
		{"partition", map[string]int64{"0": s.PerPart[0], "1": s.PerPart[1], "2": s.PerPart[2]},
			map[string]int64{"0": 2, "1": 1, "2": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !maps.Equal(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if s.Records != 5 || *s.Oldest != (Ref{2, 5, now.Add(-8 * 24 * time.Hour)}) || *s.Newest != (Ref{0, 0, now.Add(-time.Minute)}) {
		t.Errorf("records %d, oldest %+v, newest %+v", s.Records, s.Oldest, s.Newest)
	}
}

// The forwarder writes a second DLQ copy of a record it re-reads after a crash: stats counts
// each source record (dlq.source_* and key) once, and says how many copies it left out.
func TestAddCountsEachSourceRecordOnce(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	src := func(key string, offset string) *kgo.Record {
		return &kgo.Record{Key: []byte(key), Headers: []kgo.RecordHeader{
			{Key: "dlq.source_topic", Value: []byte("events.raw")}, {Key: "dlq.source_partition", Value: []byte("0")},
			{Key: "dlq.source_offset", Value: []byte(offset)},
		}}
	}
	s := New(now)
	fields := dlqrecord.Fields{Reason: "exhausted", FailedAt: now}
	for _, r := range []*kgo.Record{src("a", "1"), src("b", "2"), src("a", "1"), src("a", "3"), {Key: []byte("x")}, {Key: []byte("x")}} {
		s.Add(r, fields)
	}
	s.Finish()
	if s.Records != 5 || s.Duplicates != 1 || s.ByReason["exhausted"] != 5 || s.Events != 3 {
		t.Errorf("records %d, duplicates %d, by reason %v, events %d; want 5 source records, 1 copy left out, 3 events",
			s.Records, s.Duplicates, s.ByReason, s.Events)
	}
}
