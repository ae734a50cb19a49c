package dedupe

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func uuidN(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// uuidV1 is the i-th time-based UUID of one host: the last 6 bytes are the host's node id (here
// a Docker MAC), the same in every id, as from MySQL UUID(), Cassandra timeuuid or Python uuid1.
func uuidV1(i int) string {
	ticks := 0x1ef0000_00000000 + uint64(i)*10 // 1 µs apart, in 100 ns ticks
	return fmt.Sprintf("%08x-%04x-1%03x-8000-0242ac110002", uint32(ticks), uint16(ticks>>32), uint16(ticks>>48)&0xfff)
}

func uuidV4(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i) }

// However the ids are made, the window holds its whole size of them: no id of the last size
// added is forgotten, and none is counted as evicted.
func TestWindowHoldsItsWholeSizeWhateverTheIDs(t *testing.T) {
	const size = 1600
	tests := []struct {
		name string
		give func(int) string
	}{
		{"UUIDv1 of one host", uuidV1},
		{"UUIDv4-like", uuidV4},
		{"sequential", uuidN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(size, time.Hour, nil)
			now := time.Now()
			for i := range 3 * size {
				w.add(tt.give(i), now)
			}
			forgotten := 0
			for i := 2 * size; i < 3*size; i++ {
				if !w.has(tt.give(i)) {
					forgotten++
				}
			}
			if forgotten > 0 {
				t.Fatalf("%d of the last %d ids added were forgotten (window of %d holds %d ids)",
					forgotten, size, size, w.len())
			}
			if n := w.len(); n != size {
				t.Fatalf("len = %d, want the whole size %d", n, size)
			}
		})
	}
}

// Only an id dropped for room while still inside the window is an eviction: one past the
// window is forgotten anyway.
func TestWindowCountsEvictionsInsideTheWindowOnly(t *testing.T) {
	const size = 10
	now := time.Now()
	tests := []struct {
		name    string
		olderAt time.Time // when the first size ids were delivered
		want    int
	}{
		{"inside the window", now.Add(-30 * time.Minute), size},
		{"past the window", now.Add(-2 * time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ages []time.Duration
			w := newWindow(size, time.Hour, func(age time.Duration) { ages = append(ages, age) })
			for i := range size {
				w.add(uuidV1(i), tt.olderAt)
			}
			for i := size; i < 2*size; i++ {
				w.add(uuidV1(i), now)
			}
			if len(ages) != tt.want {
				t.Fatalf("%d evictions counted, want %d", len(ages), tt.want)
			}
			for _, age := range ages {
				if age < 29*time.Minute || age > 31*time.Minute {
					t.Fatalf("evicted id's age = %s, want about 30m", age)
				}
			}
		})
	}
}

func TestWindowForgetsAfterTheTTLAndBeyondTheLimit(t *testing.T) {
	w := newWindow(32, time.Hour, nil)
	now := time.Now()
	w.add(uuidN(1), now.Add(-2*time.Hour)) // delivered before the window
	w.add(uuidN(2), now)
	if w.has(uuidN(1)) || !w.has(uuidN(2)) {
		t.Fatalf("has(old)=%v has(new)=%v, want false true", w.has(uuidN(1)), w.has(uuidN(2)))
	}
	for i := 100; i < 200; i++ {
		w.add(uuidN(i), now)
	}
	if n := w.len(); n > 32 {
		t.Fatalf("len = %d, over the limit of 32", n)
	}
	if !w.has(uuidN(199)) {
		t.Fatal("the newest id was evicted")
	}
}

func TestWindowReAddKeepsTheNewerTime(t *testing.T) {
	w := newWindow(1000, time.Hour, nil)
	id := uuidN(7)
	w.add(id, time.Now().Add(-2*time.Hour))
	w.add(id, time.Now())
	w.expire(w.secs(time.Now().Add(-time.Hour)))
	if !w.has(id) {
		t.Fatal("expiring the old entry of a re-added id forgot the new one")
	}
}

func TestParseUUID(t *testing.T) {
	tests := []struct {
		give string
		ok   bool
	}{
		{"0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", true},
		{"0B6F7A3E-1C2D-4E5F-8A9B-0C1D2E3F4A5B", true},
		{"0b6f7a3e1c2d4e5f8a9b0c1d2e3f4a5b", false},
		{"0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5g", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if _, ok := parseUUID(tt.give); ok != tt.ok {
				t.Errorf("parseUUID(%q) ok = %v, want %v", tt.give, ok, tt.ok)
			}
		})
	}
}

// The reason window exists: a million ids must fit well under the forwarder's memory budget.
func TestWindowMemoryPerID(t *testing.T) {
	per := heapPerID(200_000)
	if per <= 0 || per > 80 {
		t.Fatalf("%.0f bytes per id, want at most 80", per)
	}
	t.Logf("%.0f bytes per id", per)
}

// BenchmarkWindowHeapPerID reports the heap one remembered id costs in a full window, the figure
// behind the README's DEDUPE_CACHE_SIZE sizing and BytesPerID: go test -run '^$' -bench
// WindowHeapPerID -benchtime 1x ./internal/dedupe/
func BenchmarkWindowHeapPerID(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 2_000_000, 4_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				b.ReportMetric(heapPerID(n), "heap-B/id")
			}
		})
	}
}

// heapPerID fills a window of n ids with n UUIDv1 ids and returns the heap it took per id.
func heapPerID(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // twice: the first may only finish sweeping what earlier tests left
	runtime.ReadMemStats(&before)
	w := newWindow(n, time.Hour, nil)
	now := time.Now()
	for i := range n {
		w.add(uuidV1(i), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(w)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
