package replay

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
)

// The forwarder dead-letters a record a second time when it re-reads it after a crash or a
// failed final commit: both DLQ copies name the same source record (dlq.source_topic,
// dlq.source_partition, dlq.source_offset). A replay sends the first copy it selects and skips
// the others as duplicates. Copies sit close together in one DLQ partition (they share the key),
// so a run also looks back LookBack records before its position in each partition, for a copy
// an earlier run of the name selected; one further back is not recognised (the forwarder's
// dedupe still keeps the event from being delivered twice if the first copy was delivered).

// LookBack is how many records before a replay's position, per partition, it reads for copies
// of source records that an earlier run selected.
const LookBack = 10000

// sources is a set of source records, by a hash of dlq.source_* and the key. A record without them (not
// written by the forwarder) is a source of its own.
type sources struct {
	seed maphash.Seed
	set  map[uint64]struct{}
}

func newSources() *sources { return &sources{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}} }

// fresh is an empty set that hashes as s does, to merge into it later.
func (s *sources) fresh() *sources { return &sources{seed: s.seed, set: map[uint64]struct{}{}} }

func (s *sources) key(r *kgo.Record) (uint64, bool) { return dlqrecord.SourceKey(s.seed, r) }

// has reports whether r's source record is in s.
func (s *sources) has(r *kgo.Record) bool {
	k, ok := s.key(r)
	if !ok {
		return false
	}
	_, in := s.set[k]
	return in
}

// first adds r's source record to s and reports whether it was new.
func (s *sources) first(r *kgo.Record) bool {
	k, ok := s.key(r)
	if !ok {
		return true
	}
	if _, in := s.set[k]; in {
		return false
	}
	s.set[k] = struct{}{}
	return true
}

func (s *sources) merge(o *sources) {
	for k := range o.set {
		s.set[k] = struct{}{}
	}
}

// lookBack reads the LookBack records before the plan's start in each partition it reads and
// returns the source records of those the filter selects.
func (c Config) lookBack(ctx context.Context, opts []kgo.Opt) (*sources, error) {
	seen := newSources()
	plan := scan.Plan{}
	for p, r := range c.Plan {
		if r.Start < r.End && r.Start > 0 {
			plan[p] = scan.Range{Start: max(0, r.Start-LookBack), End: r.Start}
		}
	}
	if len(plan) == 0 {
		return seen, nil
	}
	err := scan.Read(ctx, opts, c.DLQTopic, plan, func(r *kgo.Record) bool {
		if c.Filter.Match(r, dlqrecord.Read(r)) {
			seen.first(r)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("look back for copies of source records: %w", err)
	}
	return seen, nil
}
