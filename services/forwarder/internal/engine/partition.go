package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionDeps is what a partition needs from the engine, and no more.
type partitionDeps struct {
	handle   Handler
	slots    chan struct{}         // the engine-wide bound on records doing work
	started  chan struct{}         // the engine-wide bound on records not yet finished
	pause    func()                // stop fetching this partition
	resume   func()                // fetch it again
	mark     func(kgo.EpochOffset) // the offset franz-go may commit
	fail     func(error)           // stop the engine
	inFlight prometheus.Gauge      // records holding a slot
	log      *slog.Logger
}

// partition is the work of one assigned partition: the records fetched and not yet started, a
// feeder goroutine that starts them as slots free up, and the watermark of what finished.
type partition struct {
	partitionDeps
	id int32

	// stop ends waiting (for a slot, a retry, the circuit); an HTTP attempt under way still
	// finishes. hard ends everything, when a revoke's deadline passes.
	stop, hard             context.Context
	cancelStop, cancelHard context.CancelFunc

	own     chan struct{} // per-partition slots
	wake    chan struct{} // 1-buffered: records were enqueued
	stopped chan struct{} // closed when the feeder returns
	running sync.WaitGroup

	mu         sync.Mutex
	pending    []*kgo.Record
	lastOffset int64 // of the last record enqueued
	firstSeen  int64 // offset of the first record enqueued
	paused     bool
	marks      *watermark
}

func newPartition(id int32, perPartition int, deps partitionDeps) *partition {
	p := &partition{
		partitionDeps: deps,
		id:            id,
		own:           make(chan struct{}, perPartition),
		wake:          make(chan struct{}, 1),
		stopped:       make(chan struct{}),
		marks:         newWatermark(),
		lastOffset:    -1,
		firstSeen:     -1,
	}
	p.hard, p.cancelHard = context.WithCancel(context.Background())
	p.stop, p.cancelStop = context.WithCancel(p.hard)
	return p
}

// highWater is how many fetched-but-unstarted records make us pause fetching this partition.
func (p *partition) highWater() int { return 2 * cap(p.own) }

// enqueue takes fetched records (called from the poll loop). Records buffered before a pause may
// still arrive after it; they are kept.
func (p *partition) enqueue(recs []*kgo.Record) {
	p.mu.Lock()
	if p.firstSeen < 0 {
		p.firstSeen = recs[0].Offset
	}
	for _, r := range recs {
		if r.Offset <= p.lastOffset {
			// The watermark needs offsets in order. Going back within one assignment is an
			// offset reset (the log was truncated under us): stop, and the restart reads from
			// the committed offset again, markers keeping deliveries single.
			p.mu.Unlock()
			p.fail(fmt.Errorf("partition %d: offsets went back from %d to %d (offset reset); restarting",
				p.id, p.lastOffset, r.Offset))
			return
		}
		p.lastOffset = r.Offset
		p.pending = append(p.pending, r)
	}
	if !p.paused && len(p.pending) >= p.highWater() {
		// Under the lock, so a resume from the feeder cannot overtake it.
		p.paused = true
		p.pause()
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// firstOffset is the first offset read in this assignment, -1 before any.
func (p *partition) firstOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstSeen
}

// readUpTo is the offset after the last record read, -1 before any.
func (p *partition) readUpTo() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastOffset < 0 {
		return -1
	}
	return p.lastOffset + 1
}

// next waits for the next record to start; nil when the partition stops.
func (p *partition) next() *kgo.Record {
	for {
		p.mu.Lock()
		if len(p.pending) > 0 {
			r := p.pending[0]
			p.pending[0] = nil
			p.pending = p.pending[1:]
			if p.paused && len(p.pending) < p.highWater()/2 {
				p.paused = false
				p.resume()
			}
			p.mu.Unlock()
			return r
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.stop.Done():
			return nil
		}
	}
}

// feed starts records in offset order as slots free up.
func (p *partition) feed() {
	defer close(p.stopped)
	for {
		r := p.next()
		if r == nil {
			return
		}
		if r.Attrs.IsControl() {
			// A transaction marker is not an event: it is finished as soon as it is seen.
			p.mu.Lock()
			p.marks.start(r)
			p.finishLocked(r.Offset)
			p.mu.Unlock()
			continue
		}
		select {
		case p.own <- struct{}{}:
		case <-p.stop.Done():
			return
		}
		select {
		case p.started <- struct{}{}:
		case <-p.stop.Done():
			<-p.own
			return
		}
		select {
		case p.slots <- struct{}{}:
		case <-p.stop.Done():
			<-p.started
			<-p.own
			return
		}
		p.mu.Lock()
		if p.stop.Err() != nil {
			p.mu.Unlock()
			<-p.slots
			<-p.started
			<-p.own
			return
		}
		p.marks.start(r)
		p.running.Add(1)
		p.mu.Unlock()
		p.inFlight.Inc()
		go p.run(r)
	}
}

// run works on one record and, when it is finished, marks its offset so the watermark can pass
// it.
func (p *partition) run(r *kgo.Record) {
	defer p.running.Done()
	defer func() { <-p.started }()
	var once sync.Once
	release := func() {
		once.Do(func() {
			p.inFlight.Dec()
			<-p.slots
			<-p.own
		})
	}
	defer release()
	if err := p.handle(p.stop, p.hard, r, release); err != nil {
		if p.stop.Err() == nil {
			// Not stopped, yet not finished (a write Kafka refuses for good): the watermark
			// could never pass this record, so stop rather than stall the partition unseen.
			p.fail(fmt.Errorf("partition %d offset %d: %w", p.id, r.Offset, err))
			return
		}
		// Stopped: the offset stays uncommitted and whoever owns the partition next redoes it.
		p.log.Debug("record left unfinished", "partition", p.id, "offset", r.Offset, "err", err)
		return
	}
	p.mu.Lock()
	p.finishLocked(r.Offset)
	p.mu.Unlock()
}

// finishLocked marks offset finished and, when the finished prefix grew, hands its end to
// franz-go to commit. A late mark of a partition handed on is ignored by franz-go.
func (p *partition) finishLocked(offset int64) {
	before, _ := p.marks.committable()
	p.marks.finish(offset)
	if after, ok := p.marks.committable(); ok && after != before {
		p.mark(after)
	}
}

// drain stops taking work on all of parts at once and waits until deadline for their running
// records to finish. Records waiting for a retry or for the circuit stop waiting at once; an HTTP
// attempt under way is let finish so we know whether it was delivered, and its marker written.
func drain(parts []*partition, deadline time.Time, log *slog.Logger) {
	for _, p := range parts {
		p.cancelStop()
	}
	for _, p := range parts {
		<-p.stopped
	}
	done := make(chan struct{})
	go func() {
		for _, p := range parts {
			p.running.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		log.Warn("revoke deadline passed with records in flight; they stay uncommitted")
	}
	for _, p := range parts {
		p.cancelHard()
	}
}

// abandon stops everything at once (the partition was lost).
func (p *partition) abandon() {
	p.cancelHard()
	<-p.stopped
}
