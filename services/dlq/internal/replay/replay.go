package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
)

// Config is one replay run.
type Config struct {
	Name        string
	DLQTopic    string
	EventsTopic string
	// Plan has every partition of the DLQ topic: [position, end) for those the filter covers,
	// an empty range at the position for the others (they are not read and do not move).
	Plan   scan.Plan
	Filter filter.Filter
	Policy Policy
	Max    int64   // records to send at most; 0: no limit
	Rate   float64 // records sent per second at most; 0: no limit
	Batch  int     // records per transaction at most
	// TransactionTimeout is how long the broker lets a transaction stay open before it aborts
	// it: a killed run's open transaction holds the forwarder's read_committed reads of the
	// partitions it wrote to until then (or until the next run of the name fences it).
	TransactionTimeout time.Duration
	// Ledger is the topic each committed batch also writes its entry to (LedgerTopic); ""
	// keeps no ledger.
	Ledger string
	Now    func() time.Time
	// Progress, if set, is called after every committed batch with the offsets looked at so far.
	Progress func(done int64, s Summary)
}

// Counts are what a run (or one of its batches) did with the records it looked at: every record
// looked at is in exactly one of Unmatched, Duplicates, Sent, Capped, HeldInvalid, HeldOld and
// HeldTooLarge.
type Counts struct {
	Looked       int64 `json:"looked_at"`
	Unmatched    int64 `json:"unmatched"`
	Duplicates   int64 `json:"duplicates"` // another copy of a source record already selected
	Sent         int64 `json:"sent"`
	Capped       int64 `json:"capped"`
	HeldInvalid  int64 `json:"held_invalid"`
	HeldOld      int64 `json:"held_old"`
	HeldTooLarge int64 `json:"held_too_large"`
}

func (c *Counts) add(b Counts) {
	c.Looked += b.Looked
	c.Unmatched += b.Unmatched
	c.Duplicates += b.Duplicates
	c.Sent += b.Sent
	c.Capped += b.Capped
	c.HeldInvalid += b.HeldInvalid
	c.HeldOld += b.HeldOld
	c.HeldTooLarge += b.HeldTooLarge
}

// Summary is what a run did.
type Summary struct {
	Name   string `json:"name,omitempty"`
	DryRun bool   `json:"dry_run"`
	Counts
	CappedAt  []string `json:"capped_at,omitempty"` // the first few, as topic/partition/offset
	Remaining int64    `json:"remaining"`           // offsets of the plan not looked at (--max stopped the run)
	Stop      Stop     `json:"stopped"`             // why the run ended
	// AllRuns adds up every run of the name, this one included (from the ledger; not for a
	// dry run).
	AllRuns *Total `json:"all_runs,omitempty"`
}

// Total is what every run of a name did.
type Total struct {
	Runs int `json:"runs"`
	Counts
}

// Stop says why a run ended.
type Stop string

const (
	StopEnd         Stop = "end"         // it looked at every record of its plan
	StopMax         Stop = "max"         // it sent Max records
	StopInterrupted Stop = "interrupted" // its context ended (Ctrl-C, SIGTERM)
	StopTakenOver   Stop = "taken_over"  // a newer run of the same name fenced it
	StopFailed      Stop = "failed"      // an error; Run returns it
)

// ErrTakenOver is the error of a run that a newer run of the same name took over: its open
// batch was aborted, so nothing it did is lost or doubled, and the newer run goes on from the
// last committed batch.
var ErrTakenOver = errors.New("another run of the same name took over")

// maxCappedAt bounds Summary.CappedAt.
const maxCappedAt = 20

func (s *Summary) count(r *kgo.Record, d Decision) {
	switch d {
	case Send:
		s.Sent++
	case Capped:
		s.Capped++
		if len(s.CappedAt) < maxCappedAt {
			s.CappedAt = append(s.CappedAt, dlqrecord.Where(r))
		}
	case HeldInvalid:
		s.HeldInvalid++
	case HeldOld:
		s.HeldOld++
	case HeldTooLarge:
		s.HeldTooLarge++
	}
}

func (s *Summary) add(b Summary) {
	s.Counts.add(b.Counts)
	for _, w := range b.CappedAt {
		if len(s.CappedAt) < maxCappedAt {
			s.CappedAt = append(s.CappedAt, w)
		}
	}
}

// Fence takes over the transactional id of the replay called name, with a short-lived client
// built from opts: a transaction an earlier run left open (killed halfway through a batch) is
// aborted now rather than at its timeout, and a run of the same name still going elsewhere can
// no longer commit. Call it before Positions.
// timeout is the transaction timeout the run will use: the broker keeps the last one asked for.
func Fence(ctx context.Context, opts []kgo.Opt, name string, timeout time.Duration) error {
	cl, err := kgo.NewClient(append(slices.Clip(opts), kgo.TransactionalID(TransactionalID(name)),
		kgo.TransactionTimeout(Config{TransactionTimeout: timeout}.transactionTimeout()))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("take over transactional id %s: %w", TransactionalID(name), err)
	}
	return nil
}

// Positions returns the committed position of the replay called name in topic, by partition;
// a partition it never committed is missing. Pending transactional commits are waited for, and
// passing coordinator errors (the offsets topic being created on a fresh cluster) are retried
// until ctx ends.
func Positions(ctx context.Context, adm *kadm.Client, name, topic string) (map[int32]int64, error) {
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	for {
		resp, err := adm.FetchOffsets(kadm.RequireStable(ctx), GroupID(name))
		if errors.Is(err, kerr.GroupIDNotFound) {
			return map[int32]int64{}, nil
		}
		if err == nil {
			err = resp.Error()
		}
		if err == nil {
			out := map[int32]int64{}
			for p, o := range resp[topic] {
				if o.At >= 0 {
					out[p] = o.At
				}
			}
			return out, nil
		}
		if !kerr.IsRetriable(err) {
			return nil, fmt.Errorf("position of replay %s (group %s): %w", name, GroupID(name), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("position of replay %s (group %s): %w (%w)", name, GroupID(name), ctx.Err(), err)
		case <-retry.C:
		}
	}
}

// PlanFor is the plan of a replay: each partition from its position (or its log start, when it
// has none or the records there are gone) up to its end now, cut at the filter's --to-offset;
// partitions the filter leaves out get an empty range at the position.
func PlanFor(bounds map[int32]scan.Bounds, positions map[int32]int64, f filter.Filter) scan.Plan {
	plan := make(scan.Plan, len(bounds))
	for p, b := range bounds {
		start := max(b.Low, positions[p])
		if !f.InScope(p) {
			plan[p] = scan.Range{Start: start, End: start}
			continue
		}
		// Range also moves the start to --from-offset; a replay reads from its position instead
		// and counts the records before --from-offset as looked at, so only the end is taken.
		// Range's end is at least --from-offset, which may be past the end now: offsets that do
		// not exist yet would be waited for, and would be past the snapshot anyway.
		_, end := f.Range(p, start, b.High)
		end = min(end, b.High)
		plan[p] = scan.Range{Start: start, End: max(start, end)}
	}
	return plan
}

// DefaultTransactionTimeout is REPLAY_TRANSACTION_TIMEOUT's default.
const DefaultTransactionTimeout = 5 * time.Second

func (c Config) transactionTimeout() time.Duration {
	if c.TransactionTimeout > 0 {
		return c.TransactionTimeout
	}
	return DefaultTransactionTimeout
}

// PassedOver are the offsets of plan that come before the filter's --from-offset, by
// partition: a replay looks at them only to move its position past them, so it never judges or
// sends them, and a later run of the same name will not either.
func PassedOver(plan scan.Plan, f filter.Filter) map[int32]scan.Range {
	from := f.FromOffset()
	out := map[int32]scan.Range{}
	for p, r := range plan {
		if f.InScope(p) && from > r.Start && r.Start < r.End {
			out[p] = scan.Range{Start: r.Start, End: min(from, r.End)}
		}
	}
	return out
}

func (c Config) batchSize() int {
	n := max(c.Batch, 1)
	if c.Rate > 0 {
		// A transaction should last about a second at the given pace: it holds back the
		// forwarder's read_committed reads of events.raw until it ends.
		n = min(n, max(1, int(math.Ceil(c.Rate))))
	}
	return n
}

func (c Config) limiter() *rate.Limiter {
	if c.Rate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(c.Rate), 1)
}

// Item is one selected record of a dry run and what a replay would do with it.
type Item struct {
	Record  *kgo.Record // in the DLQ
	Verdict Verdict
	Out     *kgo.Record // what would be written to the events topic, when sent
}

// DryRun reads what Run would read, in the order Run reads it (scan.ReadInOrder), with a plain
// reader of its own, and calls show for every record the filters select, with what a replay
// would do with it: with Max, exactly the records Run would send. It writes nothing and commits
// nothing.
func DryRun(ctx context.Context, opts []kgo.Opt, c Config, show func(Item)) (Summary, error) {
	sum := Summary{Name: c.Name, DryRun: true}
	now := c.Now()
	stopped := false
	seen, err := c.lookBack(ctx, opts)
	if err != nil {
		sum.Stop = StopFailed
		return sum, err
	}
	err = scan.ReadInOrder(ctx, opts, c.DLQTopic, c.Plan, func(r *kgo.Record) bool {
		sum.Looked++
		f := dlqrecord.Read(r)
		if !c.Filter.Match(r, f) {
			sum.Unmatched++
			return true
		}
		if !seen.first(r) {
			sum.Duplicates++
			return true
		}
		v := c.Policy.Decide(r, f, now)
		sum.count(r, v.Decision)
		it := Item{Record: r, Verdict: v}
		if v.Decision == Send {
			it.Out = Record(c.EventsTopic, r, c.Name, now)
		}
		show(it)
		stopped = c.Max > 0 && sum.Sent >= c.Max
		return !stopped
	})
	switch {
	case ctx.Err() != nil:
		sum.Stop = StopInterrupted
	case err != nil:
		sum.Stop = StopFailed
	case stopped:
		sum.Stop = StopMax
		// Offsets, not records: a transaction marker counts too. Close enough for a report.
		sum.Remaining = max(0, c.Plan.Records()-sum.Looked)
	default:
		sum.Stop = StopEnd
	}
	return sum, err
}

// Run replays: batch after batch, it reads records from the replay's position, sends those the
// filters select and the policy lets through, and commits the batch's records and the position
// after it in one transaction. It stops at the end of the plan, after Max records sent, or when
// ctx ends (the open batch is aborted; the position stays at the last committed batch).
// Call Fence, then Positions and PlanFor, to build c.Plan.
func Run(ctx context.Context, opts []kgo.Opt, c Config) (sum Summary, err error) {
	sum = Summary{Name: c.Name}
	defer func() {
		switch {
		case ctx.Err() != nil:
			sum.Stop = StopInterrupted
		case fenced(err):
			sum.Stop = StopTakenOver
			err = fmt.Errorf("%w (%w)", ErrTakenOver, err)
		case err != nil:
			sum.Stop = StopFailed
		case c.Max > 0 && sum.Sent >= c.Max && sum.Remaining > 0:
			sum.Stop = StopMax
		default:
			sum.Stop = StopEnd
		}
	}()
	ends := map[int32]int64{}
	pos := map[int32]int64{}
	pending := map[int32]bool{}
	var idle, order []int32
	for _, p := range c.Plan.Partitions() {
		r := c.Plan[p]
		ends[p], pos[p] = r.End, r.Start
		if r.Start < r.End {
			pending[p] = true
			order = append(order, p)
		} else {
			idle = append(idle, p)
		}
	}
	remaining := func() int64 {
		var n int64
		for p := range pending {
			n += ends[p] - pos[p]
		}
		return n
	}
	if len(pending) == 0 {
		return sum, nil
	}

	sessOpts := append(slices.Clip(opts),
		kgo.TransactionalID(TransactionalID(c.Name)),
		kgo.ConsumerGroup(GroupID(c.Name)),
		// Static membership: a run that replaces a killed one takes the killed one's place in
		// the group at once, instead of waiting out its session timeout.
		kgo.InstanceID(TransactionalID(c.Name)),
		// A run killed mid-batch leaves its transaction open, and the forwarder's read_committed
		// reads of the partitions it wrote to wait until it is aborted: by the next run of the
		// same name at once, else by the broker after this long (checked every
		// transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default). A batch
		// that sends takes about a second.
		kgo.TransactionTimeout(c.transactionTimeout()),
		kgo.ConsumeTopics(c.DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		// SetOffsets (the rewind below) must not race a rebalance.
		kgo.BlockRebalanceOnPoll(),
	)
	// One partition at a time, as a dry run reads (the fetch sizes and a short wait at each
	// partition's end; a partition whose position arrives late, its offsets still settling from a
	// killed run's transaction, would otherwise also wait behind a fetch the broker holds for 5 s).
	sessOpts = append(sessOpts, scan.InOrderFetchOpts()...)
	if c.Policy.MaxRecordBytes > 0 {
		// A record the policy lets through must fit in a producer batch with its headers, or
		// every transaction it is in aborts.
		sessOpts = append(sessOpts, kgo.ProducerBatchMaxBytes(int32(deadletter.BatchBytes(c.Policy.MaxRecordBytes))))
	}
	sess, err := kgo.NewGroupTransactSession(sessOpts...)
	if err != nil {
		return sum, fmt.Errorf("kafka client: %w", err)
	}
	defer func() {
		// A run fenced by a newer run of the same name shares its static instance id: leaving
		// would take the newer run out of the group.
		if !fenced(err) {
			leave(opts, c.Name)
		}
	}()
	defer sess.CloseAllowingRebalance()
	cl := sess.Client()
	seen, err := c.lookBack(ctx, opts)
	if err != nil {
		return sum, err
	}
	st := &runState{ends: ends, order: order, all: c.Plan.Partitions(), seen: seen}
	// Partitions with nothing to do are not fetched; records that arrive for them anyway are
	// rewound, so their position does not move. The others are read one at a time, lowest
	// first, as a dry run reads them (scan.ReadInOrder): a paused partition's records that arrive
	// anyway are dropped by the client, never polled.
	st.focus(cl, c.DLQTopic, st.order)

	limiter := c.limiter()
	run := runID(time.Now())
	for len(pending) > 0 && (c.Max == 0 || sum.Sent < c.Max) {
		var maxSend int64
		if c.Max > 0 {
			maxSend = c.Max - sum.Sent
		}
		b, err := c.transact(ctx, sess, limiter, st, maxSend, run)
		sess.AllowRebalance()
		if err != nil {
			sum.Remaining = remaining()
			return sum, err
		}
		if !b.committed {
			// A rebalance aborted the batch; the session rewound and it is read again.
			st.focus(cl, c.DLQTopic, st.order)
			continue
		}
		sum.add(b.Summary)
		for p, o := range b.pos {
			pos[p] = o
		}
		for _, p := range b.done {
			delete(pending, p)
		}
		st.order = slices.DeleteFunc(st.order, func(p int32) bool { return !pending[p] })
		if c.Progress != nil {
			c.Progress(c.Plan.Records()-remaining(), sum)
		}
	}
	sum.Remaining = remaining()
	return sum, nil
}

// runState is what a run's batches share: the end of each partition, and the partitions still to
// read in the order they are read (as of the last committed batch).
type runState struct {
	ends  map[int32]int64
	order []int32
	all   []int32  // every partition of the plan
	seen  *sources // the source records selected so far (committed batches and the look-back)
}

// focus lets the client fetch only the first partition of order.
func (st *runState) focus(cl *kgo.Client, topic string, order []int32) {
	pause := make([]int32, 0, len(st.all))
	for _, p := range st.all {
		if len(order) == 0 || p != order[0] {
			pause = append(pause, p)
		}
	}
	cl.PauseFetchPartitions(map[string][]int32{topic: pause})
	if len(order) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{topic: order[:1]})
	}
}

// A transaction is sized by what it sends, not by what it looks at: records the filters leave
// out cost no produce, so a narrow selection over a large DLQ is read at fetch speed. It ends at
// Batch records sent; sendSpan (at most a quarter of the transaction timeout) after its first
// send, since its records hold the forwarder's read_committed reads of their partitions back
// until it ends; at sendBytes sent; lookSpan after it began, so that the position and the
// progress move; at maxLedgerRefs records held back; or at the end of the plan.
const (
	sendSpan  = time.Second
	lookSpan  = 2 * time.Second
	sendBytes = 16 << 20
)

// fenced reports whether err says that a newer run of the same name took over: its
// transactional id or its static group member.
func fenced(err error) bool {
	// INVALID_TXN_STATE: with Kafka 4's transactions a second run's InitProducerId aborts this
	// run's open transaction, and its commit then meets a transaction that is no longer its own
	// (seen once in TestDLQRunsOfOneNameAtOnce).
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.InvalidTxnState)
}

// leave takes the run's static member out of the group once it is closed (a static member does
// not leave on its own), so the group is empty between runs. Best effort: a member left behind
// is replaced by the next run anyway, or expires. Not for a fenced run: the member is the
// newer run's now.
func leave(opts []kgo.Opt, name string) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(GroupID(name)).InstanceIDs(TransactionalID(name)).Reason("dlq replay done"))
}

// batchResult is one transaction's work.
type batchResult struct {
	Summary
	refs      []Ref // the records not sent, for the ledger
	committed bool
	pos       map[int32]int64 // next offset, by partition, after the batch
	done      []int32         // partitions the batch finished
}

// transact polls, judges and sends records in one transaction and ends it: a commit when
// everything was sent, an abort otherwise (then the error says why). It sends at most maxSend
// records (0: no bound).
func (c Config) transact(ctx context.Context, sess *kgo.GroupTransactSession, limiter *rate.Limiter,
	st *runState, maxSend int64, run string) (batchResult, error) {
	b := batchResult{pos: map[int32]int64{}}
	if err := sess.Begin(); err != nil {
		return b, fmt.Errorf("begin transaction: %w", err)
	}
	cl := sess.Client()
	var (
		mu         sync.Mutex
		produceErr error
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if produceErr == nil {
				produceErr = fmt.Errorf("produce to %s: %w", r.Topic, err)
			}
			mu.Unlock()
		}
	}
	now := c.Now()
	began := time.Now()
	var firstSend time.Time
	var bytesSent int
	order := slices.Clone(st.order) // as this batch moves on; st.order changes only on commit
	batchSeen := st.seen.fresh()    // merged into st.seen on commit
	batch := c.batchSize()
	// The broker's clock for the transaction starts at its first send: leave room for the
	// flush and the commit within the timeout.
	span := min(sendSpan, c.transactionTimeout()/4)
	var failed error
	for len(order) > 0 && failed == nil {
		n := int64(min(batch, maxLedgerRefs-len(b.refs))) - b.Sent
		if maxSend > 0 {
			// Each record polled is sent at most once, so the run cannot overshoot Max and no
			// polled record is left unjudged.
			n = min(n, maxSend-b.Sent)
		}
		if n <= 0 || bytesSent >= sendBytes || time.Since(began) >= lookSpan ||
			(!firstSend.IsZero() && time.Since(firstSend) >= span) {
			break
		}
		fs := sess.PollRecords(ctx, int(n))
		if failed = ctx.Err(); failed != nil {
			break
		}
		if failed = scan.FetchErr(fs); failed != nil {
			break
		}
		rewind := map[int32]kgo.EpochOffset{}
		for it := fs.RecordIter(); !it.Done() && failed == nil; {
			r := it.Next()
			if _, past := rewind[r.Partition]; past {
				continue
			}
			if r.Offset >= st.ends[r.Partition] {
				// Past the end taken at the start (or a partition the filter leaves out): not
				// this run's, so the position must stay before it.
				rewind[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
				continue
			}
			b.pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			b.Looked++
			f := dlqrecord.Read(r)
			if !c.Filter.Match(r, f) {
				b.Unmatched++
				continue
			}
			if st.seen.has(r) || !batchSeen.first(r) {
				b.Duplicates++
				continue
			}
			v := c.Policy.Decide(r, f, now)
			if v.Decision == Send && limiter != nil {
				if err := limiter.Wait(ctx); err != nil {
					failed = err
					break
				}
			}
			b.count(r, v.Decision)
			if v.Decision == Send {
				out := Record(c.EventsTopic, r, c.Name, now)
				if firstSend.IsZero() {
					firstSend = time.Now()
				}
				bytesSent += deadletter.Size(out)
				cl.Produce(ctx, out, promise)
			} else {
				b.refs = append(b.refs, Ref{Partition: r.Partition, Offset: r.Offset, Decision: v.Decision.String()})
			}
		}
		if len(rewind) > 0 {
			cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{c.DLQTopic: rewind})
		}
		// Partitions finished: past their end, or their last record judged.
		finished := false
		order = slices.DeleteFunc(order, func(p int32) bool {
			_, rewound := rewind[p]
			o, seen := b.pos[p]
			if rewound || (seen && o >= st.ends[p]) {
				b.done = append(b.done, p)
				finished = true
				return true
			}
			return false
		})
		if finished {
			st.focus(cl, c.DLQTopic, order)
		}
	}
	if failed == nil && c.Ledger != "" && b.Looked > 0 {
		var lr *kgo.Record
		if lr, failed = ledgerRecord(c.Ledger, c.Name, LedgerEntry{Run: run, Counts: b.Counts, Refs: b.refs}); failed == nil {
			cl.Produce(ctx, lr, promise)
		}
	}
	if failed == nil {
		failed = cl.Flush(ctx)
	}
	if failed == nil {
		mu.Lock()
		failed = produceErr
		mu.Unlock()
	}
	// Ending must not be cut short by ctx: an end whose outcome is unknown leaves the
	// transaction to the broker's timeout. An abort on the way out is still quick.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	committed, err := sess.End(endCtx, kgo.TransactionEndTry(failed == nil))
	switch {
	case failed != nil:
		return b, failed
	case err != nil:
		return b, fmt.Errorf("commit transaction: %w", err)
	}
	b.committed = committed
	if committed {
		st.seen.merge(batchSeen)
	}
	return b, nil
}
