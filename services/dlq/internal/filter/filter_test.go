package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func spec() Spec { return Spec{Partition: -1, FromOffset: -1, ToOffset: -1} }

func TestBuildNamesTheBadFlag(t *testing.T) {
	tests := []struct {
		name string
		give func(*Spec)
		want string // "" for no error
	}{
		{"nothing", func(*Spec) {}, ""},
		{"all of them", func(s *Spec) {
			s.Reasons, s.Statuses, s.Since, s.Until, s.EventIDs = "rejected, exhausted", "400,5xx,none", "7d", "1h", "a,b"
			s.Partition, s.FromOffset, s.ToOffset = 3, 10, 20
		}, ""},
		{"unknown reason", func(s *Spec) { s.Reasons = "rejected,oops" }, `--reason: "oops" is not one of`},
		{"status not a number", func(s *Spec) { s.Statuses = "4x4" }, `--status: "4x4"`},
		{"status out of range", func(s *Spec) { s.Statuses = "600" }, `--status: "600"`},
		{"since unreadable", func(s *Spec) { s.Since = "yesterday" }, `--since: "yesterday"`},
		{"until unreadable", func(s *Spec) { s.Until = "-2h" }, `--until: "-2h"`},
		{"since after until", func(s *Spec) { s.Since, s.Until = "1h", "2h" }, "--since"},
		{"offsets without partition", func(s *Spec) { s.FromOffset = 5 }, "need --partition"},
		{"negative from", func(s *Spec) { s.Partition, s.FromOffset = 0, -5 }, "--from-offset: -5"},
		{"from after to", func(s *Spec) { s.Partition, s.FromOffset, s.ToOffset = 0, 9, 3 }, "--from-offset 9 is after --to-offset 3"},
		{"negative partition", func(s *Spec) { s.Partition = -3 }, "--partition: -3"},
		{"replayed counts", func(s *Spec) { s.Replayed = "0,2+" }, ""},
		{"replayed not a count", func(s *Spec) { s.Replayed = "once" }, `--replayed: "once"`},
		{"replay name", func(s *Spec) { s.ReplayNames = "outage-1, deploy.2" }, ""},
		{"replay name unreadable", func(s *Spec) { s.ReplayNames = "a b" }, `--replay-name: "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.give(&s)
			_, err := s.Build(now)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Build error %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestParseWhen(t *testing.T) {
	tests := []struct {
		give string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-11-20T08:30:00Z", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)},
		{"2026-11-20T08:30:00+02:00", time.Date(2026, 11, 20, 6, 30, 0, 0, time.UTC)},
		{"2026-11-20T08:30:00", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)},
		{"2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{"90m", now.Add(-90 * time.Minute)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"1d12h", now.Add(-36 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseWhen(tt.give, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseWhen(%q) = %v, %v; want %v", tt.give, got, err, tt.want)
			}
		})
	}
}

func rec(p int32, off int64, key string) *kgo.Record {
	return &kgo.Record{Partition: p, Offset: off, Key: []byte(key)}
}

func TestMatch(t *testing.T) {
	rejected400 := dlqrecord.Fields{Reason: "rejected", HTTPStatus: 400, FailedAt: now.Add(-2 * time.Hour)}
	invalid := dlqrecord.Fields{Reason: "invalid", FailedAt: now.Add(-10 * 24 * time.Hour)}
	exhausted503 := dlqrecord.Fields{Reason: "exhausted", HTTPStatus: 503, FailedAt: now.Add(-time.Minute)}
	replayedOnce := dlqrecord.Fields{Reason: "exhausted", ReplayCount: 1, ReplayName: "outage-1"}
	replayedTwice := dlqrecord.Fields{Reason: "exhausted", ReplayCount: 2, ReplayName: "outage-2"}
	tests := []struct {
		name   string
		give   func(*Spec)
		record *kgo.Record
		fields dlqrecord.Fields
		want   bool
	}{
		{"no filter", func(*Spec) {}, rec(0, 0, "a"), invalid, true},
		{"reason in list", func(s *Spec) { s.Reasons = "exhausted,rejected" }, rec(0, 0, "a"), rejected400, true},
		{"reason not in list", func(s *Spec) { s.Reasons = "rejected" }, rec(0, 0, "a"), invalid, false},
		{"exact status", func(s *Spec) { s.Statuses = "400" }, rec(0, 0, "a"), rejected400, true},
		{"status class", func(s *Spec) { s.Statuses = "5xx" }, rec(0, 0, "a"), exhausted503, true},
		{"status class misses", func(s *Spec) { s.Statuses = "5xx" }, rec(0, 0, "a"), rejected400, false},
		{"no status", func(s *Spec) { s.Statuses = "none" }, rec(0, 0, "a"), invalid, true},
		{"no status misses a status", func(s *Spec) { s.Statuses = "none" }, rec(0, 0, "a"), rejected400, false},
		{"since", func(s *Spec) { s.Since = "3h" }, rec(0, 0, "a"), rejected400, true},
		{"before since", func(s *Spec) { s.Since = "1h" }, rec(0, 0, "a"), rejected400, false},
		{"until excludes newer", func(s *Spec) { s.Until = "1h" }, rec(0, 0, "a"), exhausted503, false},
		{"until keeps older", func(s *Spec) { s.Until = "1h" }, rec(0, 0, "a"), invalid, true},
		{"event id", func(s *Spec) { s.EventIDs = "b, a" }, rec(0, 0, "a"), invalid, true},
		{"other event id", func(s *Spec) { s.EventIDs = "b" }, rec(0, 0, "a"), invalid, false},
		{"event id in another case", func(s *Spec) { s.EventIDs = "AB" }, rec(0, 0, "aB"), invalid, true},
		{"partition", func(s *Spec) { s.Partition = 2 }, rec(2, 0, "a"), invalid, true},
		{"other partition", func(s *Spec) { s.Partition = 2 }, rec(1, 0, "a"), invalid, false},
		{"from offset inclusive", func(s *Spec) { s.Partition, s.FromOffset = 2, 5 }, rec(2, 5, "a"), invalid, true},
		{"before from offset", func(s *Spec) { s.Partition, s.FromOffset = 2, 5 }, rec(2, 4, "a"), invalid, false},
		{"to offset inclusive", func(s *Spec) { s.Partition, s.ToOffset = 2, 5 }, rec(2, 5, "a"), invalid, true},
		{"after to offset", func(s *Spec) { s.Partition, s.ToOffset = 2, 5 }, rec(2, 6, "a"), invalid, false},
		{"all must hold", func(s *Spec) { s.Reasons, s.Statuses = "rejected", "503" }, rec(0, 0, "a"), rejected400, false},
		{"replayed once", func(s *Spec) { s.Replayed = "1" }, rec(0, 0, "a"), replayedOnce, true},
		{"replayed once misses never", func(s *Spec) { s.Replayed = "1" }, rec(0, 0, "a"), invalid, false},
		{"never replayed", func(s *Spec) { s.Replayed = "0" }, rec(0, 0, "a"), invalid, true},
		{"replayed at least", func(s *Spec) { s.Replayed = "1+" }, rec(0, 0, "a"), replayedTwice, true},
		{"replayed at least misses fewer", func(s *Spec) { s.Replayed = "2+" }, rec(0, 0, "a"), replayedOnce, false},
		{"replay name", func(s *Spec) { s.ReplayNames = "x,outage-1" }, rec(0, 0, "a"), replayedOnce, true},
		{"other replay name", func(s *Spec) { s.ReplayNames = "x" }, rec(0, 0, "a"), replayedOnce, false},
		{"replay name misses never replayed", func(s *Spec) { s.ReplayNames = "outage-1" }, rec(0, 0, "a"), invalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.give(&s)
			f, err := s.Build(now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.record, tt.fields); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		name               string
		give               func(*Spec)
		partition          int32
		wantStart, wantEnd int64
	}{
		{"whole partition", func(*Spec) {}, 1, 10, 50},
		{"other partition is empty", func(s *Spec) { s.Partition = 0 }, 1, 10, 10},
		{"from and to", func(s *Spec) { s.Partition, s.FromOffset, s.ToOffset = 1, 20, 29 }, 1, 20, 30},
		{"to past the end", func(s *Spec) { s.Partition, s.ToOffset = 1, 99 }, 1, 10, 50},
		{"from before the start", func(s *Spec) { s.Partition, s.FromOffset = 1, 3 }, 1, 10, 50},
		{"from past the end", func(s *Spec) { s.Partition, s.FromOffset = 1, 70 }, 1, 70, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.give(&s)
			f, err := s.Build(now)
			if err != nil {
				t.Fatal(err)
			}
			start, end := f.Range(tt.partition, 10, 50)
			if start != tt.wantStart || end != tt.wantEnd {
				t.Errorf("Range = [%d, %d), want [%d, %d)", start, end, tt.wantStart, tt.wantEnd)
			}
		})
	}
}
