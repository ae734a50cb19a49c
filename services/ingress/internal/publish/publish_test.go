package publish

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const topic = "events.raw"

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(6, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newProducer(t *testing.T, c *kfake.Cluster) *Producer {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, ClientOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p, err := New(cl, topic, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPublishWritesRecord(t *testing.T) {
	c := newCluster(t)
	p := newProducer(t, c)

	const (
		key   = "5f0c6f0e-8d1a-4b8e-9a43-1d2c3b4a5f60"
		value = `{"event_id":"5f0c6f0e-8d1a-4b8e-9a43-1d2c3b4a5f60","value":1}`
	)
	if err := p.Publish(t.Context(), []byte(key), []byte(value)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := p.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) == 0 && ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		got = append(got, fetches.Records()...)
	}
	if len(got) != 1 {
		t.Fatalf("consumed %d records, want 1", len(got))
	}
	if string(got[0].Key) != key || string(got[0].Value) != value {
		t.Errorf("consumed key %q value %q, want %q %q", got[0].Key, got[0].Value, key, value)
	}
}

// TestPublishHonoursContext holds every produce request at the broker and checks that Publish
// gives up when its context ends instead of waiting for the broker.
func TestPublishHonoursContext(t *testing.T) {
	c := newCluster(t)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	p := newProducer(t, c)
	t.Cleanup(func() { close(release) }) // runs first: lets the cluster and client close

	const timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, []byte("k"), []byte("v"))
	elapsed := time.Since(start)

	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "produce to "+topic) {
		t.Errorf("Publish error = %v, want a wrapped context.DeadlineExceeded", err)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("Publish returned after %s with a %s timeout", elapsed, timeout)
	}
}

func TestPublishBatchWritesAll(t *testing.T) {
	c := newCluster(t)
	p := newProducer(t, c)
	records := make([]Record, 50)
	for i := range records {
		records[i] = Record{Key: []byte(strconv.Itoa(i)), Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}
	}
	if err := p.PublishBatch(t.Context(), records); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < len(records) && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	for _, r := range records {
		if got[string(r.Key)] != string(r.Value) {
			t.Errorf("record %s: consumed %q, want %q", r.Key, got[string(r.Key)], r.Value)
		}
	}
}

// TestPublishBatchHonoursContext holds every produce request at the broker and checks that
// PublishBatch gives up when its context ends.
func TestPublishBatchHonoursContext(t *testing.T) {
	c := newCluster(t)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	p := newProducer(t, c)
	t.Cleanup(func() { close(release) })

	const timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	err := p.PublishBatch(ctx, []Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PublishBatch error = %v, want a wrapped context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
		t.Errorf("PublishBatch returned after %s with a %s timeout", elapsed, timeout)
	}
}
