package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/kafka"
)

// The topics the services create at start are usable as soon as EnsureTopics returns: a
// ListOffsets from a client that never saw them (as the forwarder's marker loader is) finds every
// partition. The controller acknowledges a CreateTopics before the broker has applied it; without
// the wait a forwarder met UNKNOWN_TOPIC_OR_PARTITION on its new marker topic and exited. The wait
// must not come from the client's metadata cache either, which would hold "unknown" for 5 s.
func TestEnsureTopicsReturnsUsableTopics(t *testing.T) {
	settings := kafka.Settings{Partitions: 6, ReplicationFactor: 1}
	for round := range 5 {
		n := newNames(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		start := time.Now()
		counts, err := kafka.EnsureTopics(ctx, kafkaClient(t), settings,
			kafka.Topic{Name: n.events}, kafka.Topic{Name: n.delivered})
		took := time.Since(start)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if counts[n.events] != 6 || counts[n.delivered] != 6 {
			t.Errorf("round %d: partition counts %v, want 6 each", round, counts)
		}
		if took > 4*time.Second {
			t.Errorf("round %d: EnsureTopics took %s; a wait on cached metadata takes 5 s", round, took)
		}
		fresh := kadm.NewClient(kafkaClient(t))
		ends, err := fresh.ListEndOffsets(ctx, n.events, n.delivered)
		cancel()
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatalf("round %d: ListOffsets right after EnsureTopics: %v", round, err)
		}
		if got := len(ends[n.events]) + len(ends[n.delivered]); got != 12 {
			t.Errorf("round %d: %d partitions listed, want 12", round, got)
		}
		// A producer meeting a partition its leader does not serve yet waits for franz-go's next
		// metadata refresh, 5 s: one record to every partition must go through well before.
		prod := kafkaClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for p := range int32(6) {
			recs = append(recs, &kgo.Record{Topic: n.events, Partition: p, Value: []byte("x")})
		}
		pctx, pcancel := context.WithTimeout(t.Context(), 30*time.Second)
		produceStart := time.Now()
		err = prod.ProduceSync(pctx, recs...).FirstErr()
		pcancel()
		if produced := time.Since(produceStart); err != nil || produced > 3*time.Second {
			t.Errorf("round %d: producing right after EnsureTopics: %v after %s, want done within 3 s", round, err, produced)
		}
		t.Logf("round %d: EnsureTopics took %s", round, took.Round(time.Millisecond))
	}
}
