package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The whole path: token -> POST /events -> events.raw -> forwarder -> the simulator receives the
// event in AdEventsX's shape.
func TestPipelineDeliversAnAcceptedEventTransformed(t *testing.T) {
	n := newNames(t)
	s := startSim(t)
	in := startIngress(t, n)
	startForwarder(t, n, s, fastRetries...)

	id := newUUID()
	code, body := in.post(t, map[string]any{
		"eventId": id, "userId": "user-ü-1", "eventName": "purchase",
		"eventTime": "2024-02-29T23:59:59.999+05:30", "value": 1.005, "campaignId": "spring",
		"source": "dashboard", "unknown_field": "dropped",
	})
	if code != http.StatusAccepted || !strings.Contains(body, id) {
		t.Fatalf("POST /events = %d %s, want 202 with the event_id", code, body)
	}
	waitFor(t, 30*time.Second, func() (bool, string) {
		return s.times(t)[id] == 1, "the simulator to receive " + id
	})
	got := s.received(t).Events[0].Body
	want := conversion{
		ID: id, User: "user-ü-1", Name: "purchase",
		TS:         time.Date(2024, 2, 29, 18, 29, 59, 0, time.UTC).Unix(),
		ValueCents: 101, Campaign: "spring", Source: "internal_martech",
	}
	if got != want {
		t.Fatalf("AdEventsX received %+v, want %+v", got, want)
	}
}

// The same event_id posted twice is delivered once.
func TestDuplicateEventIDIsDeliveredOnce(t *testing.T) {
	n := newNames(t)
	s := startSim(t)
	in := startIngress(t, n)
	startForwarder(t, n, s, fastRetries...)

	id, other := newUUID(), newUUID()
	for _, ev := range []string{id, id, other, id} {
		if code, body := in.post(t, sampleEvent(ev)); code != http.StatusAccepted {
			t.Fatalf("POST /events = %d %s", code, body)
		}
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	times := s.times(t)
	if times[id] != 1 || times[other] != 1 {
		t.Fatalf("deliveries = %v, want each id once", times)
	}
}

// An event answered 503 and then 202 is delivered once, after a retry.
func TestRetryAfter503DeliversOnce(t *testing.T) {
	n := newNames(t)
	s := startSim(t)
	in := startIngress(t, n)
	startForwarder(t, n, s) // the real policy: first retry after about 1 s
	s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 503}})

	id := newUUID()
	start := time.Now()
	if code, body := in.post(t, sampleEvent(id)); code != http.StatusAccepted {
		t.Fatalf("POST /events = %d %s", code, body)
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return s.times(t)[id] == 1, "delivery of " + id })
	took := time.Since(start)
	if st := s.stats(t); st["503"] != 1 || st["202"] != 1 {
		t.Fatalf("simulator answered %v, want one 503 then one 202", st)
	}
	if took < 700*time.Millisecond {
		t.Fatalf("delivered after %s, want the retry to wait about 1 s", took)
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	if dlq := readAll(t, n.dlq); len(dlq) != 0 {
		t.Fatalf("%d records in the DLQ, want none", len(dlq))
	}
}

// A 400 from AdEventsX puts the event in the DLQ with the contract's headers, key and value
// unchanged.
func TestRejectedEventGoesToTheDLQWithItsHeaders(t *testing.T) {
	n := newNames(t)
	s := startSim(t)
	in := startIngress(t, n)
	startForwarder(t, n, s, fastRetries...)
	s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 400}})

	id := newUUID()
	if code, body := in.post(t, sampleEvent(id)); code != http.StatusAccepted {
		t.Fatalf("POST /events = %d %s", code, body)
	}
	waitFor(t, 30*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	dlq := readAll(t, n.dlq)
	if len(dlq) != 1 {
		t.Fatalf("%d records in the DLQ, want 1", len(dlq))
	}
	raw := readAll(t, n.events)
	r := dlq[0]
	if string(r.Key) != id || string(r.Value) != string(raw[0].Value) {
		t.Fatalf("DLQ record key %q value %q, want the original %q %q", r.Key, r.Value, id, raw[0].Value)
	}
	want := map[string]string{
		"dlq.reason":           "rejected",
		"dlq.http_status":      "400",
		"dlq.attempts":         "1",
		"dlq.source_topic":     n.events,
		"dlq.source_partition": fmt.Sprint(raw[0].Partition),
		"dlq.source_offset":    fmt.Sprint(raw[0].Offset),
		"dlq.replay_count":     "0",
	}
	for k, v := range want {
		if got := header(r, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"dlq.error", "dlq.first_attempt_at", "dlq.failed_at"} {
		if header(r, k) == "" {
			t.Errorf("header %s missing", k)
		}
	}
	if _, err := time.Parse(time.RFC3339, header(r, "dlq.failed_at")); err != nil {
		t.Errorf("dlq.failed_at %q is not RFC 3339: %v", header(r, "dlq.failed_at"), err)
	}
	if got := s.times(t)[id]; got != 0 {
		t.Errorf("simulator accepted the rejected event %d times", got)
	}
}

// A record that is not JSON, written straight to events.raw with kcat, lands in the DLQ as
// invalid while the events behind it in the same partition still arrive.
func TestGarbageFromKcatIsDeadLetteredAndDoesNotStallThePartition(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	startForwarder(t, n, s, fastRetries...)

	ids := []string{newUUID(), newUUID(), newUUID()}
	lines := []string{"garbage-key|this is {not json"}
	for _, id := range ids {
		lines = append(lines, id+"|"+eventJSON(id))
	}
	lines = append(lines, ids[0]+`|{"event_id":"`+ids[0]+`","value":-1}`)
	kcatProduce(t, n.events, 0, lines)

	waitFor(t, 30*time.Second, func() (bool, string) {
		times := s.times(t)
		return times[ids[0]] == 1 && times[ids[1]] == 1 && times[ids[2]] == 1, "the three good events"
	})
	waitFor(t, 30*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	dlq := readAll(t, n.dlq)
	if len(dlq) != 2 {
		t.Fatalf("%d records in the DLQ, want the 2 bad ones", len(dlq))
	}
	reasons := map[string]string{}
	for _, r := range dlq {
		if header(r, "dlq.reason") != "invalid" || header(r, "dlq.source_partition") != "0" {
			t.Errorf("DLQ record %q: reason %q partition %q, want invalid from partition 0",
				r.Value, header(r, "dlq.reason"), header(r, "dlq.source_partition"))
		}
		reasons[string(r.Key)] = header(r, "dlq.error")
	}
	if !strings.Contains(reasons["garbage-key"], "JSON") {
		t.Errorf("dlq.error for the garbage = %q, want it to say the JSON is bad", reasons["garbage-key"])
	}
	for _, field := range []string{"value", "user_id", "campaign_id"} {
		if !strings.Contains(reasons[ids[0]], field) {
			t.Errorf("dlq.error for the broken event = %q, want it to name %s", reasons[ids[0]], field)
		}
	}

	// An operator's view: kcat reads the DLQ headers.
	out := strings.Join(kcatConsume(t, n.dlq, 2), "\n")
	if !strings.Contains(out, "dlq.reason=invalid") {
		t.Errorf("kcat shows no dlq.reason header:\n%s", out)
	}
	var anyJSON map[string]any
	if json.Unmarshal(dlq[0].Value, &anyJSON) == nil && string(dlq[0].Key) == "garbage-key" {
		t.Errorf("the garbage record's value changed into JSON")
	}
}

// A record that fits events.raw but is too large to dead-letter whole (Kafka's default limit is
// about 1 MiB, and the DLQ copy adds headers) is dead-lettered without its payload, and the
// partition goes on. Before, the DLQ write was refused and the forwarder stopped on this record
// after every restart.
func TestARecordTooLargeToDeadLetterWholeDoesNotStopTheForwarder(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	startForwarder(t, n, s, fastRetries...)

	good := newUUID()
	big := strings.Repeat("k", 40_000) + "|" + strings.Repeat("v", 1_000_000)
	kcatProduce(t, n.events, 0, []string{big, good + "|" + eventJSON(good)}, "-X", "message.max.bytes=2000000")

	waitFor(t, 30*time.Second, func() (bool, string) { return s.times(t)[good] == 1, "the event behind the big record" })
	waitFor(t, 30*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	dlq := readAll(t, n.dlq)
	if len(dlq) != 1 {
		t.Fatalf("%d records in the DLQ, want the big one", len(dlq))
	}
	r := dlq[0]
	if header(r, "dlq.reason") != "invalid" || len(r.Value) != 0 || len(r.Key) != 0 ||
		!strings.Contains(header(r, "dlq.omitted"), "key (40000 bytes), value (1000000 bytes)") ||
		!strings.Contains(header(r, "dlq.error"), "over the 921600-byte limit") {
		t.Errorf("DLQ record: reason %q, key %d and value %d bytes, dlq.omitted %q, dlq.error %q",
			header(r, "dlq.reason"), len(r.Key), len(r.Value), header(r, "dlq.omitted"), header(r, "dlq.error"))
	}
}
