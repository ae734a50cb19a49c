package dedupe

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func uuidN(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func TestWindowForgetsAfterTheTTLAndBeyondTheLimit(t *testing.T) {
	w := newWindow(32, time.Hour)
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
	w := newWindow(1000, time.Hour)
	id := uuidN(7)
	w.add(id, time.Now().Add(-2*time.Hour))
	w.add(id, time.Now())
	w.shards[0].expire(w.secs(time.Now().Add(-time.Hour)))
	for i := range w.shards {
		w.shards[i].expire(w.secs(time.Now().Add(-time.Hour)))
	}
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
	const n = 200_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // twice: the first may only finish sweeping what earlier tests left
	runtime.ReadMemStats(&before)
	w := newWindow(n, time.Hour)
	now := time.Now()
	for i := range n {
		w.add(uuidN(i), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	runtime.KeepAlive(w)
	if per <= 0 || per > 80 {
		t.Fatalf("%d bytes per id, want at most 80", per)
	}
	t.Logf("%d bytes per id", per)
}
