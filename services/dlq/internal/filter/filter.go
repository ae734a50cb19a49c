// Package filter selects dead-letter records: by reason, HTTP status, time dead-lettered,
// event_id, and partition with an offset range. list, show, stats and replay share it, so an
// operator can look at exactly what a replay would take.
package filter

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

// Spec is the filter flags as typed.
type Spec struct {
	Reasons     string
	Statuses    string
	Since       string
	Until       string
	EventIDs    string
	Partition   int
	FromOffset  int64
	ToOffset    int64
	Replayed    string // --replayed: dlq.replay_count values, N or N+ (at least N)
	ReplayNames string // --replay-name: dlq.replay_name values
	// Latest is --latest: only the newest copy of each event. Build leaves it to the caller,
	// who reads the records first (a Newest) and narrows the filter with With.
	Latest bool
	// HeldBy is --held-by NAME[:DECISION]: the records a replay held back or capped. Build
	// leaves it to the caller, who reads the replay's ledger and narrows the filter with Only.
	HeldBy string
}

// Register adds the filter flags to fs.
func (s *Spec) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.Reasons, "reason", "", "only these dlq.reason values, comma-separated: invalid, rejected, exhausted")
	fs.StringVar(&s.Statuses, "status", "", "only these dlq.http_status values, comma-separated: a code (400), a class (4xx, 5xx), or none")
	fs.StringVar(&s.Since, "since", "", "only records dead-lettered at or after this time: RFC 3339, a date (UTC), or an age such as 90m, 2h, 7d")
	fs.StringVar(&s.Until, "until", "", "only records dead-lettered before this time (same forms as --since)")
	fs.StringVar(&s.EventIDs, "event-id", "", "only these event_ids (the record key), comma-separated")
	fs.IntVar(&s.Partition, "partition", -1, "only this partition of the DLQ topic")
	fs.Int64Var(&s.FromOffset, "from-offset", -1, "with --partition: only offsets at or after this one")
	fs.Int64Var(&s.ToOffset, "to-offset", -1, "with --partition: only offsets at or before this one")
	fs.StringVar(&s.Replayed, "replayed", "", "only records replayed this often (dlq.replay_count), comma-separated: N, or N+ for at least N (0: never replayed; 1+: failed again after a replay)")
	fs.StringVar(&s.ReplayNames, "replay-name", "", "only records that failed again in these replays (dlq.replay_name), comma-separated")
	fs.BoolVar(&s.Latest, "latest", false, "only the newest copy of each event (by event_id, the latest dlq.failed_at) among the records read: an event replayed and failed again has a copy per round")
	fs.StringVar(&s.HeldBy, "held-by", "", "only records the replay NAME held back or capped, also once its position is past them: NAME, or NAME:held-old (or held-invalid, held-too-large, capped)")
}

// Filter is a checked Spec. The zero Filter is not valid: use All or Spec.Build.
type Filter struct {
	reasons    []string      // nil: any
	statuses   []statusRange // nil: any
	since      time.Time     // zero: unbounded
	until      time.Time     // zero: unbounded
	eventIDs   map[string]bool
	partition  int32           // -1: every partition
	fromOffset int64           // -1: unbounded
	toOffset   int64           // -1: unbounded
	only       map[string]bool // "partition/offset"; nil: any
	replayed   []countRange    // nil: any
	replayName map[string]bool // nil: any
	with       []func(*kgo.Record, dlqrecord.Fields) bool
}

// countRange matches lo..hi replays.
type countRange struct{ lo, hi int }

// statusRange matches lo..hi; {0, 0} matches a record without dlq.http_status.
type statusRange struct{ lo, hi int }

// All matches every record.
func All() Filter { return Filter{partition: -1, fromOffset: -1, toOffset: -1} }

var reasons = []string{string(deadletter.Invalid), string(deadletter.Rejected), string(deadletter.Exhausted)}

// Build checks the flags; the error names the flag at fault and is meant for one line.
func (s Spec) Build(now time.Time) (Filter, error) {
	f := All()
	for _, r := range split(s.Reasons) {
		if !slices.Contains(reasons, r) {
			return Filter{}, fmt.Errorf("--reason: %q is not one of %s", r, strings.Join(reasons, ", "))
		}
		f.reasons = append(f.reasons, r)
	}
	for _, st := range split(s.Statuses) {
		r, err := parseStatus(st)
		if err != nil {
			return Filter{}, fmt.Errorf("--status: %w", err)
		}
		f.statuses = append(f.statuses, r)
	}
	var err error
	if f.since, err = ParseWhen(s.Since, now); err != nil {
		return Filter{}, fmt.Errorf("--since: %w", err)
	}
	if f.until, err = ParseWhen(s.Until, now); err != nil {
		return Filter{}, fmt.Errorf("--until: %w", err)
	}
	if !f.since.IsZero() && !f.until.IsZero() && !f.since.Before(f.until) {
		return Filter{}, fmt.Errorf("--since %s is not before --until %s",
			f.since.Format(time.RFC3339), f.until.Format(time.RFC3339))
	}
	if ids := split(s.EventIDs); len(ids) > 0 {
		f.eventIDs = make(map[string]bool, len(ids))
		for _, id := range ids {
			f.eventIDs[strings.ToLower(id)] = true // event_ids are case-insensitive, and lowercase downstream
		}
	}
	for _, c := range split(s.Replayed) {
		n, atLeast := strings.CutSuffix(c, "+")
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return Filter{}, fmt.Errorf("--replayed: %q is not a count such as 0, 1 or 2+", c)
		}
		r := countRange{v, v}
		if atLeast {
			r.hi = math.MaxInt
		}
		f.replayed = append(f.replayed, r)
	}
	if names := split(s.ReplayNames); len(names) > 0 {
		f.replayName = map[string]bool{}
		for _, n := range names {
			if !dlqrecord.ValidReplayName(n) {
				return Filter{}, fmt.Errorf("--replay-name: %q is not a replay name (letters, digits, '.', '_', '-')", n)
			}
			f.replayName[n] = true
		}
	}
	switch {
	case s.Partition < -1 || s.Partition > 1<<31-1:
		return Filter{}, fmt.Errorf("--partition: %d is not a partition number", s.Partition)
	case s.FromOffset < -1:
		return Filter{}, fmt.Errorf("--from-offset: %d is negative", s.FromOffset)
	case s.ToOffset < -1:
		return Filter{}, fmt.Errorf("--to-offset: %d is negative", s.ToOffset)
	case s.Partition == -1 && (s.FromOffset >= 0 || s.ToOffset >= 0):
		return Filter{}, errors.New("--from-offset and --to-offset need --partition: offsets are per partition")
	case s.FromOffset >= 0 && s.ToOffset >= 0 && s.FromOffset > s.ToOffset:
		return Filter{}, fmt.Errorf("--from-offset %d is after --to-offset %d", s.FromOffset, s.ToOffset)
	}
	f.partition, f.fromOffset, f.toOffset = int32(s.Partition), s.FromOffset, s.ToOffset
	return f, nil
}

func split(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseStatus(s string) (statusRange, error) {
	switch ls := strings.ToLower(s); {
	case ls == "none":
		return statusRange{}, nil
	case len(ls) == 3 && ls[1:] == "xx" && ls[0] >= '1' && ls[0] <= '5':
		lo := int(ls[0]-'0') * 100
		return statusRange{lo, lo + 99}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return statusRange{}, fmt.Errorf("%q is not an HTTP status (100..599), a class such as 4xx, or none", s)
	}
	return statusRange{n, n}, nil
}

var agoPattern = regexp.MustCompile(`^(\d+)d(.*)$`)

// ParseWhen reads a point in time: RFC 3339, "2006-01-02T15:04:05" (UTC), "2006-01-02" (UTC
// midnight), or an age before now as a Go duration that may start with days ("90m", "2h",
// "7d", "1d12h"). "" is the zero time (unbounded).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	d, err := ParseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or an age such as 2h or 7d", s)
	}
	return now.Add(-d), nil
}

// ParseAge reads a non-negative Go duration that may start with whole days: "36h", "7d", "1d12h".
func ParseAge(s string) (time.Duration, error) {
	var days time.Duration
	if m := agoPattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		days, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 36h or 7d", s)
	}
	return days + d, nil
}

// Only narrows f to the records whose RecordKey is in refs.
func (f Filter) Only(refs map[string]bool) Filter {
	f.only = refs
	return f
}

// RecordKey names a DLQ record by partition and offset: "partition/offset".
func RecordKey(partition int32, offset int64) string {
	return strconv.Itoa(int(partition)) + "/" + strconv.FormatInt(offset, 10)
}

// With narrows f to the records pred also selects.
func (f Filter) With(pred func(*kgo.Record, dlqrecord.Fields) bool) Filter {
	f.with = append(slices.Clip(f.with), pred)
	return f
}

// FromOffset is --from-offset, or -1.
func (f Filter) FromOffset() int64 { return f.fromOffset }

// Partition is the one partition the filter is limited to, or -1.
func (f Filter) Partition() int32 { return f.partition }

// InScope reports whether records of partition p can match.
func (f Filter) InScope(p int32) bool { return f.partition < 0 || f.partition == p }

// Range narrows the offsets [start, end) of partition p to what can match.
func (f Filter) Range(p int32, start, end int64) (int64, int64) {
	if !f.InScope(p) {
		return start, start
	}
	if f.fromOffset > start {
		start = f.fromOffset
	}
	if f.toOffset >= 0 && f.toOffset+1 < end {
		end = f.toOffset + 1
	}
	return start, max(start, end)
}

// Match reports whether r, whose headers read as fl, is selected.
func (f Filter) Match(r *kgo.Record, fl dlqrecord.Fields) bool {
	if !f.InScope(r.Partition) ||
		(f.fromOffset >= 0 && r.Offset < f.fromOffset) ||
		(f.toOffset >= 0 && r.Offset > f.toOffset) {
		return false
	}
	if f.reasons != nil && !slices.Contains(f.reasons, fl.Reason) {
		return false
	}
	if f.statuses != nil && !slices.ContainsFunc(f.statuses, func(s statusRange) bool {
		return s.lo <= fl.HTTPStatus && fl.HTTPStatus <= s.hi
	}) {
		return false
	}
	if !f.since.IsZero() && fl.FailedAt.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !fl.FailedAt.Before(f.until) {
		return false
	}
	if f.eventIDs != nil && !f.eventIDs[strings.ToLower(string(r.Key))] {
		return false
	}
	if f.replayed != nil && !slices.ContainsFunc(f.replayed, func(c countRange) bool {
		return c.lo <= fl.ReplayCount && fl.ReplayCount <= c.hi
	}) {
		return false
	}
	if f.replayName != nil && !f.replayName[fl.ReplayName] {
		return false
	}
	if f.only != nil && !f.only[RecordKey(r.Partition, r.Offset)] {
		return false
	}
	for _, pred := range f.with {
		if !pred(r, fl) {
			return false
		}
	}
	return true
}
