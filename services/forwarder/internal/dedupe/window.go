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
// 425 MB of RSS with a million ids in the window. Here an id costs a map slot and a ring slot
// (window_test.go measures it). Ids are delivered roughly in time order, so first-in-first-out is
// the order in which they expire; an id delivered again (after its window) simply gets a newer
// ring entry.
//
// One map and one ring under one mutex, not shards: the size bounds the window as a whole, so its
// capacity cannot depend on how the ids spread (shards picked by an id's last byte gave the ids of
// one UUIDv1 host, which all end in its node id, 1/16 of it), and the id evicted for room is
// always the oldest. Shards would not buy concurrency either: Store.Claim looks ids up under the
// store's own mutex.
type window struct {
	ttl     time.Duration
	base    time.Time // stored times are seconds since base
	onEvict func(age time.Duration)

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

// newWindow returns a window of size ids. onEvict, when not nil, is called (without the lock)
// for each id dropped for room while still inside ttl, with how long ago it was delivered.
func newWindow(size int, ttl time.Duration, onEvict func(age time.Duration)) *window {
	return &window{
		ttl:     ttl,
		base:    time.Now().Add(-ttl - time.Hour),
		onEvict: onEvict,
		at:      make(map[[16]byte]uint32),
		limit:   max(1, size),
	}
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
	at := w.secs(t)
	now := time.Now()
	cutoff := w.secs(now.Add(-w.ttl))
	evicted, evictedAt := w.insert(key, at, cutoff)
	if evicted && w.onEvict != nil {
		w.onEvict(now.Sub(w.base.Add(time.Duration(evictedAt) * time.Second)))
	}
}

// insert adds key at at, first dropping what is at or before cutoff. It reports whether an id
// still inside the window was dropped for room, and when that id was delivered.
func (w *window) insert(key [16]byte, at, cutoff uint32) (evicted bool, evictedAt uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(cutoff)
	if old, ok := w.at[key]; ok && old >= at {
		return false, 0
	}
	w.at[key] = at
	if w.count == w.limit {
		e := w.ring[w.head]
		// An entry superseded by a later one of the same id (key's own included, updated above)
		// drops no id.
		evicted = e.at > cutoff && w.at[e.id] == e.at
		evictedAt = e.at
		w.pop()
	}
	w.push(ringEntry{id: key, at: at})
	return evicted, evictedAt
}

// has reports whether id was delivered less than ttl ago.
func (w *window) has(id string) bool {
	key, ok := parseUUID(id)
	if !ok {
		return false
	}
	w.mu.Lock()
	at, ok := w.at[key]
	w.mu.Unlock()
	return ok && at > w.secs(time.Now().Add(-w.ttl))
}

func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.at)
}

// expire drops entries at or before cutoff from the head of the ring.
func (w *window) expire(cutoff uint32) {
	for w.count > 0 && w.ring[w.head].at <= cutoff {
		w.pop()
	}
}

func (w *window) push(e ringEntry) {
	if w.count == len(w.ring) {
		// Grow the ring (up to limit), unrolling it so the head is at 0.
		n := min(w.limit, max(1024, 2*len(w.ring)))
		ring := make([]ringEntry, n)
		for i := range w.count {
			ring[i] = w.ring[(w.head+i)%len(w.ring)]
		}
		w.ring, w.head = ring, 0
	}
	w.ring[(w.head+w.count)%len(w.ring)] = e
	w.count++
}

// pop removes the oldest ring entry, and its id from the map unless the id was re-added later.
func (w *window) pop() {
	e := w.ring[w.head]
	if at, ok := w.at[e.id]; ok && at == e.at {
		delete(w.at, e.id)
	}
	w.head = (w.head + 1) % len(w.ring)
	w.count--
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
