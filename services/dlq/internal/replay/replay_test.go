package replay

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
)

const (
	dlqTopic    = "events.dlq"
	eventsTopic = "events.raw"
)

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fakeKafka is a kfake cluster with the two topics, and the options to reach it.
func fakeKafka(t *testing.T) []kgo.Opt {
	t.Helper()
	_, opts := fakeCluster(t)
	return opts
}

func fakeCluster(t *testing.T) (*kfake.Cluster, []kgo.Opt) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, dlqTopic, eventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

func client(t *testing.T, opts []kgo.Opt, more ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), more...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func eventValue(id string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"user_id":"u1","event_name":"lead","event_time":%q,"value":"1.5","campaign_id":"c1"}`,
		id, at.Format(time.RFC3339))
}

func uuid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// deadLetter writes dead-letter records as the forwarder does, to partition p.
func deadLetter(t *testing.T, opts []kgo.Opt, p int32, recs ...*kgo.Record) {
	t.Helper()
	// Room for a value of MAX_RECORD_BYTES, as the forwarder has.
	cl := client(t, opts, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20+64<<10))
	for i, src := range recs {
		src.Topic, src.Partition, src.Offset = eventsTopic, 0, int64(i)
		r := deadletter.Record(dlqTopic, src, deadletter.Failure{
			Reason: deadletter.Rejected, Message: "400", HTTPStatus: 400, Attempts: 1, FailedAt: testNow.Add(-time.Hour),
		})
		r.Partition = p
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func srcEvent(id string) *kgo.Record {
	return &kgo.Record{Key: []byte(id), Value: eventValue(id, testNow.Add(-2*time.Hour))}
}

// committedEvents reads the events topic as the forwarder does (read_committed).
func committedEvents(t *testing.T, opts []kgo.Opt) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(client(t, opts))
	bounds, err := scan.Offsets(t.Context(), adm, eventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	plan := scan.Plan{}
	for p, b := range bounds {
		plan[p] = scan.Range{Start: b.Low, End: b.High}
	}
	var out []*kgo.Record
	if err := scan.Read(t.Context(), opts, eventsTopic, plan, func(r *kgo.Record) bool {
		out = append(out, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func config(t *testing.T, opts []kgo.Opt, name string, f filter.Filter) Config {
	t.Helper()
	adm := kadm.NewClient(client(t, opts))
	if err := Fence(t.Context(), opts, name, 0); err != nil {
		t.Fatal(err)
	}
	pos, err := Positions(t.Context(), adm, name, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	bounds, err := scan.Offsets(t.Context(), adm, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Name: name, DLQTopic: dlqTopic, EventsTopic: eventsTopic,
		Plan: PlanFor(bounds, pos, f), Filter: f,
		Policy: Policy{MaxReplays: 3, MaxAge: 7 * 24 * time.Hour, MaxRecordBytes: 1 << 20, Names: event.NewNames(event.DefaultNames...)},
		Batch:  100, Now: func() time.Time { return testNow },
	}
}

func TestRunSendsEachSelectedRecordOnceAcrossInterruptedRuns(t *testing.T) {
	opts := fakeKafka(t)
	var ids []string
	for p := range int32(3) {
		var recs []*kgo.Record
		for i := range 4 {
			id := uuid(int(p)*10 + i)
			ids = append(ids, id)
			recs = append(recs, srcEvent(id))
		}
		deadLetter(t, opts, p, recs...)
	}

	c := config(t, opts, "r1", filter.All())
	c.Max = 5
	first, err := Run(t.Context(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if first.Sent != 5 || first.Remaining != 7 {
		t.Fatalf("first run: %+v, want 5 sent and 7 left", first)
	}
	second, err := Run(t.Context(), opts, config(t, opts, "r1", filter.All()))
	if err != nil {
		t.Fatal(err)
	}
	if second.Sent != 7 || second.Remaining != 0 {
		t.Fatalf("second run: %+v, want the other 7 sent", second)
	}
	third, err := Run(t.Context(), opts, config(t, opts, "r1", filter.All()))
	if err != nil {
		t.Fatal(err)
	}
	if third.Looked != 0 {
		t.Fatalf("third run looked at %d records, want none left", third.Looked)
	}

	got := map[string]int{}
	for _, r := range committedEvents(t, opts) {
		got[string(r.Key)]++
		if n, _ := deadletter.Header(r.Headers, deadletter.HeaderReplayCount); n != "1" {
			t.Errorf("%s: dlq.replay_count %q, want 1", r.Key, n)
		}
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s sent %d times, want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d distinct events sent, want %d", len(got), len(ids))
	}
}

func TestRunSkipsCappedHoldsOldAndInvalidAndMovesPastUnmatched(t *testing.T) {
	opts := fakeKafka(t)
	capped := srcEvent(uuid(1))
	capped.Headers = []kgo.RecordHeader{{Key: deadletter.HeaderReplayCount, Value: []byte("3")}}
	old := &kgo.Record{Key: []byte(uuid(2)), Value: eventValue(uuid(2), testNow.Add(-8*24*time.Hour))}
	garbage := &kgo.Record{Key: []byte("k"), Value: []byte("not json")}
	deadLetter(t, opts, 0, capped, old, garbage, srcEvent(uuid(4)))

	c := config(t, opts, "r2", filter.All())
	sum, err := Run(t.Context(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Name: "r2", Counts: Counts{Looked: 4, Sent: 1, Capped: 1, HeldOld: 1, HeldInvalid: 1}, CappedAt: []string{dlqTopic + "/0/0"}, Stop: StopEnd}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
	evs := committedEvents(t, opts)
	if len(evs) != 1 || string(evs[0].Key) != uuid(4) {
		t.Fatalf("sent %d records, want only %s", len(evs), uuid(4))
	}

	// A filter that selects nothing still moves the position past what it looked at.
	deadLetter(t, opts, 1, srcEvent(uuid(5)))
	f, err := filter.Spec{Reasons: "invalid", Partition: -1, FromOffset: -1, ToOffset: -1}.Build(testNow)
	if err != nil {
		t.Fatal(err)
	}
	sum, err = Run(t.Context(), opts, config(t, opts, "r2", f))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Looked != 1 || sum.Unmatched != 1 || sum.Sent != 0 {
		t.Fatalf("summary %+v, want 1 looked at and unmatched", sum)
	}
	pos, err := Positions(t.Context(), kadm.NewClient(client(t, opts)), "r2", dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	if pos[0] != 4 || pos[1] != 1 {
		t.Fatalf("positions %v, want p0 at 4 and p1 at 1", pos)
	}
}

func TestRunLeavesPartitionsOutsideTheFilterWhereTheyWere(t *testing.T) {
	opts := fakeKafka(t)
	deadLetter(t, opts, 0, srcEvent(uuid(1)), srcEvent(uuid(2)))
	deadLetter(t, opts, 2, srcEvent(uuid(3)))
	f, err := filter.Spec{Partition: 2, FromOffset: -1, ToOffset: -1}.Build(testNow)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(t.Context(), opts, config(t, opts, "r3", f))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 1 {
		t.Fatalf("summary %+v, want 1 sent", sum)
	}
	sum, err = Run(t.Context(), opts, config(t, opts, "r3", filter.All()))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 2 {
		t.Fatalf("a later run of the whole DLQ sent %d, want the 2 of partition 0", sum.Sent)
	}
}

func TestDryRunWritesAndCommitsNothing(t *testing.T) {
	opts := fakeKafka(t)
	deadLetter(t, opts, 1, srcEvent(uuid(1)), srcEvent(uuid(2)))
	c := config(t, opts, "dry", filter.All())
	var items []Item
	sum, err := DryRun(context.Background(), opts, c, func(it Item) { items = append(items, it) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 2 || len(items) != 2 || items[0].Out == nil {
		t.Fatalf("dry run %+v with %d items, want 2 to send", sum, len(items))
	}
	if got := items[0].Verdict.Event.Conversion().ValueCents; got != 150 {
		t.Errorf("transform value_cents %d, want 150", got)
	}
	if evs := committedEvents(t, opts); len(evs) != 0 {
		t.Fatalf("dry run wrote %d records", len(evs))
	}
	pos, err := Positions(t.Context(), kadm.NewClient(client(t, opts)), "dry", dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 0 {
		t.Fatalf("dry run committed %v", pos)
	}
}

func TestPlanForEndsAtTheEndNow(t *testing.T) {
	bounds := map[int32]scan.Bounds{0: {Low: 2, High: 10}, 1: {Low: 0, High: 5}}
	tests := []struct {
		name      string
		give      filter.Spec
		positions map[int32]int64
		want      scan.Plan
	}{
		{"everything", filter.Spec{Partition: -1, FromOffset: -1, ToOffset: -1}, nil,
			scan.Plan{0: {Start: 2, End: 10}, 1: {Start: 0, End: 5}}},
		{"from the position", filter.Spec{Partition: -1, FromOffset: -1, ToOffset: -1}, map[int32]int64{0: 4, 1: 5},
			scan.Plan{0: {Start: 4, End: 10}, 1: {Start: 5, End: 5}}},
		{"to an offset", filter.Spec{Partition: 0, FromOffset: -1, ToOffset: 6}, nil,
			scan.Plan{0: {Start: 2, End: 7}, 1: {Start: 0, End: 0}}},
		{"from an offset", filter.Spec{Partition: 0, FromOffset: 6, ToOffset: -1}, nil,
			scan.Plan{0: {Start: 2, End: 10}, 1: {Start: 0, End: 0}}},
		{"from an offset past the end", filter.Spec{Partition: 0, FromOffset: 25, ToOffset: -1}, nil,
			scan.Plan{0: {Start: 2, End: 10}, 1: {Start: 0, End: 0}}},
		{"from an offset past the end, at the end", filter.Spec{Partition: 1, FromOffset: 25, ToOffset: 30}, map[int32]int64{1: 5},
			scan.Plan{0: {Start: 2, End: 2}, 1: {Start: 5, End: 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.give.Build(testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := PlanFor(bounds, tt.positions, f); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("PlanFor = %v, want %v", got, tt.want)
			}
		})
	}
}

// A --from-offset past the end looks at what there is (to move the position past it) and ends,
// in a dry run and in a replay.
func TestRunFromAnOffsetPastTheEndEnds(t *testing.T) {
	opts := fakeKafka(t)
	deadLetter(t, opts, 0, srcEvent(uuid(1)), srcEvent(uuid(2)))
	f, err := filter.Spec{Partition: 0, FromOffset: 100, ToOffset: -1}.Build(testNow)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := config(t, opts, "past", f)
	dry, err := DryRun(ctx, opts, c, func(Item) {})
	if err != nil || dry.Looked != 2 || dry.Sent != 0 {
		t.Fatalf("dry run: %+v, %v; want 2 looked at, none sent", dry, err)
	}
	sum, err := Run(ctx, opts, c)
	if err != nil || sum.Looked != 2 || sum.Unmatched != 2 || sum.Sent != 0 {
		t.Fatalf("run: %+v, %v; want 2 looked at and unmatched", sum, err)
	}
}

// A record up to MAX_RECORD_BYTES fits in the replay's producer batch (the client's default is
// smaller); a larger one is held back, even forced.
func TestRunSendsLargeRecordsUpToMaxRecordBytes(t *testing.T) {
	opts := fakeKafka(t)
	large := &kgo.Record{Key: []byte("large"), Value: bytes.Repeat([]byte("x"), 1<<20-8<<10)}
	tooLarge := &kgo.Record{Key: []byte("too-large"), Value: bytes.Repeat([]byte("x"), 1<<20+1)}
	deadLetter(t, opts, 0, large, tooLarge)
	c := config(t, opts, "large", filter.All())
	c.Policy.Force = true
	sum, err := Run(t.Context(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 1 || sum.HeldTooLarge != 1 {
		t.Fatalf("summary %+v, want 1 sent and 1 held back as too large", sum)
	}
	evs := committedEvents(t, opts)
	if len(evs) != 1 || string(evs[0].Key) != "large" {
		t.Fatalf("sent %d records, want only the large one", len(evs))
	}
}

// A run fenced by a newer run of the same name does not take their shared static member out of
// the group; a run that finishes does.
func TestFencedRunDoesNotLeaveTheGroup(t *testing.T) {
	c, opts := fakeCluster(t)
	deadLetter(t, opts, 0, srcEvent(uuid(1)), srcEvent(uuid(2)), srcEvent(uuid(3)))
	leaves := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.LeaveGroup}, Group: GroupID("fenced"), Observe: true, Count: -1})
	defer leaves.Remove()

	first := config(t, opts, "fenced", filter.All())
	first.Batch = 1
	first.Progress = func(int64, Summary) {
		// What a newer run of the same name does first.
		if err := Fence(t.Context(), opts, "fenced", 0); err != nil {
			t.Error(err)
		}
	}
	sum, err := Run(t.Context(), opts, first)
	if !fenced(err) || sum.Sent != 1 {
		t.Fatalf("fenced run: %+v, %v; want 1 sent, then fenced", sum, err)
	}
	if n := leaves.Hits(); n != 0 {
		t.Fatalf("the fenced run left the group (%d LeaveGroup requests)", n)
	}

	sum, err = Run(t.Context(), opts, config(t, opts, "fenced", filter.All()))
	if err != nil || sum.Sent != 2 {
		t.Fatalf("newer run: %+v, %v; want the other 2 sent", sum, err)
	}
	if n := leaves.Hits(); n != 1 {
		t.Fatalf("the run that finished sent %d LeaveGroup requests, want 1", n)
	}
}

// A dry run with --max lists exactly the records, in the order, that the same replay without
// --dry-run then sends, round after round.
func TestDryRunWithMaxPreviewsWhatTheReplaySends(t *testing.T) {
	opts := fakeKafka(t)
	for p := range int32(3) {
		var recs []*kgo.Record
		for i := range 6 {
			recs = append(recs, srcEvent(uuid(int(p)*10+i)))
		}
		deadLetter(t, opts, p, recs...)
	}
	sentBefore := 0
	for round := range 3 {
		c := config(t, opts, "same", filter.All())
		c.Max = 5
		var previewed []string
		if _, err := DryRun(t.Context(), opts, c, func(it Item) {
			previewed = append(previewed, fmt.Sprintf("%d/%d", it.Record.Partition, it.Record.Offset))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(t.Context(), opts, c); err != nil {
			t.Fatal(err)
		}
		// Every round's records come after the earlier rounds' in the replay's order.
		var sent []string
		for _, r := range committedEvents(t, opts) {
			from, _ := deadletter.Header(r.Headers, deadletter.HeaderReplayedFrom)
			sent = append(sent, strings.TrimPrefix(from, dlqTopic+"/"))
		}
		sent = sentInOrder(sent)[sentBefore:]
		sentBefore += len(sent)
		if fmt.Sprint(previewed) != fmt.Sprint(sent) {
			t.Fatalf("round %d: the dry run previewed %v, the replay sent %v", round, previewed, sent)
		}
	}
}

// sentInOrder sorts "partition/offset" references by partition, then offset: the order a
// replay reads and sends.
func sentInOrder(refs []string) []string {
	slices.SortFunc(refs, func(a, b string) int {
		var pa, oa, pb, ob int
		fmt.Sscanf(a, "%d/%d", &pa, &oa)
		fmt.Sscanf(b, "%d/%d", &pb, &ob)
		if pa != pb {
			return pa - pb
		}
		return oa - ob
	})
	return refs
}

// A transaction is sized by the records it sends, not by those it looks at: a narrow selection
// over many records takes a few transactions, not one per --batch records looked at.
func TestNarrowSelectionTakesFewTransactions(t *testing.T) {
	c, opts := fakeCluster(t)
	const total = 5000
	cl := client(t, opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range total {
		src := srcEvent(uuid(i))
		src.Topic, src.Offset = eventsTopic, int64(i)
		r := deadletter.Record(dlqTopic, src, deadletter.Failure{Reason: deadletter.Rejected, HTTPStatus: 400, FailedAt: testNow})
		r.Partition = int32(i % 3)
		cl.Produce(t.Context(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	ends := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Observe: true, Count: -1})
	defer ends.Remove()
	f, err := filter.Spec{EventIDs: uuid(7) + "," + uuid(4001), Partition: -1, FromOffset: -1, ToOffset: -1}.Build(testNow)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, opts, "narrow", f)
	cfg.Batch = 10
	sum, err := Run(t.Context(), opts, cfg)
	if err != nil || sum.Sent != 2 || sum.Looked != total {
		t.Fatalf("run: %+v, %v; want 2 sent of %d looked at", sum, err, total)
	}
	if n := ends.Hits(); n > 10 {
		t.Errorf("%d transactions for 2 records sent (--batch 10), want a few", n)
	}
}

// The forwarder dead-letters a record twice when it re-reads it after a crash: both DLQ copies
// name the same source record (dlq.source_*). A replay, and its dry run, send it once, also
// when the copies fall into two runs of the name (the look-back before the position).
func TestEachSourceRecordIsSentOnce(t *testing.T) {
	opts := fakeKafka(t)
	// deadLetter numbers the sources 0, 1, ... per call: a second call re-dead-letters them.
	deadLetter(t, opts, 0, srcEvent(uuid(1)), srcEvent(uuid(2)))
	deadLetter(t, opts, 0, srcEvent(uuid(1)))
	deadLetter(t, opts, 0, srcEvent(uuid(1)), srcEvent(uuid(2)), srcEvent(uuid(3)))
	// DLQ partition 0 now holds sources 0, 1, 0, 0, 1, 2: three source records.

	c := config(t, opts, "once", filter.All())
	var previewed int
	dry, err := DryRun(t.Context(), opts, c, func(it Item) {
		if it.Verdict.Decision == Send {
			previewed++
		}
	})
	if err != nil || dry.Sent != 3 || dry.Duplicates != 3 || previewed != 3 {
		t.Fatalf("dry run: %+v, %v; want 3 to send and 3 duplicates", dry, err)
	}
	c.Max = 1
	first, err := Run(t.Context(), opts, c)
	if err != nil || first.Sent != 1 {
		t.Fatalf("first run: %+v, %v; want 1 sent", first, err)
	}
	second, err := Run(t.Context(), opts, config(t, opts, "once", filter.All()))
	if err != nil || second.Sent != 2 || second.Duplicates != 3 {
		t.Fatalf("second run: %+v, %v; want the 2 other sources sent and 3 duplicates skipped", second, err)
	}
	if evs := committedEvents(t, opts); len(evs) != 3 {
		t.Fatalf("%d records sent, want one per source record (3)", len(evs))
	}
}
