// Package dedupe knows which event_ids were delivered within the dedupe window.
//
// The truth is a compacted Kafka topic (DEDUPE_TOPIC, default events.delivered): one marker record
// per delivered event, keyed by event_id, written (and acknowledged) before the offset of the
// event's record is committed. Markers are partitioned like events.raw (same partition count,
// same key hash), so the markers of everything a partition delivered sit in the same partition
// number of the marker topic. When a forwarder is assigned a partition it reads that partition's
// markers of the last window back into memory before touching the partition's records.
//
// In memory, a compact time window (window.go) holds the delivered ids, and a map of the ids being
// worked on right now lets a second copy wait for the first instead of racing it.
package dedupe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrDuplicate says the event was already delivered within the window.
var ErrDuplicate = errors.New("already delivered")

// Store is safe for concurrent use.
type Store struct {
	topic  string
	size   int
	window time.Duration
	cache  *window

	mu       sync.Mutex
	inFlight map[string]chan struct{}

	log       *slog.Logger
	evictions Counter
	evicted   atomic.Int64 // ids evicted inside the window, for the warning
	lastWarn  atomic.Int64 // unix nanoseconds of the last eviction warning
}

// Counter is what a Store counts its evictions on (a prometheus.Counter).
type Counter interface{ Inc() }

// Option configures a Store.
type Option func(*Store)

// WithEvictionReport counts on evictions every id evicted for room while still inside the window
// (a copy of it arriving later would be delivered again), and logs such evictions on log at most
// once a minute, with the DEDUPE_CACHE_SIZE the current rate needs.
func WithEvictionReport(log *slog.Logger, evictions Counter) Option {
	return func(s *Store) { s.log, s.evictions = log, evictions }
}

// New returns a store that remembers up to size ids for window.
func New(topic string, size int, window time.Duration, opts ...Option) *Store {
	s := &Store{
		topic:    topic,
		size:     size,
		window:   window,
		inFlight: make(map[string]chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.cache = newWindow(size, window, s.onEvict)
	return s
}

// BytesPerID is about what one remembered id costs on the heap in a full window of a million ids
// or more (BenchmarkWindowHeapPerID measures it), for the sizing advice.
const BytesPerID = 65

// evictWarnEvery is how often an eviction is logged at most.
const evictWarnEvery = time.Minute

// onEvict is called for an id evicted for room age after it was delivered, age < window.
func (s *Store) onEvict(age time.Duration) {
	total := s.evicted.Add(1)
	if s.evictions != nil {
		s.evictions.Inc()
	}
	if s.log == nil {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(evictWarnEvery) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	// The window's size ids span age: at this rate a whole window needs size*window/age of them.
	need := int64(float64(s.size) * float64(s.window) / float64(max(age, time.Second)))
	s.log.Warn("dedupe window full: an event_id still inside DEDUPE_WINDOW was forgotten; a copy of it arriving later would be delivered again",
		"evicted_total", total,
		"dedupe_cache_size", s.size,
		"dedupe_window", s.window.String(),
		"evicted_id_age", age.Round(time.Second).String(),
		"advice", fmt.Sprintf("set DEDUPE_CACHE_SIZE to at least %d (ids this forwarder delivers per DEDUPE_WINDOW at the current rate; about %d MiB at %d bytes per id), or shorten DEDUPE_WINDOW, or spread the partitions over more forwarders",
			need, (need*BytesPerID+1<<20-1)>>20, BytesPerID))
}

// Delivered reports whether id was delivered within the window.
func (s *Store) Delivered(id string) bool {
	return s.cache.has(id)
}

// Claim makes the caller the one copy of id being worked on. It returns ErrDuplicate when id was
// delivered, and waits while another copy is in flight (then looks again: if that copy was
// dead-lettered rather than delivered, this one gets its own chance). The caller must call
// release when it is done with the event, delivered or not.
func (s *Store) Claim(ctx context.Context, id string) (release func(), err error) {
	for {
		// Looked at under mu: a copy's release deletes its in-flight entry under mu after marking
		// it delivered, so a copy that finds no entry here also sees that mark. (Looked at
		// before taking mu, the first copy could mark and release in between, and the id go out
		// a second time.)
		s.mu.Lock()
		if s.Delivered(id) {
			s.mu.Unlock()
			return nil, ErrDuplicate
		}
		wait, busy := s.inFlight[id]
		if !busy {
			done := make(chan struct{})
			s.inFlight[id] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.inFlight, id)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// MarkDelivered remembers id in memory; Marker is the record that makes it durable.
func (s *Store) MarkDelivered(id string, at time.Time) {
	s.cache.add(id, at)
}

// Marker is the record to write to the marker topic once id is delivered. Its key is the event id,
// so the default partitioner puts it in the same partition number as the event.
func (s *Store) Marker(id string, at time.Time) *kgo.Record {
	return &kgo.Record{
		Topic:     s.topic,
		Key:       []byte(id),
		Value:     []byte(strconv.FormatInt(at.UnixMilli(), 10)),
		Timestamp: at,
	}
}

// LoadStall is how long Load waits for a fetch before it gives up on the read.
const LoadStall = 10 * time.Second

// Load reads back the markers of the window for the given partitions of the marker topic, with
// a short-lived client of its own built from opts (seed brokers and the like). It returns how many
// markers it loaded.
func (s *Store) Load(ctx context.Context, opts []kgo.Opt, partitions []int32) (int, error) {
	if len(partitions) == 0 {
		return 0, nil
	}
	// One client: it looks up the window's offsets, then reads from them.
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("dedupe loader client: %w", err)
	}
	defer cl.Close()
	admin := kadm.NewClient(cl)
	since := time.Now().Add(-s.window)
	starts, err := admin.ListOffsetsAfterMilli(ctx, since.UnixMilli(), s.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list %s offsets after %s: %w", s.topic, since.Format(time.RFC3339), err)
	}
	ends, err := admin.ListEndOffsets(ctx, s.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list %s end offsets: %w", s.topic, err)
	}

	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	for _, p := range partitions {
		start, okStart := starts.Lookup(s.topic, p)
		end, okEnd := ends.Lookup(s.topic, p)
		if !okStart || !okEnd || start.Offset >= end.Offset {
			continue
		}
		from[p] = kgo.NewOffset().At(start.Offset)
		until[p] = end.Offset
	}
	if len(from) == 0 {
		return 0, nil
	}

	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: from})
	loaded := 0
	for len(until) > 0 {
		pctx, cancel := context.WithTimeout(ctx, LoadStall)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return loaded, fmt.Errorf("load %s: %w", s.topic, err)
		}
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			return loaded, fmt.Errorf("load %s: nothing fetched for %s (a partition without a leader?)", s.topic, LoadStall)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			return loaded, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, want := until[r.Partition]
			if !want {
				return
			}
			if r.Offset < end && r.Value != nil {
				at, err := strconv.ParseInt(string(r.Value), 10, 64)
				if err == nil && time.Since(time.UnixMilli(at)) < s.window {
					s.cache.add(string(r.Key), time.UnixMilli(at))
					loaded++
				}
			}
			if r.Offset+1 >= end {
				delete(until, r.Partition)
			}
		})
	}
	return loaded, nil
}
