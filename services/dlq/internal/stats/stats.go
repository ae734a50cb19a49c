// Package stats counts dead-letter records by reason, HTTP status, event_name and age, and keeps
// the oldest and newest. Add does no work per record beyond reading its headers once and finding
// its event_name, so a million records count in seconds.
package stats

import (
	"hash/maphash"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
)

// AgeBuckets name the age classes of dlq.failed_at, youngest first.
var AgeBuckets = [4]string{"<1h", "1h-24h", "1d-7d", ">7d"}

var ageLimits = [3]time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Unknown is the event_name of a record whose value has none, and None the HTTP status of a
// record without dlq.http_status.
const (
	Unknown = "unknown"
	None    = "none"
)

// Ref points at one record and says when it was dead-lettered.
type Ref struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	FailedAt  time.Time `json:"failed_at"`
}

// Stats are the counts of the records added. Use New.
type Stats struct {
	Now     time.Time
	Records int64
	Events  int64 // distinct event_ids (the key, in any case; a record without a key is one)
	// Duplicates are copies of a source record already counted (dlqrecord.SourceKey), left out
	// of every count.
	Duplicates  int64
	ByReason    map[string]int64
	ByStatus    map[string]int64
	ByEventName map[string]int64
	ByAge       [4]int64
	Oldest      *Ref
	Newest      *Ref
	PerPart     map[int32]int64 // records added, by partition

	// counters avoid an allocation per record: a map[string]*int64 is read with string(b) (which
	// Go does not allocate for) and written only for a new key.
	reason, status, name map[string]*int64
	statusText           map[int]string
	seed                 maphash.Seed
	events               map[uint64]struct{}
	sources              map[uint64]struct{}
}

// New returns empty stats that age records relative to now.
func New(now time.Time) *Stats {
	return &Stats{
		Now:        now,
		PerPart:    map[int32]int64{},
		reason:     map[string]*int64{},
		status:     map[string]*int64{},
		name:       map[string]*int64{},
		statusText: map[int]string{},
		seed:       maphash.MakeSeed(),
		events:     map[uint64]struct{}{},
		sources:    map[uint64]struct{}{},
	}
}

// Add counts r, whose headers read as f, unless it is a copy of a source record already counted.
func (s *Stats) Add(r *kgo.Record, f dlqrecord.Fields) {
	if k, ok := dlqrecord.SourceKey(s.seed, r); ok {
		if has(s.sources, k) {
			s.Duplicates++
			return
		}
		s.sources[k] = struct{}{}
	}
	s.Records++
	s.PerPart[r.Partition]++
	if r.Key == nil {
		s.Events++
	} else if k := filter.EventKey(s.seed, r.Key); !has(s.events, k) {
		s.events[k] = struct{}{}
		s.Events++
	}
	reason := f.Reason
	if reason == "" {
		reason = None
	}
	count(s.reason, reason)
	count(s.status, s.statusName(f.HTTPStatus))
	if name := dlqrecord.EventNameBytes(r.Value); len(name) > 0 {
		countBytes(s.name, name)
	} else {
		count(s.name, Unknown)
	}

	age := s.Now.Sub(f.FailedAt)
	b := 0
	for b < len(ageLimits) && age >= ageLimits[b] {
		b++
	}
	s.ByAge[b]++
	if s.Oldest == nil || f.FailedAt.Before(s.Oldest.FailedAt) {
		s.Oldest = &Ref{r.Partition, r.Offset, f.FailedAt}
	}
	if s.Newest == nil || f.FailedAt.After(s.Newest.FailedAt) {
		s.Newest = &Ref{r.Partition, r.Offset, f.FailedAt}
	}
}

func has(m map[uint64]struct{}, k uint64) bool {
	_, ok := m[k]
	return ok
}

func (s *Stats) statusName(code int) string {
	if code == 0 {
		return None
	}
	t, ok := s.statusText[code]
	if !ok {
		t = strconv.Itoa(code)
		s.statusText[code] = t
	}
	return t
}

func count(m map[string]*int64, key string) {
	if n, ok := m[key]; ok {
		*n++
		return
	}
	n := int64(1)
	m[key] = &n
}

func countBytes(m map[string]*int64, key []byte) {
	if n, ok := m[string(key)]; ok {
		*n++
		return
	}
	n := int64(1)
	m[string(key)] = &n
}

// Finish fills ByReason, ByStatus and ByEventName from the counters.
func (s *Stats) Finish() {
	flat := func(m map[string]*int64) map[string]int64 {
		out := make(map[string]int64, len(m))
		for k, v := range m {
			out[k] = *v
		}
		return out
	}
	s.ByReason, s.ByStatus, s.ByEventName = flat(s.reason), flat(s.status), flat(s.name)
}
