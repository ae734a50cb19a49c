package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// metadata answers like a broker that learns of a new topic in steps: unknown, then known with
// a leaderless partition, then ready.
type metadata struct{ calls int }

func (m *metadata) list(_ context.Context, names ...string) (kadm.TopicDetails, error) {
	m.calls++
	d := kadm.TopicDetails{}
	for _, name := range names {
		switch {
		case m.calls == 1:
			d[name] = kadm.TopicDetail{Topic: name, Err: kerr.UnknownTopicOrPartition}
		case m.calls == 2:
			d[name] = kadm.TopicDetail{Topic: name, Partitions: kadm.PartitionDetails{
				0: {Partition: 0, Leader: 1}, 1: {Partition: 1, Leader: -1}}}
		default:
			d[name] = kadm.TopicDetail{Topic: name, Partitions: kadm.PartitionDetails{
				0: {Partition: 0, Leader: 1}, 1: {Partition: 1, Leader: 1}}}
		}
	}
	return d, nil
}

func TestWaitUsableWaitsForEveryPartitionToBeLed(t *testing.T) {
	m := &metadata{}
	if _, err := waitUsable(t.Context(), m.list, serving, map[string]int32{"a": 2, "b": 2}); err != nil {
		t.Fatal(err)
	}
	if m.calls != 3 {
		t.Errorf("metadata asked %d times, want 3 (unknown, leaderless, ready)", m.calls)
	}
}

func TestWaitUsableGivesUpWithTheReason(t *testing.T) {
	m := &metadata{}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	// Three partitions wanted, two ever known: never ready.
	_, err := waitUsable(ctx, m.list, serving, map[string]int32{"a": 3})
	if err == nil {
		t.Fatal("no error for a topic that never shows all its partitions")
	}
	for _, want := range []string{"[a]", "2 of 3 partitions known", "deadline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A topic another instance created (TopicAlreadyExists) is waited for too, whatever its count.
func TestWaitUsableTakesAnyCountForATopicSomeoneElseCreated(t *testing.T) {
	m := &metadata{}
	details, err := waitUsable(t.Context(), m.list, serving, map[string]int32{"a": anyCount})
	if err != nil {
		t.Fatal(err)
	}
	if m.calls != 3 || len(details["a"].Partitions) != 2 {
		t.Errorf("asked %d times, %d partitions; want 3 asks (unknown, leaderless, ready) and 2",
			m.calls, len(details["a"].Partitions))
	}
}

// serving is a leader that serves every partition.
func serving(context.Context, kadm.TopicDetails) error { return nil }

// Metadata can name a leader before it serves the partition: the wait goes on until it does.
func TestWaitUsableWaitsUntilTheLeadersServe(t *testing.T) {
	m := &metadata{}
	asked := 0
	serve := func(context.Context, kadm.TopicDetails) error {
		asked++
		if asked == 1 {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	}
	if _, err := waitUsable(t.Context(), m.list, serve, map[string]int32{"a": 2}); err != nil {
		t.Fatal(err)
	}
	if asked != 2 || m.calls != 4 {
		t.Errorf("leaders asked %d times, metadata %d; want 2 (not served, served) after metadata was ready, 4", asked, m.calls)
	}
}
