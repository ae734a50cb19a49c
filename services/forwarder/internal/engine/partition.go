package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partition is the work of one assigned partition: the records fetched and not yet started, a
// feeder goroutine that starts them as slots free up, and the watermark of what finished.
type partition struct {
	e  *Engine
	id int32

	// stop ends waiting (for a slot, a retry, the circuit); an HTTP attempt under way still
	// finishes. hard ends everything, when a revoke's deadline passes.
	stop, hard             context.Context
	cancelStop, cancelHard context.CancelFunc

	slots   chan struct{} // MaxPerPartition
	wake    chan struct{} // 1-buffered: records were enqueued
	stopped chan struct{} // closed when the feeder returns
	active  chan struct{} // one token per running record; drained on revoke

	mu         sync.Mutex
	pending    []*kgo.Record
	lastOffset int64 // of the last record enqueued
	firstSeen  int64 // offset of the first record enqueued: about the committed position at assignment
	logEnd     int64 // the partition's high watermark in the last fetch
	paused     bool
	marks      *watermark
	lastCommit int64
}

func newPartition(e *Engine, id int32) *partition {
	p := &partition{
		e:          e,
		id:         id,
		slots:      make(chan struct{}, e.cfg.MaxPerPartition),
		wake:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		active:     make(chan struct{}, e.cfg.MaxPerPartition),
		marks:      newWatermark(),
		lastOffset: -1,
		firstSeen:  -1,
		logEnd:     -1,
		lastCommit: -1,
	}
	p.hard, p.cancelHard = context.WithCancel(context.Background())
	p.stop, p.cancelStop = context.WithCancel(p.hard)
	return p
}

func (p *partition) lock()   { p.mu.Lock() }
func (p *partition) unlock() { p.mu.Unlock() }

// highWater is how many fetched-but-unstarted records make us pause fetching this partition.
func (p *partition) highWater() int { return 2 * p.e.cfg.MaxPerPartition }

// enqueue takes fetched records and the partition's log end (high watermark) with them (called
// from the poll loop). Records buffered before a pause may still arrive after it; they are kept.
func (p *partition) enqueue(recs []*kgo.Record, logEnd int64) {
	p.lock()
	p.logEnd = max(p.logEnd, logEnd)
	if p.firstSeen < 0 && len(recs) > 0 {
		p.firstSeen = recs[0].Offset
	}
	for _, r := range recs {
		if r.Offset <= p.lastOffset {
			// The watermark needs offsets in order. Going back within one assignment is an
			// offset reset (the log was truncated under us): stop, and the restart reads from
			// the committed offset again, markers keeping deliveries single.
			p.unlock()
			p.e.fail(fmt.Errorf("partition %d: offsets went back from %d to %d (offset reset); restarting",
				p.id, p.lastOffset, r.Offset))
			return
		}
		p.lastOffset = r.Offset
		p.pending = append(p.pending, r)
	}
	if !p.paused && len(p.pending) >= p.highWater() {
		// Under the lock, so a resume from the feeder cannot overtake it.
		p.paused = true
		p.e.cl.PauseFetchPartitions(map[string][]int32{p.e.cfg.EventsTopic: {p.id}})
	}
	p.unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// next waits for the next record to start; nil when the partition stops.
func (p *partition) next() *kgo.Record {
	for {
		p.lock()
		if len(p.pending) > 0 {
			r := p.pending[0]
			p.pending[0] = nil
			p.pending = p.pending[1:]
			if p.paused && len(p.pending) < p.highWater()/2 {
				p.paused = false
				p.e.cl.ResumeFetchPartitions(map[string][]int32{p.e.cfg.EventsTopic: {p.id}})
			}
			p.unlock()
			return r
		}
		p.unlock()
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
			p.lock()
			p.marks.start(r)
			p.marks.finish(r.Offset)
			p.unlock()
			continue
		}
		select {
		case p.slots <- struct{}{}:
		case <-p.stop.Done():
			return
		}
		select {
		case p.e.slots <- struct{}{}:
		case <-p.stop.Done():
			<-p.slots
			return
		}
		p.lock()
		if p.stop.Err() != nil {
			p.unlock()
			<-p.e.slots
			<-p.slots
			return
		}
		p.marks.start(r)
		p.active <- struct{}{}
		p.unlock()
		p.e.metrics.InFlight.Inc()
		go p.run(r)
	}
}

// run works on one record and, when it is finished (delivered, skipped or dead-lettered), marks
// its offset so the watermark can pass it.
func (p *partition) run(r *kgo.Record) {
	defer func() {
		p.e.metrics.InFlight.Dec()
		<-p.e.slots
		<-p.slots
		<-p.active
	}()
	if err := p.e.process(p.stop, p.hard, r); err != nil {
		if p.stop.Err() == nil {
			// Not stopped, yet not finished (a DLQ or marker write Kafka refuses): the watermark
			// could never pass this record, so stop rather than stall the partition unseen.
			p.e.fail(fmt.Errorf("partition %d offset %d: %w", p.id, r.Offset, err))
			return
		}
		// Stopped: the offset stays uncommitted and whoever owns the partition next redoes it.
		p.e.log.Debug("record left unfinished", "partition", p.id, "offset", r.Offset, "err", err)
		return
	}
	p.lock()
	p.marks.finish(r.Offset)
	p.unlock()
}

// drain stops taking work and waits until deadline for the running records to finish. Records
// waiting for a retry or for the circuit stop waiting at once; an HTTP attempt under way is let
// finish so we know whether it was delivered.
func (p *partition) drain(deadline time.Time) {
	p.cancelStop()
	<-p.stopped
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for i := 0; i < cap(p.active); i++ {
		select {
		case p.active <- struct{}{}:
		case <-ctx.Done():
			p.cancelHard()
			p.e.log.Warn("revoke deadline passed with records in flight; they stay uncommitted",
				"partition", p.id)
			return
		}
	}
	p.cancelHard()
}

// abandon stops everything at once (the partition was lost).
func (p *partition) abandon() {
	p.cancelHard()
	<-p.stopped
}

// toCommit returns the offset to commit when it moved since the last commit.
func (p *partition) toCommit() (kgo.EpochOffset, bool) {
	p.lock()
	defer p.unlock()
	o, ok := p.marks.committable()
	return o, ok && o.Offset > p.lastCommit
}

func (p *partition) committed(offset int64) {
	p.lock()
	defer p.unlock()
	p.lastCommit = max(p.lastCommit, offset)
}

// lag is how many records of the partition are not committed yet, as far as the last fetch knows;
// ok is false before anything was fetched.
func (p *partition) lag() (n int64, ok bool) {
	p.lock()
	defer p.unlock()
	if p.logEnd < 0 || p.firstSeen < 0 {
		return 0, false
	}
	return max(0, p.logEnd-max(p.lastCommit, p.firstSeen)), true
}
