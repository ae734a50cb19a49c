package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// uuidV1s are n time-based UUIDs made on this host: they all end in its node id, as the ids of one
// MySQL UUID(), Cassandra timeuuid or Python uuid1 producer do.
func uuidV1s(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := uuid.NewUUID()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id.String()
	}
	return ids
}

// The dedupe window holds DEDUPE_CACHE_SIZE ids whatever they look like: one host's UUIDv1 ids
// (once 1/16 of it, as the window was sharded by the id's last byte) are all remembered, so
// copies sent later are skipped. Only ids beyond the size are evicted, and each such eviction
// inside DEDUPE_WINDOW is counted and logged.
func TestDedupeWindowHoldsItsWholeSizeOfOneHostsUUIDv1IDs(t *testing.T) {
	const size, first, more = 1000, 800, 400
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	fwd, admin := startForwarder(t, n, s, append(fastRetries, "DEDUPE_CACHE_SIZE=1000")...)

	ids := uuidV1s(t, first)
	produceEvents(t, n.events, ids)
	waitFor(t, 60*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	if got := s.received(t).Count; got != first {
		t.Fatalf("simulator received %d distinct events, want %d", got, first)
	}

	produceEvents(t, n.events, ids) // the copies, after all of them were delivered
	waitFor(t, 60*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	again, times := 0, s.times(t)
	for _, id := range ids {
		if times[id] > 1 {
			again++
		}
	}
	if again > 0 {
		t.Fatalf("%d of %d copies delivered again within DEDUPE_WINDOW (window of %d ids)", again, first, size)
	}
	if got := metric(t, admin, "forwarder_dedupe_evictions_total"); got != 0 {
		t.Fatalf("forwarder_dedupe_evictions_total = %v with %d of %d ids in the window, want 0", got, first, size)
	}

	produceEvents(t, n.events, uuidV1s(t, more))
	waitFor(t, 60*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	if got, want := metric(t, admin, "forwarder_dedupe_evictions_total"), float64(first+more-size); got != want {
		t.Fatalf("forwarder_dedupe_evictions_total = %v after %d ids in a window of %d, want %v", got, first+more, size, want)
	}
	if log := fwd.logText(); strings.Count(log, "dedupe window full") != 1 || !strings.Contains(log, "DEDUPE_CACHE_SIZE to at least") {
		t.Fatalf("want one eviction warning with the sizing advice, log:\n%s", log)
	}
}
