// Package engine is the forwarder's consumer, and knows nothing of events: a group member on one
// topic that hands each record to a Handler on its own goroutine (bounded per partition and
// overall), pauses fetching when work piles up, and marks each partition's offset up to the oldest
// record not yet finished, for franz-go to commit (AutoCommitMarks). On revoke it finishes what
// is in flight, commits the marks and lets go; on loss it drops everything uncommitted.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// Handler works on one record. It returns nil when the record is finished, so its offset may be
// committed, and an error when it is not (stop or hard ended first, or a write failed). stop
// ends waiting (for a retry, the circuit); hard ends everything, when a revoke's deadline
// passes. release frees the record's concurrency slot before the handler returns, for work that
// only waits on Kafka (an acknowledgement); the record still holds its offset until it returns.
type Handler func(stop, hard context.Context, r *kgo.Record, release func()) error

// Prepare runs when partitions are assigned, before any of their records is handed out; an
// error stops the engine (the process exits and is restarted).
type Prepare func(ctx context.Context, partitions []int32) error

// Config tunes the engine.
type Config struct {
	Topic          string
	Group          string
	SessionTimeout time.Duration
	// MaxInFlight records hold a slot at once, all partitions; as many again may wait for an
	// acknowledgement after releasing theirs. So at most 2 x MaxInFlight records are unfinished
	// when a process dies: the bound on what a restart may send AdEventsX again.
	MaxInFlight     int
	MaxPerPartition int // records holding a slot at once, one partition
	CommitInterval  time.Duration
	RevokeTimeout   time.Duration // how long a revoke or shutdown waits for in-flight records
}

// Engine consumes, dispatches and marks offsets.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	cl      *kgo.Client
	handle  Handler
	prepare Prepare
	metrics *metrics.Forwarder
	slots   chan struct{} // MaxInFlight: records doing work (HTTP), freed by release
	started chan struct{} // 2 x MaxInFlight: records not yet finished, waiting on Kafka included

	mu      sync.Mutex
	parts   map[int32]*partition
	blocked map[int32]bool // partitions whose reads wait on an open transaction, as last logged

	// A problem the engine cannot go on with: fail records the first and closes halted, which
	// ends the poll loop; Run returns the error and the process exits (and is restarted).
	failOnce sync.Once
	fatal    error
	halted   chan struct{}
}

// New builds the engine and its group client from baseOpts (seed brokers, logger, security).
func New(cfg Config, log *slog.Logger, baseOpts []kgo.Opt, handle Handler, prepare Prepare,
	m *metrics.Forwarder) (*Engine, error) {
	e := &Engine{
		cfg:     cfg,
		log:     log,
		handle:  handle,
		prepare: prepare,
		metrics: m,
		slots:   make(chan struct{}, cfg.MaxInFlight),
		started: make(chan struct{}, 2*cfg.MaxInFlight),
		parts:   make(map[int32]*partition),
		blocked: make(map[int32]bool),
		halted:  make(chan struct{}),
	}
	opts := append(append([]kgo.Opt{}, baseOpts...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.ConsumeTopics(cfg.Topic),
		// franz-go commits what the watermarks mark, every CommitInterval, and never moves an
		// offset back (MarkCommitOffsets refuses rewinds).
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Replays from the dlq CLI are transactional; an aborted one must not be delivered.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets too; seeing them lets the watermark pass them, so the
		// committed offset reaches the end of the log and lag reads 0.
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(1<<20),
		// A partition resumed after a pause fetches again only once the fetch in flight returns,
		// which waits up to FetchMaxWait when the other partitions have nothing new: 5 s by
		// default, seen as a 4.8 s stall at the end of a burst. 250 ms bounds it.
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.OnPartitionsAssigned(e.assigned),
		kgo.OnPartitionsRevoked(e.revoked),
		kgo.OnPartitionsLost(e.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	e.cl = cl
	return e, nil
}

// Client is the engine's Kafka client, for readiness checks.
func (e *Engine) Client() *kgo.Client { return e.cl }

// Run polls until ctx ends, then finishes in-flight work within RevokeTimeout, commits and
// leaves the group.
func (e *Engine) Run(ctx context.Context) error {
	lagDone := make(chan struct{})
	lagCtx, stopLag := context.WithCancel(ctx)
	go func() {
		defer close(lagDone)
		e.watchLag(lagCtx)
	}()
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		select {
		case <-e.halted:
			stopPoll()
		case <-pollCtx.Done():
		}
	}()
	err := e.poll(pollCtx)
	stopLag()
	<-lagDone
	// Leaving the group runs revoked for every partition we hold: drain, commit, let go.
	e.cl.CloseAllowingRebalance()
	return err
}

func (e *Engine) poll(ctx context.Context) error {
	for {
		fetches := e.cl.PollRecords(ctx, 10000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			select {
			case <-e.halted:
				return e.fatal
			default:
				return nil
			}
		}
		fetches.EachError(func(t string, p int32, err error) {
			switch {
			case errors.Is(err, context.Canceled):
			case refused(err):
				// An ACL or credential taken away after start: retrying cannot help, and a
				// forwarder that silently reads nothing looks healthy. Stop, naming it.
				e.fail(fmt.Errorf("kafka refuses to let this forwarder read %s partition %d (check its ACLs and credentials): %w", t, p, err))
			default:
				e.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		e.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if p := e.parts[fp.Partition]; p != nil && len(fp.Records) > 0 {
				p.enqueue(fp.Records)
			}
		})
		e.mu.Unlock()
		e.cl.AllowRebalance()
	}
}

// assigned prepares the new partitions (the handler's Prepare), then starts their feeders.
func (e *Engine) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	ids := assigned[e.cfg.Topic]
	if len(ids) == 0 {
		return
	}
	if e.prepare != nil {
		if err := e.prepare(ctx, ids); err != nil {
			e.fail(err)
			return
		}
	}
	// franz-go keeps a partition paused across rebalances: one paused under an earlier
	// assignment must fetch again now.
	cl.ResumeFetchPartitions(map[string][]int32{e.cfg.Topic: ids})
	e.log.Info("partitions assigned", "topic", e.cfg.Topic, "partitions", ids)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		p := newPartition(id, e.cfg.MaxPerPartition, partitionDeps{
			handle:  e.handle,
			slots:   e.slots,
			started: e.started,
			pause:   func() { cl.PauseFetchPartitions(map[string][]int32{e.cfg.Topic: {id}}) },
			resume:  func() { cl.ResumeFetchPartitions(map[string][]int32{e.cfg.Topic: {id}}) },
			mark: func(o kgo.EpochOffset) {
				cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{e.cfg.Topic: {id: o}})
			},
			fail:     e.fail,
			inFlight: e.metrics.InFlight,
			log:      e.log,
		})
		e.parts[id] = p
		go p.feed()
	}
}

// revoked stops taking work for the partitions, waits for their in-flight records up to
// RevokeTimeout, commits what is marked and lets them go.
func (e *Engine) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := e.detach(revoked[e.cfg.Topic])
	if len(parts) == 0 {
		return
	}
	drain(parts, time.Now().Add(e.cfg.RevokeTimeout), e.log)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.RevokeTimeout)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
		e.metrics.Committed.WithLabelValues("error").Inc()
		e.log.Warn("offset commit on revoke failed; the next owner re-reads from the last commit", "err", err)
	} else {
		e.metrics.Committed.WithLabelValues("ok").Inc()
	}
	e.log.Info("partitions revoked", "topic", e.cfg.Topic, "partitions", revoked[e.cfg.Topic])
}

// lost drops the partitions without committing: someone else may own them already.
func (e *Engine) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, p := range e.detach(lost[e.cfg.Topic]) {
		p.abandon()
	}
	e.log.Warn("partitions lost", "topic", e.cfg.Topic, "partitions", lost[e.cfg.Topic])
}

func (e *Engine) detach(ids []int32) []*partition {
	e.mu.Lock()
	defer e.mu.Unlock()
	var parts []*partition
	for _, id := range ids {
		e.metrics.Lag.DeleteLabelValues(strconv.Itoa(int(id)))
		e.metrics.TxnBlocked.DeleteLabelValues(strconv.Itoa(int(id)))
		delete(e.blocked, id)
		if p := e.parts[id]; p != nil {
			parts = append(parts, p)
			delete(e.parts, id)
		}
	}
	return parts
}

// watchLag sets, every CommitInterval, each assigned partition's lag (log end minus committed
// offset, from listed offsets, so it moves while partitions are paused or the circuit is open)
// and the records our reads wait behind because a transaction before them is still open.
func (e *Engine) watchLag(ctx context.Context) {
	adm := kadm.NewClient(e.cl)
	t := time.NewTicker(e.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, max(e.cfg.CommitInterval, time.Second))
		ends, err := adm.ListEndOffsets(lctx, e.cfg.Topic)          // high watermarks
		stable, serr := adm.ListCommittedOffsets(lctx, e.cfg.Topic) // last stable offsets
		cancel()
		if err != nil || serr != nil {
			continue // the next round tries again; fetch errors are logged by the poll loop
		}
		committed := e.cl.CommittedOffsets()[e.cfg.Topic]
		e.mu.Lock()
		for id, p := range e.parts {
			end, ok := ends.Lookup(e.cfg.Topic, id)
			if !ok || end.Err != nil {
				continue
			}
			from := p.firstOffset()
			if c, ok := committed[id]; ok && c.Offset >= 0 {
				from = c.Offset
			}
			if from < 0 {
				from = end.Offset // nothing read, nothing committed: an empty partition
			}
			label := strconv.Itoa(int(id))
			e.metrics.Lag.WithLabelValues(label).Set(float64(max(0, end.Offset-from)))

			lso, ok := stable.Lookup(e.cfg.Topic, id)
			waiting := int64(0)
			if ok && lso.Err == nil && p.readUpTo() >= lso.Offset && end.Offset > lso.Offset {
				waiting = end.Offset - lso.Offset
			}
			e.metrics.TxnBlocked.WithLabelValues(label).Set(float64(waiting))
			if (waiting > 0) != e.blocked[id] {
				e.blocked[id] = waiting > 0
				if waiting > 0 {
					e.log.Warn("reads wait on an open transaction (a dlq replay running or killed; it ends within the replay's transaction timeout)",
						"topic", e.cfg.Topic, "partition", id, "last_stable_offset", lso.Offset, "log_end", end.Offset)
				} else {
					e.log.Info("reads no longer wait on an open transaction", "topic", e.cfg.Topic, "partition", id)
				}
			}
		}
		e.mu.Unlock()
	}
}

// refused says Kafka refuses us for good: an authorization or authentication failure.
func refused(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.SaslAuthenticationFailed)
}

// fail stops the engine with err (the first one wins).
func (e *Engine) fail(err error) {
	e.failOnce.Do(func() {
		e.fatal = err
		e.log.Error("forwarder cannot go on; stopping", "err", err)
		close(e.halted)
	})
}
