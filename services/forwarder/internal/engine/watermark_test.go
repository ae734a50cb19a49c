package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWatermarkCommitsOnlyTheFinishedPrefix(t *testing.T) {
	tests := []struct {
		name     string
		started  []int64
		finished []int64
		want     int64 // -1: nothing to commit
	}{
		{"nothing finished", []int64{0, 1, 2}, nil, -1},
		{"in order", []int64{0, 1, 2}, []int64{0, 1}, 2},
		{"out of order, gap at the head", []int64{0, 1, 2}, []int64{1, 2}, -1},
		{"out of order, gap closed", []int64{0, 1, 2}, []int64{2, 1, 0}, 3},
		{"offsets with holes (compaction)", []int64{5, 9, 10}, []int64{5, 9}, 10},
		{"a slow one in the middle", []int64{0, 1, 2, 3}, []int64{0, 2, 3}, 1},
		{"unknown offset ignored", []int64{0, 1}, []int64{7, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWatermark()
			for _, o := range tt.started {
				w.start(&kgo.Record{Offset: o, LeaderEpoch: 3})
			}
			for _, o := range tt.finished {
				w.finish(o)
			}
			got, ok := w.committable()
			if !ok {
				got.Offset = -1
			}
			if got.Offset != tt.want {
				t.Fatalf("committable = %d, want %d", got.Offset, tt.want)
			}
		})
	}
}

func TestWatermarkCompactsAndKeepsCounting(t *testing.T) {
	w := newWatermark()
	const n = 5000
	for o := int64(0); o < n; o++ {
		w.start(&kgo.Record{Offset: o})
	}
	// Finish all but the last, mostly in reverse.
	w.finish(0)
	for o := int64(n - 2); o >= 1; o-- {
		w.finish(o)
	}
	if got, _ := w.committable(); got.Offset != n-1 {
		t.Fatalf("committable = %d, want %d", got.Offset, n-1)
	}
	if w.pending() != 1 {
		t.Fatalf("pending = %d, want 1", w.pending())
	}
	w.finish(n - 1)
	if got, _ := w.committable(); got.Offset != n {
		t.Fatalf("committable = %d, want %d", got.Offset, n)
	}
	if len(w.offsets) >= n {
		t.Fatalf("finished prefix not dropped: %d offsets kept", len(w.offsets))
	}
}

// The watermark needs offsets in order; a partition that sees them go back (an offset reset)
// stops the engine instead of committing past records it has not finished.
func TestPartitionStopsWhenOffsetsGoBack(t *testing.T) {
	var failed error
	p := newPartition(3, 8, partitionDeps{
		pause: func() {}, resume: func() {}, fail: func(err error) { failed = err },
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	p.enqueue([]*kgo.Record{{Partition: 3, Offset: 5}, {Partition: 3, Offset: 6}})
	if failed != nil {
		t.Fatalf("stopped on offsets in order: %v", failed)
	}
	p.enqueue([]*kgo.Record{{Partition: 3, Offset: 2}})
	if failed == nil {
		t.Fatal("offsets went from 6 back to 2 and the engine goes on")
	}
	if len(p.pending) != 2 {
		t.Errorf("%d records pending, want the 2 in order", len(p.pending))
	}
}
