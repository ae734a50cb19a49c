// Package engine is the forwarder's consumer: a group member on the events topic that hands each
// record to its own goroutine (bounded per partition and overall), commits each partition up to
// the oldest record not yet finished, pauses fetching when work piles up, and on revoke finishes
// what is in flight, commits and lets go. What happens to one record is in process.go.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/deliver"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// Config tunes the engine.
type Config struct {
	EventsTopic     string
	DLQTopic        string
	Group           string
	SessionTimeout  time.Duration
	Partitions      int32 // of the events topic, for the key-to-partition check
	MaxInFlight     int   // records worked on at once, all partitions
	MaxPerPartition int   // records worked on at once, one partition
	MaxRecordBytes  int
	CommitInterval  time.Duration
	RevokeTimeout   time.Duration // how long a revoke or shutdown waits for in-flight records
	Names           event.Names
}

// Engine consumes, dispatches and commits.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	cl        *kgo.Client
	baseOpts  []kgo.Opt
	store     *dedupe.Store
	deliverer *deliver.Deliverer
	metrics   *metrics.Forwarder
	slots     chan struct{}
	home      kgo.TopicPartitioner

	mu    sync.Mutex
	parts map[int32]*partition

	// commitMu orders commits: the periodic one holds it from its look at the partitions to the
	// broker's answer, so a revoke's final commit (taken after) always lands last. Otherwise a
	// periodic commit computed before the revoke could land after it and move the offset back.
	commitMu sync.Mutex

	// clientSet is closed once cl is set: the group callbacks can run before kgo.NewClient
	// returns, and wait on it so that they (and what they start) see cl.
	clientSet chan struct{}

	// A problem the engine cannot go on with: fail records the first and closes halted, which
	// ends the poll loop; Run returns the error and the process exits (and is restarted).
	failOnce sync.Once
	fatal    error
	halted   chan struct{}
}

// New builds the engine and its group client from baseOpts (seed brokers, logger, ...).
func New(cfg Config, log *slog.Logger, baseOpts []kgo.Opt, store *dedupe.Store,
	d *deliver.Deliverer, m *metrics.Forwarder) (*Engine, error) {
	e := &Engine{
		cfg:       cfg,
		log:       log,
		baseOpts:  baseOpts,
		store:     store,
		deliverer: d,
		metrics:   m,
		slots:     make(chan struct{}, cfg.MaxInFlight),
		home:      kgo.StickyKeyPartitioner(nil).ForTopic(cfg.EventsTopic),
		parts:     make(map[int32]*partition),
		halted:    make(chan struct{}),
		clientSet: make(chan struct{}),
	}
	opts := append(append([]kgo.Opt{}, baseOpts...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.ConsumeTopics(cfg.EventsTopic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Replays from the dlq CLI are transactional; an aborted one must not be delivered.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets too; seeing them lets the watermark pass them, so the
		// committed offset reaches the end of the log and lag reads 0.
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Markers and DLQ writes are each waited on by a goroutine: send them at once. Batches
		// still form while earlier produce requests are in flight (up to 5, idempotent).
		kgo.ProducerLinger(0),
		// A record up to MaxRecordBytes must fit in a DLQ or reroute write, headers included.
		kgo.ProducerBatchMaxBytes(int32(deadletter.BatchBytes(cfg.MaxRecordBytes))),
		kgo.BrokerMaxWriteBytes(int32(max(100<<20, 2*deadletter.BatchBytes(cfg.MaxRecordBytes)))),
		kgo.OnPartitionsAssigned(e.assigned),
		kgo.OnPartitionsRevoked(e.revoked),
		kgo.OnPartitionsLost(e.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	e.cl = cl
	close(e.clientSet)
	return e, nil
}

// Client is the engine's Kafka client, for readiness checks.
func (e *Engine) Client() *kgo.Client { return e.cl }

// Run polls until ctx ends, then finishes in-flight work within RevokeTimeout, commits and
// leaves the group.
func (e *Engine) Run(ctx context.Context) error {
	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(commitDone)
		e.commitLoop(commitCtx)
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
	stopCommits()
	<-commitDone
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
			if errors.Is(err, context.Canceled) {
				return
			}
			e.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		e.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if p := e.parts[fp.Partition]; p != nil && len(fp.Records) > 0 {
				p.enqueue(fp.Records, fp.HighWatermark)
			}
		})
		e.mu.Unlock()
		e.cl.AllowRebalance()
	}
}

// commitLoop commits every partition's finished prefix every CommitInterval.
func (e *Engine) commitLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.commitMu.Lock()
		e.mu.Lock()
		parts := make([]*partition, 0, len(e.parts))
		for _, p := range e.parts {
			parts = append(parts, p)
		}
		e.mu.Unlock()
		e.commit(ctx, parts)
		e.commitMu.Unlock()
		e.mu.Lock() // against detach: a partition let go meanwhile gets no series back
		for _, p := range parts {
			if n, ok := p.lag(); ok && e.parts[p.id] == p {
				e.metrics.Lag.WithLabelValues(strconv.Itoa(int(p.id))).Set(float64(n))
			}
		}
		e.mu.Unlock()
	}
}

// commit commits the finished prefix of each partition that moved since its last commit.
func (e *Engine) commit(ctx context.Context, parts []*partition) {
	offsets := map[int32]kgo.EpochOffset{}
	for _, p := range parts {
		if o, ok := p.toCommit(); ok {
			offsets[p.id] = o
		}
	}
	if len(offsets) == 0 {
		return
	}
	var cerr error
	e.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{e.cfg.EventsTopic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = commitError(resp, err)
		})
	if cerr != nil {
		e.metrics.Committed.WithLabelValues("error").Inc()
		e.log.Warn("offset commit failed; the next commit covers it", "err", cerr)
		return
	}
	e.metrics.Committed.WithLabelValues("ok").Inc()
	for _, p := range parts {
		if o, ok := offsets[p.id]; ok {
			p.committed(o.Offset)
		}
	}
}

// assigned loads the dedupe markers of the new partitions, then starts their workers.
func (e *Engine) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	<-e.clientSet
	ids := assigned[e.cfg.EventsTopic]
	if len(ids) == 0 {
		return
	}
	start := time.Now()
	n, err := e.loadMarkers(ctx, ids)
	if err != nil {
		// Without the markers a duplicate could be delivered twice. Stop (the process exits and
		// is restarted); the partitions' records stay uncommitted for whoever reads them next.
		e.fail(fmt.Errorf("read dedupe markers of partitions %v: %w", ids, err))
		return
	}
	for _, id := range ids {
		if id >= e.cfg.Partitions {
			// The topic grew: the key-to-partition check and the marker topic no longer match
			// it. A restart refuses to start with the DEDUPE_TOPIC message that says what to do.
			e.fail(fmt.Errorf("%s has grown to more than %d partitions since start", e.cfg.EventsTopic, e.cfg.Partitions))
			return
		}
	}
	// franz-go keeps a partition paused across rebalances: one paused under an earlier
	// assignment must fetch again now.
	e.cl.ResumeFetchPartitions(map[string][]int32{e.cfg.EventsTopic: ids})
	e.metrics.Loaded.Add(float64(n))
	e.log.Info("partitions assigned", "topic", e.cfg.EventsTopic, "partitions", ids,
		"markers_loaded", n, "load_took", time.Since(start).Round(time.Millisecond).String())
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		p := newPartition(e, id)
		e.parts[id] = p
		go p.feed()
	}
}

// markerLoadPatience is how long loadMarkers goes on retrying failed reads. A read that makes
// progress is not cut short (a large window takes a while); one that stalls fails after
// dedupe.LoadStall and is retried.
const markerLoadPatience = 30 * time.Second

// loadMarkers reads the delivered markers of the partitions ids back into the dedupe window,
// retrying with backoff for markerLoadPatience: a broker restarting, or one that has not yet
// applied a just-created marker topic, is no reason to stop the process. A retry may read some
// markers twice, which the window takes as the same id.
func (e *Engine) loadMarkers(ctx context.Context, ids []int32) (int, error) {
	var n int
	load := func() error {
		var err error
		n, err = e.store.Load(ctx, e.baseOpts, ids)
		return err
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(markerLoadPatience))
	err := backoff.RetryNotify(load, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		e.metrics.LoadErrors.Inc()
		e.log.Warn("reading dedupe markers failed; retrying", "partitions", ids, "err", err,
			"retry_in", wait.Round(time.Millisecond).String())
	})
	return n, err
}

// revoked stops taking work for the partitions, waits for their in-flight records up to
// RevokeTimeout, commits the finished prefix and lets them go.
func (e *Engine) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	<-e.clientSet
	parts := e.detach(revoked[e.cfg.EventsTopic])
	if len(parts) == 0 {
		return
	}
	deadline := time.Now().Add(e.cfg.RevokeTimeout)
	for _, p := range parts {
		p.drain(deadline)
	}
	// Revoke callbacks run outside kgo's join/sync lock, so a periodic commit holding commitMu
	// and waiting on that lock finishes without us.
	e.commitMu.Lock()
	e.commit(context.WithoutCancel(ctx), parts)
	e.commitMu.Unlock()
	e.log.Info("partitions revoked", "topic", e.cfg.EventsTopic, "partitions", revoked[e.cfg.EventsTopic])
}

// lost drops the partitions without committing: someone else may own them already.
func (e *Engine) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	<-e.clientSet
	for _, p := range e.detach(lost[e.cfg.EventsTopic]) {
		p.abandon()
	}
	e.log.Warn("partitions lost", "topic", e.cfg.EventsTopic, "partitions", lost[e.cfg.EventsTopic])
}

func (e *Engine) detach(ids []int32) []*partition {
	e.mu.Lock()
	defer e.mu.Unlock()
	var parts []*partition
	for _, id := range ids {
		e.metrics.Lag.DeleteLabelValues(strconv.Itoa(int(id)))
		if p := e.parts[id]; p != nil {
			parts = append(parts, p)
			delete(e.parts, id)
		}
	}
	return parts
}

// fail stops the engine with err (the first one wins).
func (e *Engine) fail(err error) {
	e.failOnce.Do(func() {
		e.fatal = err
		e.log.Error("forwarder cannot go on; stopping", "err", err)
		close(e.halted)
	})
}

// commitError is the first error of a commit, whole-request or per-partition.
func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, err)
			}
		}
	}
	return nil
}
