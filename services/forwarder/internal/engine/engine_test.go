package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/forwarder/internal/kfaketest"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// The engine's tests run it on kfake with handlers of their own: no HTTP, no events.

var (
	kfakeCluster = kfaketest.Cluster
	newClient    = kfaketest.Client
)

func testEngine(t *testing.T, seeds []kgo.Opt, perPartition int, h Handler) (*Engine, *metrics.Forwarder) {
	t.Helper()
	m := metrics.New()
	eng, err := New(Config{
		Topic: "raw", Group: "g", SessionTimeout: 10 * time.Second,
		MaxInFlight: 64, MaxPerPartition: perPartition,
		CommitInterval: 100 * time.Millisecond, RevokeTimeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), seeds, h, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return eng, m
}

func produce(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "raw", Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed is the group's committed offset of each partition of raw, and the log ends.
func committed(t *testing.T, adm *kadm.Client) (commits, ends map[int32]int64) {
	t.Helper()
	commits, ends = map[int32]int64{}, map[int32]int64{}
	e, _ := adm.ListEndOffsets(t.Context(), "raw")
	e.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	offs, _ := adm.FetchOffsets(t.Context(), "g")
	for p := range ends {
		if c, ok := offs.Lookup("raw", p); ok {
			commits[p] = c.At
		}
	}
	return commits, ends
}

// Records finish out of order; the committed offset of a partition stops at its oldest
// unfinished record, and reaches the end once that one finishes.
func TestEngineCommitsUpToTheOldestUnfinishedRecord(t *testing.T) {
	seeds := kfakeCluster(t, "raw")
	prod := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for range 10 {
		recs = append(recs, &kgo.Record{Topic: "raw", Partition: 0, Value: []byte("v")})
	}
	if err := prod.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	eng, _ := testEngine(t, seeds, 16, func(stop, _ context.Context, r *kgo.Record, _ func()) error {
		if r.Offset == 3 {
			select {
			case <-hold:
			case <-stop.Done():
				return stop.Err()
			}
		}
		return nil
	})
	stopEngine := kfaketest.Run(t, eng.Run)
	adm := kadm.NewClient(prod)
	kfaketest.WaitFor(t, 10*time.Second, "the commit of offsets 0-2", func() bool {
		c, _ := committed(t, adm)
		return c[0] == 3
	})
	time.Sleep(300 * time.Millisecond) // three commit intervals: the commit must stay at 3
	if c, _ := committed(t, adm); c[0] != 3 {
		t.Fatalf("committed %d with offset 3 unfinished, want 3", c[0])
	}
	close(hold)
	kfaketest.WaitFor(t, 10*time.Second, "the commit of every offset", func() bool {
		c, _ := committed(t, adm)
		return c[0] == 10
	})
	stopEngine()
}

// Partitions paused for backpressure, handed to another member and back, fetch again: franz-go
// keeps a pause across rebalances, so the engine must resume what it is assigned.
func TestEngineResumesPartitionsThatComeBackAfterARebalance(t *testing.T) {
	seeds := kfakeCluster(t, "raw")
	prod := newClient(t, seeds)
	produce(t, prod, 2000)
	var mu sync.Mutex
	done := 0
	slow := func(context.Context, context.Context, *kgo.Record, func()) error {
		time.Sleep(time.Millisecond) // a slow destination, so work piles up and partitions pause
		mu.Lock()
		done++
		mu.Unlock()
		return nil
	}
	handled := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return done >= n }
	}
	engA, _ := testEngine(t, seeds, 1, slow) // 1 per partition: pauses at 2 pending
	stopA := kfaketest.Run(t, engA.Run)
	kfaketest.WaitFor(t, 20*time.Second, "100 records", handled(100))
	engB, _ := testEngine(t, seeds, 1, slow)
	stopB := kfaketest.Run(t, engB.Run) // takes some partitions away from A
	kfaketest.WaitFor(t, 20*time.Second, "300 records", handled(300))
	stopB() // and gives them back
	adm := kadm.NewClient(prod)
	kfaketest.WaitFor(t, 60*time.Second, "every partition committed to its end", func() bool {
		c, e := committed(t, adm)
		for p, end := range e {
			if c[p] != end {
				return false
			}
		}
		return true
	})
	stopA()
}

// The lag gauge moves while partitions are paused and nothing is fetched (the circuit open,
// here a handler that holds every record): it is computed from listed end offsets, not from
// the last fetch. Before, it froze at what the last fetch saw (100 against a real 4 100).
func TestConsumerLagMovesWhilePartitionsArePaused(t *testing.T) {
	seeds := kfakeCluster(t, "raw")
	prod := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	one := func(n int) {
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Topic: "raw", Partition: 0, Value: []byte("v")})
		}
		if err := prod.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	one(100)
	eng, m := testEngine(t, seeds, 1, func(stop, _ context.Context, _ *kgo.Record, _ func()) error {
		<-stop.Done() // the circuit is open: nothing finishes
		return stop.Err()
	})
	stop := kfaketest.Run(t, eng.Run)
	kfaketest.WaitFor(t, 10*time.Second, "lag 100", func() bool { return gauge(m.Lag, "0") == 100 })
	one(4000)
	kfaketest.WaitFor(t, 10*time.Second, "lag 4 100", func() bool { return gauge(m.Lag, "0") == 4100 })
	stop()
}

// Reads waiting behind an open transaction (a dlq replay killed mid-way) show on a gauge.
func TestTransactionBlockedRecordsShow(t *testing.T) {
	seeds := kfakeCluster(t, "raw")
	eng, m := testEngine(t, seeds, 16, func(context.Context, context.Context, *kgo.Record, func()) error { return nil })
	stop := kfaketest.Run(t, eng.Run)
	defer stop()
	plain := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(t.Context(), &kgo.Record{Topic: "raw", Partition: 1, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kfaketest.WaitFor(t, 10*time.Second, "lag 0 on partition 1", func() bool { return gauge(m.Lag, "1") == 0 && series(m.Lag, "1") })

	txn := newClient(t, seeds, kgo.TransactionalID("replay-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(time.Minute))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(t.Context(), &kgo.Record{Topic: "raw", Partition: 1, Value: []byte("t")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := plain.ProduceSync(t.Context(), &kgo.Record{Topic: "raw", Partition: 1, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kfaketest.WaitFor(t, 10*time.Second, "2 records shown behind the open transaction", func() bool { return gauge(m.TxnBlocked, "1") == 2 })
	if err := txn.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	kfaketest.WaitFor(t, 10*time.Second, "the gauge back at 0", func() bool { return gauge(m.TxnBlocked, "1") == 0 })
}

// gauge is the value of vec's series for partition p (0 when absent).
func gauge(vec *prometheus.GaugeVec, p string) float64 {
	g, err := vec.GetMetricWithLabelValues(p)
	if err != nil {
		return 0
	}
	var pb dto.Metric
	_ = g.Write(&pb)
	return pb.GetGauge().GetValue()
}

// series reports whether vec has a series for partition p.
func series(vec *prometheus.GaugeVec, p string) bool {
	ch := make(chan prometheus.Metric, 64)
	go func() { vec.Collect(ch); close(ch) }()
	found := false
	for m := range ch {
		var pb dto.Metric
		_ = m.Write(&pb)
		for _, l := range pb.GetLabel() {
			if l.GetValue() == p {
				found = true
			}
		}
	}
	return found
}

// A revoke stops taking work on all its partitions at once: while one partition's HTTP attempt
// under way is let finish, the others start nothing new. (Drained one after the other, the
// later partitions went on starting records until their turn, then had them cut short.)
func TestRevokeStopsEveryPartitionAtOnce(t *testing.T) {
	seeds := kfakeCluster(t, "raw")
	prod := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	recs = append(recs, &kgo.Record{Topic: "raw", Partition: 0, Value: []byte("slow")})
	for range 2000 {
		recs = append(recs, &kgo.Record{Topic: "raw", Partition: 1, Value: []byte("quick")})
	}
	if err := prod.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stopped time.Time   // when partition 0's record saw the revoke
	var lastStart time.Time // of partition 1's records
	quick := 0              // partition 1's records started
	started := make(chan struct{}, 1)
	eng, _ := testEngine(t, seeds, 1, func(stop, _ context.Context, r *kgo.Record, _ func()) error {
		if r.Partition == 0 {
			select {
			case started <- struct{}{}:
			default:
			}
			<-stop.Done()
			mu.Lock()
			stopped = time.Now()
			mu.Unlock()
			time.Sleep(300 * time.Millisecond) // the HTTP attempt under way, let finish
			return nil
		}
		mu.Lock()
		lastStart = time.Now()
		quick++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // a quick delivery
		return nil
	})
	stopEngine := kfaketest.Run(t, eng.Run)
	<-started
	kfaketest.WaitFor(t, 10*time.Second, "partition 1 busy delivering", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return quick >= 20
	})
	stopEngine() // leaving the group revokes both partitions
	mu.Lock()
	defer mu.Unlock()
	if late := lastStart.Sub(stopped); late > 50*time.Millisecond {
		t.Fatalf("partition 1 started a record %s after the revoke stopped partition 0", late)
	}
}

// Kafka refusing us for good (an ACL or a password taken away after start) stops the engine;
// passing errors do not.
func TestRefusedTellsLastingRefusalsFromPassingErrors(t *testing.T) {
	tests := []struct {
		give error
		want bool
	}{
		{fmt.Errorf("fetch: %w", kerr.TopicAuthorizationFailed), true},
		{kerr.GroupAuthorizationFailed, true},
		{kerr.SaslAuthenticationFailed, true},
		{kerr.NotLeaderForPartition, false},
		{kerr.UnknownTopicOrPartition, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := refused(tt.give); got != tt.want {
			t.Errorf("refused(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
