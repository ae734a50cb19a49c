package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The forwarder's edges on the real broker: each test here failed on the build before the fix.

// A record whose pipeline headers (dlq.*, fwd.*) make it nearly 1 MB is accepted by the events
// topic; its dead-letter copy or rerouted copy would not fit a producer batch. Every byte counts
// against MAX_RECORD_BYTES, so it is dead-lettered without its payload and the partition goes on.
// (Before: the DLQ write or reroute was refused with MESSAGE_TOO_LARGE and the forwarder exited,
// on the same offset after every restart.)
func TestARecordWithLargePipelineHeadersDoesNotStopThePartition(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	startForwarder(t, n, s, fastRetries...)

	prod := kafkaClient(t, kgo.ProducerBatchMaxBytes(2<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	big := []byte(strings.Repeat("x", 999_900))
	good, moved := newUUID(), newUUID()
	recs := []*kgo.Record{
		// Invalid, with a replay header its dead-letter copy keeps.
		{Topic: n.events, Partition: 0, Key: []byte("junk"), Value: []byte("{not json"),
			Headers: []kgo.RecordHeader{{Key: "dlq.replayed_from", Value: big}}},
		// A valid event on every partition, with a large fwd.* header: before, the copies on the
		// wrong partitions were rerouted header and all; now every copy is over the limit.
		{Topic: n.events, Partition: 0, Key: []byte(good), Value: []byte(eventJSON(good))},
	}
	for p := range int32(6) {
		recs = append(recs, &kgo.Record{Topic: n.events, Partition: p, Key: []byte(moved), Value: []byte(eventJSON(moved)),
			Headers: []kgo.RecordHeader{{Key: "fwd.trace", Value: big}}})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, r := range recs { // one by one: each is a batch of its own near the topic's limit
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	waitFor(t, 60*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	if got := s.times(t)[good]; got != 1 {
		t.Errorf("the event behind the large record was delivered %d times, want once", got)
	}
	dlq := readAll(t, n.dlq)
	if len(dlq) != 7 {
		t.Fatalf("%d DLQ records, want the 7 large ones", len(dlq))
	}
	for _, r := range dlq {
		if header(r, "dlq.reason") != "invalid" || header(r, "dlq.omitted") == "" || len(r.Value) != 0 {
			t.Errorf("DLQ record: reason %q, value %d bytes, dlq.omitted %q; want invalid, without its payload",
				header(r, "dlq.reason"), len(r.Value), header(r, "dlq.omitted"))
		}
	}
}

// A gateway answering 404 for everything while AdEventsX is deployed is the destination's
// failure: the circuit opens, nothing goes to the DLQ, and every event is delivered once the
// endpoint is back. (Before: every event was dead-lettered as rejected at full speed.)
func TestAGateways404DuringADeployPutsNothingInTheDLQ(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	_, admin := startForwarder(t, n, s, fastRetries...)
	s.control(t, map[string]any{"down": true, "down_status": 404})

	ids := newIDs(50)
	produceEvents(t, n.events, ids)
	waitFor(t, 60*time.Second, func() (bool, string) {
		code, _, _ := httpGet(admin + "/readyz")
		return code == 503 && s.stats(t)["404"] >= 5, "the circuit open on 404s"
	})
	if dlq := readAll(t, n.dlq); len(dlq) != 0 {
		t.Fatalf("%d events dead-lettered for the gateway's 404 (%s)", len(dlq), header(dlq[0], "dlq.error"))
	}
	s.control(t, map[string]any{"down": false})
	waitFor(t, 90*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	dups, dlq := reconcile(t, s, n, ids)
	if len(dlq) != 0 || dups != 0 {
		t.Fatalf("after the deploy: %d dead-lettered, %d duplicates; want 0 and 0", len(dlq), dups)
	}
}

// Every event AdEventsX received has its delivered marker, also when the forwarder loses its
// partitions while markers are buffered (the broker gone past the session timeout): an id counts
// as delivered only once its marker is acknowledged. (Before: the in-memory mark survived the
// cancelled marker write, the re-read record was skipped and committed without a marker, and a
// later copy would be delivered again.)
func TestFaultEveryDeliveredEventKeepsItsMarkerAcrossALostPartition(t *testing.T) {
	needRealBroker(t)
	const total = 600
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t, "SIM_LATENCY=20ms")
	startForwarder(t, n, s, append(fastRetries, groupFast...)...)

	ids := newIDs(total)
	produceEvents(t, n.events, ids)
	waitFor(t, 60*time.Second, func() (bool, string) { return s.received(t).Count >= total/10, "a tenth delivered" })
	kafkaCtlRun(t, "stop")
	t.Cleanup(func() { kafkaCtlRun(t, "start") }) // a no-op when it runs
	// Past the 6 s session timeout while deliveries go on, their markers unwritten.
	deadline := time.Now().Add(12 * time.Second)
	waitFor(t, 30*time.Second, func() (bool, string) { return time.Now().After(deadline), "the session to expire" })
	kafkaCtlRun(t, "start")
	waitFor(t, 180*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })

	markers := map[string]bool{}
	for _, r := range readAll(t, n.delivered) {
		markers[string(r.Key)] = true
	}
	received := s.times(t)
	missing := 0
	for id := range received {
		if !markers[id] {
			missing++
		}
	}
	dups, _ := reconcile(t, s, n, ids)
	t.Logf("lost partitions: %d events received, %d without a marker, %d delivered twice", len(received), missing, dups)
	if missing != 0 {
		t.Fatalf("%d of %d delivered events have no delivered marker: a later copy would be delivered again",
			missing, len(received))
	}
}

// No stall after backpressure: a partition paused because its records piled up fetches again as
// soon as it is resumed. Before, a resumed partition waited behind the fetch in flight for the
// other partitions, up to franz-go's 5 s FetchMaxWait when they had nothing new: deliveries
// stopped for 4.7-4.9 s near the end of a burst. Here one partition holds the backlog, in records
// of 8 KB (a fetch brings many at once), the others a few records, and a 50 ms destination makes
// the busy one pause and resume over and over while the others wait at their log end.
func TestNoStallAfterBackpressure(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t, "SIM_LATENCY=50ms")
	pad := []byte(strings.Repeat("x", 8<<10))
	home := kgo.StickyKeyPartitioner(nil).ForTopic(n.events)
	perPartition := map[int][]string{}
	for len(perPartition[0]) < 3000 {
		id := newUUID()
		p := home.Partition(&kgo.Record{Key: []byte(id)}, 6)
		if p == 0 || len(perPartition[p]) < 5 {
			perPartition[p] = append(perPartition[p], id)
		}
	}
	var recs []*kgo.Record
	total := 0
	for _, ids := range perPartition {
		for _, id := range ids {
			recs = append(recs, &kgo.Record{Key: []byte(id), Value: []byte(eventJSON(id)),
				Headers: []kgo.RecordHeader{{Key: "pad", Value: pad}}})
		}
		total += len(ids)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := kafkaClient(t, kgo.DefaultProduceTopic(n.events)).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	startForwarder(t, n, s, append(fastRetries, "MAX_IN_FLIGHT_PER_PARTITION=32")...)
	waitFor(t, 120*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })

	var times []int64
	for _, e := range s.received(t).Events {
		times = append(times, e.First)
	}
	if len(times) != total {
		t.Fatalf("%d of %d delivered", len(times), total)
	}
	slices.Sort(times)
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		gap = max(gap, time.Duration(times[i]-times[i-1]))
	}
	t.Logf("longest gap between two deliveries of the backlog: %s", gap)
	if gap > time.Second {
		t.Fatalf("deliveries stopped for %s with a backlog waiting", gap)
	}
}
