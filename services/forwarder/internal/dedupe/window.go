package dedupe

import (
	"encoding/hex"
	"sync"
	"time"
)

// window remembers event ids (UUIDs, kept as 16 bytes) with the second they were delivered, for
// a fixed duration and up to a fixed count, oldest out first.
//
// It is written here rather than taken from golang-lru/v2: its expirable LRU costs about 190 bytes
// per id (a list entry, a map entry and an expiry-bucket entry each), which put the forwarder at
// 425 MB of RSS with a million ids in the window. Here an id costs a map slot and a ring slot,
// about 50 bytes. Ids are delivered roughly in time order, so first-in-first-out is the order in
// which they expire; an id delivered again (after its window) simply gets a newer ring entry.
type window struct {
	ttl    time.Duration
	base   time.Time // stored times are seconds since base
	shards [16]shard
}

type shard struct {
	mu    sync.Mutex
	at    map[[16]byte]uint32
	ring  []ringEntry // FIFO of insertions, oldest at head
	head  int
	count int
	limit int
}

type ringEntry struct {
	id [16]byte
	at uint32
}

func newWindow(size int, ttl time.Duration) *window {
	w := &window{ttl: ttl, base: time.Now().Add(-ttl - time.Hour)}
	per := max(1, size/len(w.shards))
	for i := range w.shards {
		w.shards[i] = shard{at: make(map[[16]byte]uint32), limit: per}
	}
	return w
}

func (w *window) secs(t time.Time) uint32 {
	return uint32(max(0, t.Sub(w.base)/time.Second))
}

// add records id as delivered at t. Ids that are not UUIDs are not remembered.
func (w *window) add(id string, t time.Time) {
	key, ok := parseUUID(id)
	if !ok {
		return
	}
	s := &w.shards[key[15]%byte(len(w.shards))]
	at := w.secs(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(w.secs(time.Now().Add(-w.ttl)))
	if old, ok := s.at[key]; ok && old >= at {
		return
	}
	s.at[key] = at
	if s.count == s.limit {
		s.pop()
	}
	s.push(ringEntry{id: key, at: at})
}

// has reports whether id was delivered less than ttl ago.
func (w *window) has(id string) bool {
	key, ok := parseUUID(id)
	if !ok {
		return false
	}
	s := &w.shards[key[15]%byte(len(w.shards))]
	s.mu.Lock()
	at, ok := s.at[key]
	s.mu.Unlock()
	return ok && at > w.secs(time.Now().Add(-w.ttl))
}

func (w *window) len() int {
	n := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		n += len(s.at)
		s.mu.Unlock()
	}
	return n
}

// expire drops entries at or before cutoff from the head of the ring.
func (s *shard) expire(cutoff uint32) {
	for s.count > 0 && s.ring[s.head].at <= cutoff {
		s.pop()
	}
}

func (s *shard) push(e ringEntry) {
	if s.count == len(s.ring) {
		// Grow the ring (up to limit), unrolling it so the head is at 0.
		n := min(s.limit, max(1024, 2*len(s.ring)))
		ring := make([]ringEntry, n)
		for i := range s.count {
			ring[i] = s.ring[(s.head+i)%len(s.ring)]
		}
		s.ring, s.head = ring, 0
	}
	s.ring[(s.head+s.count)%len(s.ring)] = e
	s.count++
}

// pop removes the oldest ring entry, and its id from the map unless the id was re-added later.
func (s *shard) pop() {
	e := s.ring[s.head]
	if at, ok := s.at[e.id]; ok && at == e.at {
		delete(s.at, e.id)
	}
	s.head = (s.head + 1) % len(s.ring)
	s.count--
}

// parseUUID reads the 8-4-4-4-12 hex form, in either case.
func parseUUID(s string) ([16]byte, bool) {
	var out [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return out, false
	}
	var buf [32]byte
	copy(buf[0:8], s[0:8])
	copy(buf[8:12], s[9:13])
	copy(buf[12:16], s[14:18])
	copy(buf[16:20], s[19:23])
	copy(buf[20:32], s[24:36])
	if _, err := hex.Decode(out[:], buf[:]); err != nil {
		return out, false
	}
	return out, true
}
