package engine

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
)

// watermark tracks the records of one partition that were started, in offset order, and finds
// the offset that is safe to commit: the one after the longest finished prefix. Records finish
// out of order (a record waiting for a retry does not hold up those behind it); the commit waits
// for the oldest unfinished one. Not safe for concurrent use: the partition's lock guards it.
type watermark struct {
	offsets []int64
	epochs  []int32
	done    []bool
	head    int
	next    kgo.EpochOffset // offset after the finished prefix; Offset -1 until something finished
}

func newWatermark() *watermark {
	return &watermark{next: kgo.EpochOffset{Epoch: -1, Offset: -1}}
}

// start records that r was started. Records of a partition arrive in offset order.
func (w *watermark) start(r *kgo.Record) {
	w.offsets = append(w.offsets, r.Offset)
	w.epochs = append(w.epochs, r.LeaderEpoch)
	w.done = append(w.done, false)
}

// finish marks the record at offset as finished and advances the committable offset.
func (w *watermark) finish(offset int64) {
	live := w.offsets[w.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= offset })
	if i == len(live) || live[i] != offset {
		return
	}
	w.done[w.head+i] = true
	for w.head < len(w.offsets) && w.done[w.head] {
		w.next = kgo.EpochOffset{Epoch: w.epochs[w.head], Offset: w.offsets[w.head] + 1}
		w.head++
	}
	// Drop the finished prefix once it is most of the slices.
	if w.head > 1024 && w.head*2 > len(w.offsets) {
		n := copy(w.offsets, w.offsets[w.head:])
		copy(w.epochs, w.epochs[w.head:])
		copy(w.done, w.done[w.head:])
		w.offsets, w.epochs, w.done = w.offsets[:n], w.epochs[:n], w.done[:n]
		w.head = 0
	}
}

// pending is the number of started records not yet finished.
func (w *watermark) pending() int {
	n := 0
	for _, d := range w.done[w.head:] {
		if !d {
			n++
		}
	}
	return n
}

// committable returns the offset to commit; ok is false when nothing finished yet.
func (w *watermark) committable() (kgo.EpochOffset, bool) {
	return w.next, w.next.Offset >= 0
}
