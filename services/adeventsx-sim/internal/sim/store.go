package sim

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/martech/eventfwd/libs/event"
)

// shardCount spreads the accepted events over independently locked maps so that concurrent
// requests rarely wait for each other.
const shardCount = 64

// DefaultMaxEvents bounds the distinct ids kept, about 250 bytes each.
const DefaultMaxEvents = 2_000_000

// store is what the simulator accepted. Reset swaps in a new one.
type store struct {
	seed     maphash.Seed
	perShard int
	shards   [shardCount]shard
}

type shard struct {
	mu        sync.Mutex
	events    map[string]record // by event id
	total     int64             // accepted requests, duplicates included
	untracked int64             // accepted requests of new ids that did not fit
	_         [64]byte          // keeps neighbouring shards' locks off one cache line
}

// record is one accepted event id, kept compact: the id is the map key, the source is the one
// value accepted, and the Idempotency-Key was checked to equal the id.
type record struct {
	user, name, campaign string
	ts, valueCents       int64
	times                int64
	firstNano            int64
}

func newStore(maxEvents int) *store {
	s := &store{seed: maphash.MakeSeed(), perShard: max(1, (maxEvents+shardCount-1)/shardCount)}
	for i := range s.shards {
		s.shards[i].events = make(map[string]record)
	}
	return s
}

func (s *store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shardCount]
}

// add records one accepted request.
func (s *store) add(c *event.Conversion, nowNano int64) {
	sh := s.shard(c.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.total++
	if r, ok := sh.events[c.ID]; ok {
		r.times++
		sh.events[c.ID] = r
		return
	}
	if len(sh.events) >= s.perShard {
		sh.untracked++
		return
	}
	sh.events[c.ID] = record{
		user: c.User, name: c.Name, campaign: c.Campaign,
		ts: c.TS, valueCents: c.ValueCents,
		times: 1, firstNano: nowNano,
	}
}

// eventView is one element of "events" in GET /_sim/received.
type eventView struct {
	ID                      string           `json:"id"`
	Times                   int64            `json:"times"`
	FirstReceivedAtUnixNano int64            `json:"first_received_at_unix_nano"`
	IdempotencyKey          string           `json:"idempotency_key"`
	Body                    event.Conversion `json:"body"`
}

func view(id string, r record) eventView {
	return eventView{
		ID:                      id,
		Times:                   r.times,
		FirstReceivedAtUnixNano: r.firstNano,
		IdempotencyKey:          id,
		Body: event.Conversion{
			ID: id, User: r.user, Name: r.name, TS: r.ts, ValueCents: r.valueCents,
			Campaign: r.campaign, Source: event.ConversionSource,
		},
	}
}

func (s *store) get(id string) (eventView, bool) {
	sh := s.shard(id)
	sh.mu.Lock()
	r, ok := sh.events[id]
	sh.mu.Unlock()
	return view(id, r), ok
}

// totals are the counts of GET /_sim/received.
type totals struct {
	Count      int64 `json:"count"`
	Total      int64 `json:"total"`
	Duplicates int64 `json:"duplicates"`
	Untracked  int64 `json:"untracked,omitempty"`
}

func (t *totals) addShard(sh *shard) {
	t.Count += int64(len(sh.events))
	t.Total += sh.total
	t.Untracked += sh.untracked
}

func (t *totals) finish() {
	// Untracked requests are of ids not kept, so they are neither distinct nor duplicates here.
	t.Duplicates = t.Total - t.Count - t.Untracked
}

func (s *store) totals() totals {
	var t totals
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t.addShard(sh)
		sh.mu.Unlock()
	}
	t.finish()
	return t
}

// snapshot copies every event, sorted by first receipt, with totals that match the copy.
func (s *store) snapshot() (totals, []eventView) {
	var t totals
	var evs []eventView
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t.addShard(sh)
		evs = slices.Grow(evs, len(sh.events))
		for id, r := range sh.events {
			evs = append(evs, view(id, r))
		}
		sh.mu.Unlock()
	}
	t.finish()
	slices.SortFunc(evs, func(a, b eventView) int {
		return cmp.Or(cmp.Compare(a.FirstReceivedAtUnixNano, b.FirstReceivedAtUnixNano), cmp.Compare(a.ID, b.ID))
	})
	return t, evs
}
