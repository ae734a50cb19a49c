package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/deliver"
	"github.com/martech/eventfwd/services/forwarder/internal/engine"
	"github.com/martech/eventfwd/services/forwarder/internal/forward"
	"github.com/martech/eventfwd/services/forwarder/internal/health"
	"github.com/martech/eventfwd/services/forwarder/internal/kfaketest"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// The engine and the path together on kfake, wired as the forwarder's run.go wires them.

// testPipeline builds an engine on the kfake cluster at seeds whose records take the forward
// path, delivering to api.
func testPipeline(t *testing.T, seeds []kgo.Opt, api string, perPartition int) (*engine.Engine, *metrics.Forwarder) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	gate := health.New(health.Config{Window: time.Minute, MinRequests: 100, FailureRatio: 0.9,
		ProbeInterval: time.Millisecond, MaxProbe: time.Millisecond, MaxInFlight: 16, MinInFlight: 1}, log, nil)
	d := deliver.NewDeliverer(deliver.NewClient(deliver.ClientConfig{BaseURL: api, APIKey: "k", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 16}), gate,
		deliver.Policy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, m)
	producer := newClient(t, seeds, kgo.ProducerBatchMaxBytes(4<<20))
	pipe := forward.New(forward.Config{DLQTopic: "dlq", Partitions: 4, MaxRecordBytes: 1 << 20,
		Names: event.NewNames("purchase")}, log, dedupe.New("delivered", 100_000, time.Hour), d.Deliver,
		func(ctx context.Context, r *kgo.Record) error { return producer.ProduceSync(ctx, r).FirstErr() }, m)
	eng, err := engine.New(engine.Config{
		Topic: "raw", Group: "g", SessionTimeout: 10 * time.Second,
		MaxInFlight: 16, MaxPerPartition: perPartition,
		CommitInterval: 100 * time.Millisecond, RevokeTimeout: 5 * time.Second,
	}, log, seeds, pipe.Handle, func(ctx context.Context, ids []int32) error {
		return pipe.Prepare(ctx, ids, seeds)
	}, m)
	if err != nil {
		t.Fatal(err)
	}
	return eng, m
}

var (
	kfakeCluster = kfaketest.Cluster
	newClient    = kfaketest.Client
)

// receiver starts an AdEventsX stand-in that answers 202 and counts the conversions it gets by
// the label each is given; it returns its URL and a copy of the counts.
func receiver(t *testing.T, label func(event.Conversion, *http.Request) string) (string, func() map[string]int) {
	var mu sync.Mutex
	got := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var conv event.Conversion
		_ = json.NewDecoder(r.Body).Decode(&conv)
		mu.Lock()
		got[label(conv, r)]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(api.Close)
	return api.URL, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}

// waitCommitted waits until group g has committed every partition of raw to its end.
func waitCommitted(t *testing.T, adm *kadm.Client, within time.Duration) {
	t.Helper()
	kfaketest.WaitFor(t, within, "every partition committed to its end", func() bool {
		ends, _ := adm.ListEndOffsets(t.Context(), "raw")
		offs, _ := adm.FetchOffsets(t.Context(), "g")
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			if c, _ := offs.Lookup("raw", o.Partition); c.At < o.Offset {
				behind++
			}
		})
		return behind == 0
	})
}

// A fast run of the whole engine on kfake: copies of one event on several partitions are
// delivered once, garbage is dead-lettered without stalling its partition, and every offset ends
// up committed.
func TestPipelineDeliversOnceDeadLettersGarbageAndCommits(t *testing.T) {
	seeds := kfakeCluster(t, "raw", "dlq", "delivered")

	api, received := receiver(t, func(c event.Conversion, _ *http.Request) string { return c.ID })
	eng, m := testPipeline(t, seeds, api, 4)

	// Every copy on every partition, by hand, as a producer with another partitioner might.
	prod := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ids := []string{"0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "1b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}
	var recs []*kgo.Record
	for p := range int32(4) {
		recs = append(recs, &kgo.Record{Topic: "raw", Partition: p, Key: []byte("junk"), Value: []byte("{not json")})
		for _, id := range ids {
			recs = append(recs, &kgo.Record{Topic: "raw", Partition: p, Key: []byte(id), Value: []byte(fmt.Sprintf(
				`{"event_id":%q,"user_id":"u","event_name":"purchase","event_time":1764000000,"value":1,"campaign_id":"c"}`, id))})
		}
	}
	if err := prod.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	stop := kfaketest.Run(t, eng.Run)
	adm := kadm.NewClient(prod)
	waitCommitted(t, adm, 20*time.Second)
	// Everything committed: the lag of each of the 4 partitions reads 0 (once the commit loop
	// has been round once more).
	kfaketest.WaitFor(t, 10*time.Second, "the lag of 4 partitions to read 0", func() bool {
		return testutil.CollectAndCount(m.Lag) == 4 && lagSum(m) == 0
	})
	stop()

	for _, id := range ids {
		if received()[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, received()[id])
		}
	}
	dlq, _ := adm.ListEndOffsets(t.Context(), "dlq")
	total := int64(0)
	dlq.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 4 {
		t.Errorf("%d records in the DLQ, want the 4 junk ones", total)
	}
}

// A marker topic the brokers do not know yet (just created, or a broker restarting) delays an
// assignment rather than stopping the forwarder: the load is retried and delivery goes on.
func TestPipelineRetriesReadingMarkersUntilTheTopicIsThere(t *testing.T) {
	seeds := kfakeCluster(t, "raw", "dlq")
	var delivered atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		delivered.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()
	prod := newClient(t, seeds, kgo.DefaultProduceTopic("raw"))
	id := "2b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	rec := &kgo.Record{Key: []byte(id), Value: []byte(fmt.Sprintf(
		`{"event_id":%q,"user_id":"u","event_name":"purchase","event_time":1764000000,"value":1,"campaign_id":"c"}`, id))}
	if err := prod.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	eng, m := testPipeline(t, seeds, api.URL, 4)
	stop := kfaketest.Run(t, eng.Run)
	kfaketest.WaitFor(t, 20*time.Second, "a failed marker load counted while the marker topic is missing", func() bool {
		return testutil.ToFloat64(m.LoadErrors) > 0
	})
	if delivered.Load() != 0 {
		t.Fatal("delivered before the markers were read")
	}
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(t.Context(), 4, 1, nil, "delivered"); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, adm, 20*time.Second)
	stop() // fails the test if Run returned the load error
	if n := delivered.Load(); n != 1 {
		t.Errorf("delivered %d times, want once", n)
	}
}

// A record too large to dead-letter whole (here a big key and a big value) is dead-lettered
// without its payload, naming what was left out; before, the DLQ write failed and the forwarder
// stopped on it after every restart.
func TestPipelineDeadLettersARecordTooLargeToCarry(t *testing.T) {
	seeds := kfakeCluster(t, "raw", "dlq", "delivered")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()
	prod := newClient(t, seeds, kgo.DefaultProduceTopic("raw"), kgo.ProducerBatchMaxBytes(4<<20))
	big := &kgo.Record{Key: bytes.Repeat([]byte("k"), 600<<10), Value: bytes.Repeat([]byte("v"), 700<<10),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
	if err := prod.ProduceSync(t.Context(), big).FirstErr(); err != nil {
		t.Fatal(err)
	}

	eng, _ := testPipeline(t, seeds, api.URL, 4) // MaxRecordBytes 1 MiB
	stop := kfaketest.Run(t, eng.Run)
	adm := kadm.NewClient(prod)
	waitCommitted(t, adm, 20*time.Second)
	stop() // fails the test if Run stopped on the DLQ write

	recs := readTopic(t, seeds, "dlq")
	if len(recs) != 1 {
		t.Fatalf("%d DLQ records, want 1", len(recs))
	}
	r := recs[0]
	omitted, _ := deadletter.Header(r.Headers, deadletter.HeaderOmitted)
	reason, _ := deadletter.Header(r.Headers, deadletter.HeaderReason)
	if reason != "invalid" || r.Key != nil || r.Value != nil ||
		!strings.Contains(omitted, "key (614400 bytes), value (716800 bytes) and headers (2 bytes)") {
		t.Errorf("DLQ record: reason %q, key %d bytes, value %d bytes, dlq.omitted %q", reason, len(r.Key), len(r.Value), omitted)
	}
	if _, ok := deadletter.Header(r.Headers, "h"); ok {
		t.Error("the original headers were carried although the record was too large")
	}
}

// readTopic reads every record of topic from the start to its current end.
func readTopic(t *testing.T, seeds []kgo.Opt, topic string) []*kgo.Record {
	t.Helper()
	cl := newClient(t, seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for int64(len(recs)) < want {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(recs), want, topic)
		}
		recs = append(recs, f.Records()...)
	}
	return recs
}

// An event_id sent in upper case and again in lower case is one event (UUIDs are case-insensitive):
// both copies are routed by the lowercase id and it is delivered once, in lowercase.
func TestPipelineTakesAnEventIDInAnyCaseAsOne(t *testing.T) {
	seeds := kfakeCluster(t, "raw", "dlq", "delivered")
	api, received := receiver(t, func(c event.Conversion, r *http.Request) string {
		return c.ID + " " + r.Header.Get("Idempotency-Key")
	})
	prod := newClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	lower := "3b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	var recs []*kgo.Record
	for p, id := range []string{strings.ToUpper(lower), lower, strings.ToUpper(lower), lower} {
		recs = append(recs, &kgo.Record{Topic: "raw", Partition: int32(p), Key: []byte(id), Value: []byte(fmt.Sprintf(
			`{"event_id":%q,"user_id":"u","event_name":"purchase","event_time":1764000000,"value":1,"campaign_id":"c"}`, id))})
	}
	if err := prod.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eng, _ := testPipeline(t, seeds, api, 4)
	stop := kfaketest.Run(t, eng.Run)
	waitCommitted(t, kadm.NewClient(prod), 20*time.Second)
	stop()
	if got := received(); len(got) != 1 || got[lower+" "+lower] != 1 {
		t.Errorf("received %v, want %s (as id and Idempotency-Key) once", got, lower)
	}
}

// lagSum is the consumer lag over all of e's partitions.
func lagSum(m *metrics.Forwarder) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { m.Lag.Collect(ch); close(ch) }()
	sum := 0.0
	for m := range ch {
		var pb dto.Metric
		_ = m.Write(&pb)
		sum += pb.GetGauge().GetValue()
	}
	return sum
}
