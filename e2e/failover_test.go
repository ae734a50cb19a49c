package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A real three-broker KRaft cluster: topics made with replication 3 and min.insync.replicas 2
// from TOPIC_REPLICATION_FACTOR and TOPIC_MIN_INSYNC_REPLICAS, a start-up warning for topics one
// broker's loss would hurt, and a kill -9 of a leader under load that loses no accepted event.

// cluster is three nodes started by deploy/kafka/cluster.sh, node i listening on brokers[i-1].
type cluster struct {
	brokers []string
	env     []string
}

var threeNodes struct {
	once sync.Once
	c    *cluster
	err  error
}

func threeBrokers(t *testing.T) *cluster {
	t.Helper()
	needRealBroker(t)
	threeNodes.once.Do(func() {
		p := freePorts(t, 6)
		state, err := os.MkdirTemp(os.Getenv("E2E_STATE_DIR"), "kafka-sec-cluster-e2e-")
		if err != nil {
			threeNodes.err = err
			return
		}
		c := &cluster{env: []string{
			fmt.Sprintf("KAFKA_CLUSTER_PORTS=%d,%d,%d", p[0], p[1], p[2]),
			fmt.Sprintf("KAFKA_CLUSTER_CONTROLLER_PORTS=%d,%d,%d", p[3], p[4], p[5]),
			"KAFKA_CLUSTER_STATE=" + state,
		}}
		for _, port := range p[:3] {
			c.brokers = append(c.brokers, fmt.Sprintf("127.0.0.1:%d", port))
		}
		out, err := script("cluster.sh", c.env, "up")
		ownBrokers.Lock()
		ownBrokers.stops = append(ownBrokers.stops, func() {
			_, _ = script("cluster.sh", c.env, "down")
			os.RemoveAll(state)
		})
		ownBrokers.Unlock()
		if err != nil {
			threeNodes.err = fmt.Errorf("cluster.sh up: %v\n%s", err, out)
			return
		}
		threeNodes.c = c
	})
	if threeNodes.err != nil {
		t.Fatal(threeNodes.err)
	}
	return threeNodes.c
}

func (c *cluster) run(t *testing.T, verb string, node int32) {
	t.Helper()
	if out, err := script("cluster.sh", c.env, verb, fmt.Sprint(node)); err != nil {
		t.Fatalf("cluster.sh %s %d: %v\n%s", verb, node, err, out)
	}
}

func (c *cluster) admin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func (c *cluster) kafkaEnv(n names, extra ...string) []string {
	return append(append([]string{"KAFKA_BROKERS=" + strings.Join(c.brokers, ",")}, topicEnv(n)...), extra...)
}

// minISR is the min.insync.replicas of topic.
func minISR(t *testing.T, adm *kadm.Client, topic string) string {
	t.Helper()
	rc, err := adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc {
		for _, kv := range c.Configs {
			if kv.Key == "min.insync.replicas" {
				return kv.MaybeValue()
			}
		}
	}
	return ""
}

const fragileWarning = "multi-broker cluster"

// Topics a service creates with the defaults (replication 1), or with replication 3 but the
// broker's min.insync.replicas of 1, are named in a warning at start.
func TestClusterWarnsAboutFragileTopics(t *testing.T) {
	c := threeBrokers(t)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"replication 1", nil, "one replica"},
		{"min.insync.replicas 1", []string{"TOPIC_REPLICATION_FACTOR=3"}, "min.insync.replicas=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNames(t)
			in := startIngress(t, n, c.kafkaEnv(n, tt.env...)...)
			log := in.logText()
			if !strings.Contains(log, fragileWarning) || !strings.Contains(log, tt.want) || !strings.Contains(log, n.events) {
				t.Errorf("no warning naming %s and %q in the ingress's log:\n%s", n.events, tt.want, firstLines(log, 8))
			}
		})
	}
}

// poster sends events to the ingress from a few goroutines until stopped, keeping the ids that
// got a 202.
type poster struct {
	in       *ingress
	mu       sync.Mutex
	accepted []string
	refused  atomic.Int64 // 503s
	other    atomic.Int64 // other answers and transport errors
	stop     chan struct{}
	done     sync.WaitGroup
}

func startPosting(in *ingress, workers int) *poster {
	p := &poster{in: in, stop: make(chan struct{})}
	hc := &http.Client{Timeout: 15 * time.Second}
	for range workers {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				id := newUUID()
				ev := sampleEvent(id)
				ev["event_time"] = time.Now().UTC().Format(time.RFC3339)
				b, _ := json.Marshal(ev)
				req, _ := http.NewRequest(http.MethodPost, in.url+"/events", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+in.token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				switch {
				case err != nil:
					p.other.Add(1)
					continue
				case resp.StatusCode == http.StatusAccepted:
					p.mu.Lock()
					p.accepted = append(p.accepted, id)
					p.mu.Unlock()
				case resp.StatusCode == http.StatusServiceUnavailable:
					p.refused.Add(1)
				default:
					p.other.Add(1)
				}
				resp.Body.Close()
			}
		}()
	}
	return p
}

func (p *poster) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

func (p *poster) finish() []string {
	close(p.stop)
	p.done.Wait()
	return p.accepted
}

// With the ingress taking events and the forwarder delivering, the leader of the busiest
// partitions is killed with kill -9 and later started again: every 202'd event is delivered,
// duplicates stay within the forwarder's bound on unfinished records (2 x MAX_IN_FLIGHT), and
// the forwarder never stops.
func TestClusterKill9OfALeaderLosesNoAcceptedEvent(t *testing.T) {
	const maxInFlight = 64
	c := threeBrokers(t)
	n := newNames(t)
	adm := c.admin(t)
	s := startSim(t)
	env := c.kafkaEnv(n, "TOPIC_REPLICATION_FACTOR=3", "TOPIC_MIN_INSYNC_REPLICAS=2")
	in := startIngress(t, n, env...)
	fwd, _ := startForwarder(t, n, s, append(env, append(fastRetries, fmt.Sprintf("MAX_IN_FLIGHT=%d", maxInFlight))...)...)

	// The services made every topic with replication 3 and min.insync.replicas 2, so neither warns.
	topics, err := adm.ListTopics(t.Context(), n.events, n.dlq, n.delivered)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{n.events, n.dlq, n.delivered} {
		if rf := topics[name].Partitions.NumReplicas(); rf != 3 {
			t.Errorf("%s has replication %d, want 3 (TOPIC_REPLICATION_FACTOR)", name, rf)
		}
		if got := minISR(t, adm, name); got != "2" {
			t.Errorf("%s has min.insync.replicas %s, want 2 (TOPIC_MIN_INSYNC_REPLICAS)", name, got)
		}
	}
	for _, p := range []*proc{in.proc, fwd} {
		if strings.Contains(p.logText(), fragileWarning) {
			t.Errorf("%s warns about a fragile topic though every one has replication 3 and min.insync.replicas 2", p.name)
		}
	}

	load := startPosting(in, 4)
	waitFor(t, 60*time.Second, func() (bool, string) {
		return load.count() >= 300, fmt.Sprintf("300 events accepted before the kill (%d)", load.count())
	})

	// The busiest partition's leader.
	ends, err := adm.ListEndOffsets(t.Context(), n.events)
	if err != nil {
		t.Fatal(err)
	}
	var busiest kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > busiest.Offset {
			busiest = o
		}
	})
	victim := topics[n.events].Partitions[busiest.Partition].Leader
	led := 0
	for _, p := range topics[n.events].Partitions {
		if p.Leader == victim {
			led++
		}
	}
	t.Logf("killing node %d with kill -9: leader of partition %d (%d records, the busiest) and of %d of %d partitions",
		victim, busiest.Partition, busiest.Offset, led, len(topics[n.events].Partitions))
	before, refusedBefore := load.count(), load.refused.Load()
	killedAt := time.Now()
	c.run(t, "kill", victim)

	var failover time.Duration
	waitFor(t, 60*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		td, err := adm.ListTopics(ctx, n.events)
		if err != nil {
			return false, "metadata: " + err.Error()
		}
		for _, p := range td[n.events].Partitions {
			if p.Leader == victim || p.Leader < 0 {
				return false, fmt.Sprintf("partition %d to get a leader other than node %d", p.Partition, victim)
			}
		}
		failover = time.Since(killedAt)
		return true, ""
	})
	waitFor(t, 60*time.Second, func() (bool, string) {
		return load.count() >= before+300, fmt.Sprintf("300 more events accepted with node %d down (%d)", victim, load.count()-before)
	})
	downFor := time.Since(killedAt)
	c.run(t, "start", victim)
	restarted := load.count()
	waitFor(t, 60*time.Second, func() (bool, string) {
		return load.count() >= restarted+200, fmt.Sprintf("200 more events accepted after node %d came back (%d)", victim, load.count()-restarted)
	})
	accepted := load.finish()

	waitFor(t, 120*time.Second, func() (bool, string) {
		got := s.times(t)
		missing := 0
		for _, id := range accepted {
			if got[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("all %d accepted events delivered (%d missing)", len(accepted), missing)
	})
	dups := 0
	for _, times := range s.times(t) {
		dups += times - 1
	}
	t.Logf("figures: %d events accepted (202), %d answered 503 (%d of them after the kill), %d other answers; "+
		"new leaders %s after the kill -9, node down %s; all delivered, %d duplicates (bound %d)",
		len(accepted), load.refused.Load(), load.refused.Load()-refusedBefore, load.other.Load(),
		failover.Round(10*time.Millisecond), downFor.Round(100*time.Millisecond), dups, 2*maxInFlight)
	if dups > 2*maxInFlight {
		t.Errorf("%d duplicates, more than the %d records that can be unfinished at once", dups, 2*maxInFlight)
	}
	if fwd.exited() {
		t.Errorf("the forwarder stopped: %v", fwd.err)
	}
}
