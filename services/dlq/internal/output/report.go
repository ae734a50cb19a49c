package output

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/martech/eventfwd/services/dlq/internal/replay"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
	"github.com/martech/eventfwd/services/dlq/internal/stats"
)

// StatsReport is the stats of a topic as JSON.
type StatsReport struct {
	Topic        string            `json:"topic"`
	Records      int64             `json:"records"`
	Events       int64             `json:"events"`     // distinct event_ids among the records
	Duplicates   int64             `json:"duplicates"` // second copies of a source record, not counted
	Oldest       *stats.Ref        `json:"oldest"`
	Newest       *stats.Ref        `json:"newest"`
	ByReason     map[string]int64  `json:"by_reason"`
	ByHTTPStatus map[string]int64  `json:"by_http_status"`
	ByEventName  map[string]int64  `json:"by_event_name"`
	ByAge        map[string]int64  `json:"by_age"`
	Partitions   []PartitionReport `json:"partitions"`
	ReadSeconds  float64           `json:"read_seconds"`
}

// PartitionReport is one partition: the offsets it holds and how many of its records were counted.
type PartitionReport struct {
	Partition int32 `json:"partition"`
	Low       int64 `json:"low"`
	High      int64 `json:"high"`
	Records   int64 `json:"records"`
}

// NewStatsReport gathers s (finished) and the topic's bounds.
func NewStatsReport(topic string, s *stats.Stats, bounds map[int32]scan.Bounds, took time.Duration) StatsReport {
	rep := StatsReport{
		Topic: topic, Records: s.Records, Events: s.Events, Duplicates: s.Duplicates, Oldest: s.Oldest, Newest: s.Newest,
		ByReason: s.ByReason, ByHTTPStatus: s.ByStatus, ByEventName: s.ByEventName,
		ByAge:       make(map[string]int64, len(stats.AgeBuckets)),
		ReadSeconds: took.Seconds(),
	}
	for i, name := range stats.AgeBuckets {
		rep.ByAge[name] = s.ByAge[i]
	}
	for _, p := range slices.Sorted(maps.Keys(bounds)) {
		b := bounds[p]
		rep.Partitions = append(rep.Partitions, PartitionReport{p, b.Low, b.High, s.PerPart[p]})
	}
	return rep
}

// WriteStats writes the report as text or as one JSON object.
func WriteStats(w io.Writer, f Format, rep StatsReport) error {
	if f == JSON {
		return writeJSON(w, rep)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d records of %d distinct events (read in %.2fs)\n", rep.Topic, rep.Records, rep.Events, rep.ReadSeconds)
	if rep.Duplicates > 0 {
		fmt.Fprintf(&b, "  not counted: %d more copies of those records (dead-lettered again when the forwarder re-read them)\n", rep.Duplicates)
	}
	ref := func(label string, r *stats.Ref) {
		if r != nil {
			fmt.Fprintf(&b, "  %s  %s  (partition %d, offset %d)\n", label, r.FailedAt.UTC().Format(time.RFC3339), r.Partition, r.Offset)
		}
	}
	ref("oldest", rep.Oldest)
	ref("newest", rep.Newest)
	section := func(title string, m map[string]int64, order []string) {
		fmt.Fprintf(&b, "\n%s\n", title)
		if order == nil {
			order = sortedByCount(m)
		}
		for _, k := range order {
			fmt.Fprintf(&b, "  %-24s %10d\n", k, m[k])
		}
	}
	section("by reason (dlq.reason)", rep.ByReason, nil)
	section("by HTTP status (dlq.http_status)", rep.ByHTTPStatus, nil)
	section("by event_name", rep.ByEventName, nil)
	section("by age (dlq.failed_at)", rep.ByAge, stats.AgeBuckets[:])
	b.WriteString("\npartitions\n  PART         LOW        HIGH     RECORDS\n")
	for _, p := range rep.Partitions {
		fmt.Fprintf(&b, "  %4d  %10d  %10d  %10d\n", p.Partition, p.Low, p.High, p.Records)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryInfo is what a summary needs to explain itself.
type SummaryInfo struct {
	EventsTopic    string
	MaxReplays     int
	MaxAge         time.Duration
	MaxRecordBytes int
	Max            int64
}

// WriteSummary writes what a replay (or dry run) did, as text or as one JSON object.
func WriteSummary(w io.Writer, f Format, s replay.Summary, info SummaryInfo) error {
	if f == JSON {
		return writeJSON(w, s)
	}
	var b strings.Builder
	name := "replay"
	if s.Name != "" {
		name = "replay " + s.Name
	}
	if s.DryRun {
		fmt.Fprintf(&b, "dry run of %s: looked at %d records, would send %d to %s; nothing was written or committed\n",
			name, s.Looked, s.Sent, info.EventsTopic)
	} else {
		fmt.Fprintf(&b, "%s: looked at %d records, sent %d to %s\n", name, s.Looked, s.Sent, info.EventsTopic)
	}
	counts(&b, s.Counts, s.CappedAt, info)
	if (s.HeldOld > 0 || s.HeldInvalid > 0 || s.Capped > 0) && !s.DryRun && s.Name != "" {
		fmt.Fprintf(&b, "  the records held back or capped are behind this replay's position now: dlq list --held-by %s lists them\n", s.Name)
	}
	if s.HeldOld > 0 && !s.DryRun && s.Name != "" {
		fmt.Fprintf(&b, "  to send the held-old ones anyway: dlq replay --name %s-old --held-by %s:held-old --force\n", s.Name, s.Name)
	}
	if t := s.AllRuns; t != nil && t.Runs > 1 {
		fmt.Fprintf(&b, "all %d runs of %s: looked at %d records, sent %d to %s\n", t.Runs, name, t.Looked, t.Sent, info.EventsTopic)
		counts(&b, t.Counts, nil, info)
	}
	switch s.Stop {
	case replay.StopInterrupted:
		fmt.Fprintf(&b, "  interrupted: about %d records not looked at yet; run again with the same --name to continue\n", s.Remaining)
	case replay.StopTakenOver:
		fmt.Fprintf(&b, "  stopped: another run named %s took over; this run's open batch was aborted, so nothing is lost or sent twice, and the other run goes on from its last committed batch\n", s.Name)
	case replay.StopFailed:
		b.WriteString("  stopped by the error below; what was sent is committed with the position: run again with the same --name to continue\n")
	case replay.StopMax:
		if s.DryRun {
			fmt.Fprintf(&b, "  stopped at --max %d: about %d records not looked at yet; a replay would stop there too\n", info.Max, s.Remaining)
		} else {
			fmt.Fprintf(&b, "  stopped at --max %d: about %d records not looked at yet; run again with the same --name to continue\n", info.Max, s.Remaining)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// counts writes the lines of what was not sent.
func counts(b *strings.Builder, c replay.Counts, cappedAt []string, info SummaryInfo) {
	if c.Unmatched > 0 {
		fmt.Fprintf(b, "  not selected by the filters:              %d\n", c.Unmatched)
	}
	if c.Duplicates > 0 {
		fmt.Fprintf(b, "  skipped, another copy of a source record: %d (dlq.source_*; sent once)\n", c.Duplicates)
	}
	if c.HeldInvalid > 0 {
		fmt.Fprintf(b, "  held back, not a valid event:             %d\n", c.HeldInvalid)
	}
	if c.HeldOld > 0 {
		fmt.Fprintf(b, "  held back, event_time older than %-8s %d (--force sends them anyway)\n", age(info.MaxAge)+":", c.HeldOld)
	}
	if c.HeldTooLarge > 0 {
		fmt.Fprintf(b, "  held back, value over %-19s %d (MAX_RECORD_BYTES; not sent even with --force)\n",
			fmt.Sprintf("%d bytes:", info.MaxRecordBytes), c.HeldTooLarge)
	}
	if c.Capped > 0 {
		fmt.Fprintf(b, "  skipped, dlq.replay_count at the cap %d:   %d", info.MaxReplays, c.Capped)
		if len(cappedAt) > 0 {
			fmt.Fprintf(b, ": %s", strings.Join(cappedAt, " "))
		}
		b.WriteString("\n")
		if c.Capped > int64(len(cappedAt)) && len(cappedAt) > 0 {
			fmt.Fprintf(b, "    (and %d more; dlq list --partition P --from-offset O shows them)\n", c.Capped-int64(len(cappedAt)))
		}
	}
}

// DryRunHeader is the first line of a dry run's table.
const DryRunHeader = "PART  OFFSET      DECISION       EVENT_ID                              WOULD SEND / TRANSFORM\n"

// DryRunRow is one line of a dry run's table: where the record is, what a replay would do, and
// what the forwarder would make of it.
func DryRunRow(it replay.Item) string {
	r := it.Record
	var what string
	if it.Verdict.Invalid != nil {
		what = "invalid, would be dead-lettered again: " + it.Verdict.Invalid.Error()
	} else {
		body, _ := json.Marshal(it.Verdict.Event.Conversion())
		what = string(body)
	}
	return fmt.Sprintf("%-5d %-11d %-14s %-37s %s\n", r.Partition, r.Offset, it.Verdict.Decision,
		clip(printable(r.Key), 36), clip(what, 200))
}

// DryRunRecord is one item of a dry run as JSON: the DLQ record, the decision, what would be
// written to the events topic (out) and what the forwarder would make of it.
func DryRunRecord(it replay.Item) any {
	type item struct {
		Record
		Out *Record `json:"out,omitempty"`
	}
	v := item{Record: NewRecord(it.Record).WithPreview(it.Verdict.Event, it.Verdict.Invalid)}
	v.Decision = it.Verdict.Decision.String()
	if it.Out != nil {
		out := NewRecord(it.Out)
		out.Timestamp = time.Time{}
		v.Out = &out
	}
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// age prints a duration in days when it is whole days.
func age(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
