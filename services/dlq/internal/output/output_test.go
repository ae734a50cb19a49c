package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/replay"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
	"github.com/martech/eventfwd/services/dlq/internal/stats"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		give    string
		want    Format
		wantErr bool
	}{
		{"table", Table, false},
		{"text", Table, false},
		{"json", JSON, false},
		{"yaml", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseFormat(tt.give)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseFormat(%q) = %q, %v", tt.give, got, err)
			}
		})
	}
}

var written = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func dlqRecord(key []byte, value []byte) *kgo.Record {
	return &kgo.Record{
		Topic: "events.dlq", Partition: 2, Offset: 41, Timestamp: written, Key: key, Value: value,
		Headers: []kgo.RecordHeader{
			{Key: "dlq.reason", Value: []byte("rejected")}, {Key: "dlq.http_status", Value: []byte("400")},
			{Key: "dlq.error", Value: []byte("AdEventsX answered 400")}, {Key: "dlq.attempts", Value: []byte("1")},
			{Key: "dlq.failed_at", Value: []byte("2026-11-24T10:00:01Z")}, {Key: "dlq.replay_count", Value: []byte("1")},
		},
	}
}

func TestRecordJSON(t *testing.T) {
	tests := []struct {
		name  string
		key   []byte
		value []byte
		want  string
	}{
		{"text", []byte("id-1"), []byte(`{"a":1}`),
			`{"topic":"events.dlq","partition":2,"offset":41,"timestamp":"2026-11-24T10:00:00Z","key":"id-1","value":"{\"a\":1}","headers":{"dlq.attempts":"1","dlq.error":"AdEventsX answered 400","dlq.failed_at":"2026-11-24T10:00:01Z","dlq.http_status":"400","dlq.reason":"rejected","dlq.replay_count":"1"}}`},
		{"no key, binary value", nil, []byte{0xff, 0x00},
			`{"topic":"events.dlq","partition":2,"offset":41,"timestamp":"2026-11-24T10:00:00Z","key":null,"value":null,"value_base64":"/wA=","headers":{"dlq.attempts":"1","dlq.error":"AdEventsX answered 400","dlq.failed_at":"2026-11-24T10:00:01Z","dlq.http_status":"400","dlq.reason":"rejected","dlq.replay_count":"1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			l := NewLines(&b)
			if err := l.Write(NewRecord(dlqRecord(tt.key, tt.value))); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWithPreview(t *testing.T) {
	raw := event.Raw{EventID: "e", UserID: "u", EventName: "lead", EventTime: written}
	tests := []struct {
		name    string
		invalid error
		want    string
	}{
		{"an event", nil, `"conversion":{"id":"e","user":"u","name":"lead","ts":1795514400,"value_cents":0,"campaign":"","source":"internal_martech"}`},
		{"not an event", errors.New("value: is required"), `"transform_error":"value: is required"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(NewRecord(dlqRecord([]byte("e"), nil)).WithPreview(raw, tt.invalid))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s\nlacks %s", b, tt.want)
			}
		})
	}
}

func TestListRowLinesUpWithTheHeader(t *testing.T) {
	row := ListRow(dlqRecord([]byte("00000000-0000-4000-8000-000000000001"), nil))
	want := "2     41          2026-11-24T10:00:01Z  rejected   400     1      1        00000000-0000-4000-8000-000000000001  AdEventsX answered 400\n"
	if row != want {
		t.Fatalf("row\n%q\nwant\n%q", row, want)
	}
	if strings.Index(ListHeader, "EVENT_ID") != strings.Index(row, "00000000-") {
		t.Errorf("EVENT_ID column does not line up:\n%s%s", ListHeader, row)
	}
}

func TestShowQuotesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	if err := Show(&b, dlqRecord([]byte("k"), []byte("bad\x1b[2Jvalue")), event.Raw{}, errors.New("body: invalid JSON"), true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || !strings.Contains(b.String(), `"bad\x1b[2Jvalue"`) {
		t.Errorf("escape sequence reached the terminal:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "transform: not an event") {
		t.Errorf("no transform line:\n%s", b.String())
	}
}

func TestWriteSummary(t *testing.T) {
	info := SummaryInfo{EventsTopic: "events.raw", MaxReplays: 3, MaxAge: 7 * 24 * time.Hour, Max: 10}
	tests := []struct {
		name string
		give replay.Summary
		info SummaryInfo
		want []string
	}{
		{"everything sent", replay.Summary{Name: "r1", Counts: replay.Counts{Looked: 4, Sent: 4}}, info,
			[]string{"replay r1: looked at 4 records, sent 4 to events.raw\n"}},
		{"held back and capped", replay.Summary{Name: "r1", Counts: replay.Counts{Looked: 6, Sent: 1, Unmatched: 1, HeldOld: 1, HeldInvalid: 1, Capped: 2}, CappedAt: []string{"events.dlq/0/1", "events.dlq/0/2"}}, info,
			[]string{"not selected by the filters:              1", "event_time older than 7d:", "dlq.replay_count at the cap 3:   2: events.dlq/0/1 events.dlq/0/2",
				"dlq list --held-by r1 lists them", "dlq replay --name r1-old --held-by r1:held-old --force"}},
		{"all runs", replay.Summary{Name: "r1", Counts: replay.Counts{Looked: 5, Sent: 3, HeldOld: 2},
			AllRuns: &replay.Total{Runs: 2, Counts: replay.Counts{Looked: 20, Sent: 9, HeldOld: 11}}}, info,
			[]string{"all 2 runs of replay r1: looked at 20 records, sent 9 to events.raw\n  held back, event_time older than 7d:      11"}},
		{"held back too large", replay.Summary{Name: "r1", Counts: replay.Counts{Looked: 2, Sent: 1, HeldTooLarge: 1}},
			SummaryInfo{EventsTopic: "events.raw", MaxRecordBytes: 1048576},
			[]string{"held back, value over 1048576 bytes:      1 (MAX_RECORD_BYTES; not sent even with --force)"}},
		{"stopped by max", replay.Summary{Name: "r1", Remaining: 5, Stop: replay.StopMax, Counts: replay.Counts{Looked: 10, Sent: 10}}, info,
			[]string{"stopped at --max 10: about 5 records not looked at yet; run again with the same --name"}},
		{"interrupted", replay.Summary{Name: "r1", Remaining: 5, Stop: replay.StopInterrupted, Counts: replay.Counts{Looked: 10, Sent: 10}}, SummaryInfo{EventsTopic: "events.raw"},
			[]string{"interrupted: about 5 records not looked at yet"}},
		{"taken over", replay.Summary{Name: "r1", Remaining: 999, Stop: replay.StopTakenOver, Counts: replay.Counts{Looked: 10, Sent: 10}}, SummaryInfo{EventsTopic: "events.raw"},
			[]string{"another run named r1 took over", "nothing is lost"}},
		{"dry run", replay.Summary{DryRun: true, Counts: replay.Counts{Looked: 3, Sent: 2}}, info,
			[]string{"dry run of replay: looked at 3 records, would send 2 to events.raw; nothing was written or committed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteSummary(&b, Table, tt.give, tt.info); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary\n%s\nlacks %q", b.String(), w)
				}
			}
			// Garbage is never worth forcing: the forwarder would dead-letter it again.
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.Contains(line, "not a valid event") && strings.Contains(line, "--force") {
					t.Errorf("summary suggests --force for invalid records: %q", line)
				}
			}
		})
	}
}

func TestWriteStatsJSON(t *testing.T) {
	s := stats.New(written)
	s.Add(dlqRecord([]byte("k"), []byte(`{"event_name":"lead"}`)), dlqrecord.Fields{Reason: "rejected", FailedAt: written})
	s.Finish()
	rep := NewStatsReport("events.dlq", s, map[int32]scan.Bounds{2: {Low: 3, High: 42}, 0: {}}, time.Second)
	var b bytes.Buffer
	if err := WriteStats(&b, JSON, rep); err != nil {
		t.Fatal(err)
	}
	var got StatsReport
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if got.Records != 1 || got.ByReason["rejected"] != 1 || got.ByEventName["lead"] != 1 || got.ByAge["<1h"] != 1 ||
		len(got.Partitions) != 2 || got.Partitions[1] != (PartitionReport{2, 3, 42, 1}) {
		t.Errorf("report %+v", got)
	}
}

func TestProgress(t *testing.T) {
	clock := written
	now := func() time.Time { return clock }
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		{"plain lines", false, "replay r: looked at 50/100 (50%), selected 45, sent 40 (4/s), held back 5, ETA 10s\n" +
			"replay r: looked at 100/100 (100%), selected 95, sent 90 (9/s), held back 5, ETA 0s\n"},
		{"a bar redrawn in place", true, "\rreplay r [###############...............]  50% looked at 50/100, selected 45, sent 40 (4/s), held back 5, ETA 10s \x1b[K" +
			"\rreplay r [##############################] 100% looked at 100/100, selected 95, sent 90 (9/s), held back 5, ETA 0s \x1b[K\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = written
			var b bytes.Buffer
			p := NewProgress(&b, tt.tty, "replay r", 100, now)
			clock = clock.Add(10 * time.Second)
			p.Update(50, replay.Counts{Looked: 50, Unmatched: 5, Sent: 40, HeldOld: 3, HeldInvalid: 2})
			clock = clock.Add(10 * time.Millisecond)
			p.Update(60, replay.Counts{Looked: 60, Unmatched: 5, Sent: 50, HeldOld: 3, HeldInvalid: 2}) // too soon: not drawn
			p.Update(100, replay.Counts{Looked: 100, Unmatched: 5, Sent: 90, HeldOld: 3, HeldInvalid: 2})
			p.Done()
			if b.String() != tt.want {
				t.Errorf("got  %q\nwant %q", b.String(), tt.want)
			}
		})
	}
}

// The speeds follow the last half minute: 900 records skipped in the first second, then 2
// sent a second for a minute (a replay at --rate 2) reads 2/s sent, not the run's average, and
// the ETA follows the records looked at.
func TestProgressSpeedFollowsTheCurrentPace(t *testing.T) {
	clock := written
	var b bytes.Buffer
	p := NewProgress(&b, false, "replay r", 1200, func() time.Time { return clock })
	clock = clock.Add(time.Second)
	p.Update(900, replay.Counts{Looked: 900, Unmatched: 900})
	for range 60 {
		clock = clock.Add(time.Second)
		sent := int64(clock.Sub(written).Seconds()-1) * 2
		p.Update(900+sent, replay.Counts{Looked: 900 + sent, Unmatched: 900, Sent: sent})
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "looked at 1020/1200 (85%), selected 120, sent 120 (2/s), ETA 1m30s") {
		t.Errorf("last line %q, want 2/s sent and an ETA of 90 s for 180 left", last)
	}
}
