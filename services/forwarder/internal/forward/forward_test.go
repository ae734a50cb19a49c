package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/forwarder/internal/dedupe"
	"github.com/martech/eventfwd/services/forwarder/internal/metrics"
)

// These tests run the path of one record with no Kafka and no HTTP: a fake Kafka that takes
// writes (as a topic whose limit is maxBytes would) and a scripted AdEventsX.

const id = "0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

func eventJSON(id string) string {
	return `{"event_id":"` + id + `","user_id":"u","event_name":"purchase","event_time":1764000000,"value":1,"campaign_id":"c"}`
}

// fakeKafka takes writes; a record over maxBytes is refused as Kafka refuses it, and block, when
// set, holds every write of topic until released or ctx ends.
type fakeKafka struct {
	mu         sync.Mutex
	maxBytes   int
	written    []*kgo.Record
	refused    int
	partitions int           // of raw, for where a reroute lands
	block      string        // topic whose writes wait on unblock
	unblock    chan struct{} // closed to let them through
}

func (k *fakeKafka) produce(ctx context.Context, r *kgo.Record) error {
	if k.block != "" && r.Topic == k.block {
		select {
		case <-k.unblock:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.maxBytes > 0 && deadletter.Size(r) > k.maxBytes {
		k.refused++
		return fmt.Errorf("produce: %w", kerr.MessageTooLarge)
	}
	if r.Topic == "raw" { // where a reroute lands: its key's home among partitions (1 when unset)
		r.Partition = int32(kgo.StickyKeyPartitioner(nil).ForTopic("raw").Partition(r, max(1, k.partitions)))
	}
	k.written = append(k.written, r)
	return nil
}

func (k *fakeKafka) topic(name string) []*kgo.Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*kgo.Record
	for _, r := range k.written {
		if r.Topic == name {
			out = append(out, r)
		}
	}
	return out
}

// api is a scripted AdEventsX: answer(id) is what Deliver returns for an event.
type api struct {
	mu     sync.Mutex
	calls  map[string]int
	answer func(id string) error
}

func (a *api) deliver(_ context.Context, id string, _ []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls == nil {
		a.calls = map[string]int{}
	}
	a.calls[id]++
	if a.answer != nil {
		return a.answer(id)
	}
	return nil
}

func (a *api) got(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

func newPipeline(k *fakeKafka, a *api, maxRecord int) (*Pipeline, *dedupe.Store) {
	store := dedupe.New("delivered", 1000, time.Hour)
	return New(Config{DLQTopic: "dlq", Partitions: 1, MaxRecordBytes: maxRecord, Names: event.NewNames("purchase")},
		slog.New(slog.NewTextHandler(io.Discard, nil)), store, a.deliver, k.produce, metrics.New()), store
}

func handle(t *testing.T, p *Pipeline, r *kgo.Record) error {
	t.Helper()
	return p.Handle(t.Context(), t.Context(), r, func() {})
}

func TestDecodeNamesWhatIsWrongWithARecord(t *testing.T) {
	good := eventJSON(id)
	tests := []struct {
		name    string
		key     []byte
		value   string
		wantErr string // "" for a valid event
	}{
		{"valid", []byte(id), good, ""},
		{"not JSON", []byte(id), "hello", "invalid JSON"},
		{"wrong fields", []byte(id), `{"event_id":"` + id + `","value":-2}`, "user_id: is required"},
		{"NUL in a field", []byte(id), strings.Replace(good, `"campaign_id":"`, `"campaign_id":"\u0000`, 1), "campaign_id: must not contain control characters"},
		{"field given twice", []byte(id), strings.Replace(good, `{`, `{"value":1,`, 1), "value: given twice"},
		{"null key", nil, good, "no key"},
		{"key is not the event_id", []byte("other"), good, `record key "other" is not the event_id`},
		{"oversized", []byte(id), good + strings.Repeat(" ", 300), "over the 400-byte limit"},
	}
	p, _ := newPipeline(&fakeKafka{}, &api{}, 400)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.decode(&kgo.Record{Key: tt.key, Value: []byte(tt.value)})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Fatalf("decode error = %q, want one containing %q", got, tt.wantErr)
			}
		})
	}
}

// An id counts as delivered only once its marker is acknowledged. A marker write cut short (the
// partition lost while it was buffered) leaves the record unfinished and the id not delivered,
// so the copy read again is delivered (and marked) rather than skipped and committed without a
// marker.
func TestAnEventCountsAsDeliveredOnlyOnceItsMarkerIsAcknowledged(t *testing.T) {
	k := &fakeKafka{block: "delivered", unblock: make(chan struct{})}
	a := &api{}
	p, store := newPipeline(k, a, 1<<20)
	rec := &kgo.Record{Topic: "raw", Key: []byte(id), Value: []byte(eventJSON(id))}

	hard, lose := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Handle(t.Context(), hard, rec, func() {}) }()
	for a.got(id) == 0 {
		time.Sleep(time.Millisecond) // polling the fake API until the delivery happened
	}
	lose() // the partition is lost while the marker is buffered
	if err := <-done; err == nil {
		t.Fatal("Handle finished the record though its marker was never written")
	}
	if store.Delivered(id) {
		t.Fatal("the id counts as delivered without an acknowledged marker")
	}

	close(k.unblock) // the partition comes straight back: the record is read again
	if err := handle(t, p, rec); err != nil {
		t.Fatalf("Handle of the record read again: %v", err)
	}
	if n := len(k.topic("delivered")); n != 1 {
		t.Fatalf("%d markers written, want 1", n)
	}
	if !store.Delivered(id) {
		t.Fatal("not delivered after its marker was acknowledged")
	}
}

// A copy that arrives while the first copy's marker is in flight waits for it, then is skipped.
func TestACopyWaitsForTheFirstCopysMarker(t *testing.T) {
	k := &fakeKafka{block: "delivered", unblock: make(chan struct{})}
	a := &api{}
	p, _ := newPipeline(k, a, 1<<20)
	rec := &kgo.Record{Topic: "raw", Key: []byte(id), Value: []byte(eventJSON(id))}
	first := make(chan error, 1)
	go func() { first <- handle(t, p, rec) }()
	for a.got(id) == 0 {
		time.Sleep(time.Millisecond) // polling the fake API until the delivery happened
	}
	second := make(chan error, 1)
	go func() { second <- handle(t, p, rec) }()
	select {
	case err := <-second:
		t.Fatalf("the copy finished (%v) while the first copy's marker was in flight", err)
	case <-time.After(50 * time.Millisecond): // a copy that does not wait finishes well within this
	}
	close(k.unblock)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := a.got(id); n != 1 {
		t.Fatalf("delivered %d times, want once", n)
	}
}

// Every byte of a record counts against MAX_RECORD_BYTES, the pipeline's own headers too: a
// record whose dlq.* or fwd.* headers make it large is dead-lettered without its payload, never
// written whole where Kafka refuses it (which stopped the partition on it after every restart).
func TestEveryByteOfARecordCounts(t *testing.T) {
	const limit = 1_000_000 // the topics' max.message.bytes in this fake
	big := bytes.Repeat([]byte("x"), 950_000)
	tests := []struct {
		name  string
		give  *kgo.Record
		wrong bool // read from a partition other than its home
	}{
		{"large dlq.* replay header, invalid value", &kgo.Record{Key: []byte(id), Value: []byte("{not json"),
			Headers: []kgo.RecordHeader{{Key: deadletter.HeaderReplayedFrom, Value: big}}}, false},
		{"large fwd.* header, on the wrong partition", &kgo.Record{Key: []byte(id), Value: []byte(eventJSON(id)),
			Headers: []kgo.RecordHeader{{Key: "fwd.note", Value: big}}}, true},
		{"500 000 empty headers", &kgo.Record{Key: []byte(id), Value: []byte("{not json"),
			Headers: make([]kgo.RecordHeader, 500_000)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKafka{maxBytes: limit}
			p, _ := newPipeline(k, &api{}, deadletter.DefaultMaxRecordBytes)
			p.cfg.Partitions = 2
			home := int32(p.home.Partition(&kgo.Record{Key: []byte(id)}, 2))
			tt.give.Topic, tt.give.Partition, tt.give.Offset = "raw", home, 7
			if tt.wrong {
				tt.give.Partition = 1 - home
			}
			if err := handle(t, p, tt.give); err != nil {
				t.Fatalf("Handle: %v (the partition would stop here)", err)
			}
			dlq := k.topic("dlq")
			if len(dlq) != 1 || k.refused != 0 {
				t.Fatalf("%d DLQ records, %d writes refused; want 1 and 0", len(dlq), k.refused)
			}
			if omitted, _ := deadletter.Header(dlq[0].Headers, deadletter.HeaderOmitted); omitted == "" {
				t.Error("dead-lettered whole, without dlq.omitted")
			}
		})
	}
}

// Should a topic's limit be below what MAX_RECORD_BYTES allows, a dead letter Kafka refuses as
// too large is written again without its payload; a reroute it refuses is dead-lettered.
func TestAWriteKafkaRefusesAsTooLargeIsShrunk(t *testing.T) {
	k := &fakeKafka{maxBytes: 200_000}
	p, _ := newPipeline(k, &api{}, deadletter.DefaultMaxRecordBytes)
	p.cfg.Partitions = 2
	value := eventJSON(id)[:20] + strings.Repeat(" ", 300_000) // invalid JSON of 300 kB
	if err := handle(t, p, &kgo.Record{Topic: "raw", Key: []byte(id), Value: []byte(value)}); err != nil {
		t.Fatalf("Handle of an invalid record: %v", err)
	}
	home := int32(p.home.Partition(&kgo.Record{Key: []byte(id)}, 2))
	moved := &kgo.Record{Topic: "raw", Partition: 1 - home, Key: []byte(id),
		Value: []byte(eventJSON(id) + strings.Repeat(" ", 300_000))}
	if err := handle(t, p, moved); err != nil {
		t.Fatalf("Handle of a record to reroute: %v", err)
	}
	dlq := k.topic("dlq")
	if len(dlq) != 2 {
		t.Fatalf("%d DLQ records, want 2", len(dlq))
	}
	for _, r := range dlq {
		if omitted, _ := deadletter.Header(r.Headers, deadletter.HeaderOmitted); omitted == "" || r.Value != nil {
			t.Errorf("DLQ record of %d bytes, dlq.omitted %q: want it shrunk", len(r.Value), omitted)
		}
	}
	if msg, _ := deadletter.Header(dlq[1].Headers, deadletter.HeaderError); !strings.Contains(msg, "too large for Kafka to take again") {
		t.Errorf("reroute refused: dlq.error = %q", msg)
	}
}

// A failure from delivery is dead-lettered as it is; a stop is passed on, the record unfinished.
func TestDeliveryOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     error
		wantDLQ    deadletter.Reason // "" for none
		wantMarker bool
		wantErr    bool
	}{
		{"delivered", nil, "", true, false},
		{"rejected", &deadletter.Failure{Reason: deadletter.Rejected, Message: "400", HTTPStatus: 400, Attempts: 1}, deadletter.Rejected, false, false},
		{"exhausted", &deadletter.Failure{Reason: deadletter.Exhausted, Message: "503", HTTPStatus: 503, Attempts: 4}, deadletter.Exhausted, false, false},
		{"stopped", context.Canceled, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKafka{}
			p, _ := newPipeline(k, &api{answer: func(string) error { return tt.answer }}, 1<<20)
			released := false
			err := p.Handle(t.Context(), t.Context(), &kgo.Record{Topic: "raw", Key: []byte(id), Value: []byte(eventJSON(id))},
				func() { released = true })
			if (err != nil) != tt.wantErr || (tt.wantErr && !errors.Is(err, context.Canceled)) {
				t.Fatalf("Handle = %v, want error %v", err, tt.wantErr)
			}
			if !released {
				t.Error("the slot was not released after the delivery")
			}
			dlq := k.topic("dlq")
			if tt.wantDLQ == "" && len(dlq) != 0 || tt.wantDLQ != "" && (len(dlq) != 1 || reason(dlq[0]) != tt.wantDLQ) {
				t.Errorf("DLQ = %d records, want reason %q", len(dlq), tt.wantDLQ)
			}
			if got := len(k.topic("delivered")) == 1; got != tt.wantMarker {
				t.Errorf("marker written = %v, want %v", got, tt.wantMarker)
			}
		})
	}
}

func reason(r *kgo.Record) deadletter.Reason {
	v, _ := deadletter.Header(r.Headers, deadletter.HeaderReason)
	return deadletter.Reason(v)
}

// A valid event just under the size limit on the wrong partition is rerouted and, read again at
// home with the fwd.rerouted_from header its move added, delivered rather than dead-lettered.
func TestAnEventJustUnderTheLimitIsDeliveredAfterItsReroute(t *testing.T) {
	k := &fakeKafka{partitions: 2}
	a := &api{}
	p, _ := newPipeline(k, a, 0)
	p.cfg.Partitions = 2
	home := int32(p.home.Partition(&kgo.Record{Key: []byte(id)}, 2))
	src := &kgo.Record{Topic: "raw", Partition: 1 - home, Offset: 12345, Key: []byte(id), Value: []byte(eventJSON(id))}
	p.cfg.MaxRecordBytes = deadletter.Size(src) // exactly at the limit
	if err := handle(t, p, src); err != nil {
		t.Fatal(err)
	}
	moved := k.topic("raw")
	if len(moved) != 1 {
		t.Fatalf("%d rerouted copies, want 1", len(moved))
	}
	moved[0].Partition = home
	if err := handle(t, p, moved[0]); err != nil {
		t.Fatal(err)
	}
	if a.got(id) != 1 || len(k.topic("dlq")) != 0 {
		t.Fatalf("delivered %d times, %d dead-lettered; want delivered once", a.got(id), len(k.topic("dlq")))
	}
}
