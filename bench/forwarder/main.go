// Command forwarder is the forwarder part of `make bench`. Against a real Kafka broker
// (KAFKA_BROKERS) and the real binaries (BIN_DIR), it measures:
//
//   - the simulator's own ceiling: requests/s from this program's load generator straight at it;
//   - forwarder throughput (events/s) with the simulator answering at 0 ms and at 50 ms, printed
//     beside the simulator's ceiling as a ratio;
//   - end-to-end latency, from the ingress's 202 to the simulator's receipt, at a steady
//     1 000 events/s;
//   - the forwarder's RSS with 1M event_ids in the dedupe window.
//
// It prints a table and writes the figures as JSON (-out).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/bench/internal/fixture"
	"github.com/martech/eventfwd/libs/kafka"
)

type result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Note   string  `json:"note,omitempty"`
}

var (
	cpuProfile string
	runs       int

	brokers = strings.Split(fixture.EnvOr("KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	binDir  = fixture.EnvOr("BIN_DIR", "bin")
)

func main() {
	out := flag.String("out", "bench-forwarder.json", "where to write the figures as JSON")
	events := flag.Int("events", 200_000, "events per throughput run at 0 ms")
	slowEvents := flag.Int("slow-events", 60_000, "events per throughput run at 50 and 200 ms")
	dedupeIDs := flag.Int("dedupe-ids", 1_000_000, "ids in the dedupe window for the RSS figure")
	flag.IntVar(&runs, "runs", 3, "runs per throughput row (median and spread)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the forwarder's CPU profile over 5 s of the 0 ms run to this file")
	only := flag.String("only", allSteps, "the measurements to run, comma-separated")
	flag.Parse()
	if err := run(*out, *events, *slowEvents, *dedupeIDs, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench forwarder:", err)
		os.Exit(1)
	}
}

// The measurements, by the names -only takes.
const allSteps = "ceiling,fast,slow,slow200,scale,e2e,rss"

func run(out string, events, slowEvents, dedupeIDs int, only string) error {
	steps := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		if !slices.Contains(strings.Split(allSteps, ","), name) {
			return fmt.Errorf("-only: unknown measurement %q (want some of %s)", name, allSteps)
		}
		steps[name] = true
	}
	var results []result
	add := func(r result) {
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "  %-52s %12.1f %-8s %s\n", r.Name, r.Value, r.Unit, r.Note)
	}

	var ceiling float64
	if steps["ceiling"] {
		var err error
		if ceiling, err = simCeiling(); err != nil {
			return fmt.Errorf("simulator ceiling: %w", err)
		}
		add(result{Name: "simulator ceiling (load generator straight at it)", Value: ceiling, Unit: "req/s"})
	}
	// Each row is the median of runs (-runs) and their spread, with what the runs cost.
	row := func(name, target string, runs, n int, latency string, forwarders int, env ...string) error {
		var sts []runStats
		for range runs {
			st, err := throughput(n, latency, forwarders, env...)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			sts = append(sts, st)
		}
		med := func(f func(runStats) float64) (mid, lo, hi float64) {
			v := make([]float64, len(sts))
			for i, st := range sts {
				v[i] = f(st)
			}
			slices.Sort(v)
			return v[len(v)/2], v[0], v[len(v)-1]
		}
		rate, lo, hi := med(func(s runStats) float64 { return s.rate })
		_, _, gap := med(func(s runStats) float64 { return ms(s.longestGap) })
		broker, _, _ := med(func(s runStats) float64 { return s.brokerCPU })
		fwdCPU, _, _ := med(func(s runStats) float64 { return s.fwdCPU })
		_, _, rss := med(func(s runStats) float64 { return s.peakRSS })
		_, _, limit := med(func(s runStats) float64 { return s.maxLimit })
		r := result{Name: name, Value: rate, Unit: "events/s", Target: target,
			Note: fmt.Sprintf("runs %.0f-%.0f; longest gap %.0f ms; broker %.2f s CPU/100k; forwarder %.2f s CPU/10k; RSS %.0f MiB; limit up to %.0f",
				lo, hi, gap, broker, fwdCPU, rss/(1<<20), limit)}
		if ceiling > 0 && latency == "0ms" && forwarders == 1 {
			r.Note += fmt.Sprintf("; %.2f x the simulator's ceiling", rate/ceiling)
		}
		add(r)
		add(result{Name: name + ": longest gap between deliveries", Value: gap, Unit: "ms", Target: "< 500"})
		add(result{Name: name + ": broker CPU per 100k events", Value: broker, Unit: "s"})
		return nil
	}
	if steps["fast"] {
		// A broker just started (make bench starts one) runs its fetch and acks=all produce paths
		// cold for a while (JIT): one run first, not counted, so the figures are those of a broker
		// in service, as in production.
		if _, err := throughput(events, "0ms", 1); err != nil {
			return fmt.Errorf("warm-up run at 0 ms: %w", err)
		}
		if err := row("forwarder throughput, simulator at 0 ms", ">= 25000", runs, events, "0ms", 1); err != nil {
			return err
		}
	}
	if steps["slow"] {
		if err := row("forwarder throughput, simulator at 50 ms", ">= 10000", runs, slowEvents, "50ms", 1); err != nil {
			return err
		}
	}
	if steps["slow200"] {
		if err := row("forwarder throughput, simulator at 200 ms", ">= 8000", runs, slowEvents, "200ms", 1); err != nil {
			return err
		}
	}
	if steps["scale"] {
		// Each forwarder capped at 256 requests in flight, so one alone is bound by in-flight x
		// latency (256 / 50 ms = 5 100/s) and the rows show what more members add.
		for members := 1; members <= 3; members++ {
			if err := row(fmt.Sprintf("scale-out, %d forwarder(s) of MAX_IN_FLIGHT=256, 50 ms", members), "",
				1, slowEvents, "50ms", members, "MAX_IN_FLIGHT=256"); err != nil {
				return err
			}
		}
	}
	if steps["e2e"] {
		p50, p99, err := endToEnd(1000, 20*time.Second)
		if err != nil {
			return fmt.Errorf("end-to-end latency: %w", err)
		}
		add(result{Name: "end-to-end p50, 202 -> AdEventsX, 1000 events/s", Value: ms(p50), Unit: "ms"})
		add(result{Name: "end-to-end p99, 202 -> AdEventsX, 1000 events/s", Value: ms(p99), Unit: "ms", Target: "< 100"})
	}
	if steps["rss"] {
		rss, loadTook, err := dedupeRSS(dedupeIDs)
		if err != nil {
			return fmt.Errorf("dedupe RSS: %w", err)
		}
		add(result{Name: fmt.Sprintf("forwarder RSS, %d ids in the dedupe window", dedupeIDs), Value: rss / (1 << 20),
			Unit: "MiB", Target: "< 300", Note: fmt.Sprintf("markers read back in %s", loadTook.Round(time.Millisecond))})
	}

	printTable(results)
	b, _ := json.MarshalIndent(map[string]any{"benchmark": "forwarder", "at": time.Now().UTC(), "results": results}, "", "  ")
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printTable(rs []result) {
	fmt.Println()
	fmt.Printf("%-55s %12s %-9s %-10s %s\n", "forwarder benchmark", "value", "unit", "target", "note")
	fmt.Println(strings.Repeat("-", 110))
	for _, r := range rs {
		fmt.Printf("%-55s %12.1f %-9s %-10s %s\n", r.Name, r.Value, r.Unit, r.Target, r.Note)
	}
}

// ---- processes ----

type simProc struct {
	*fixture.Proc
	url, key string
}

func startSim(latency string) (*simProc, error) {
	addr, err := fixture.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &simProc{url: "http://" + addr, key: "bench-" + fixture.RandomHex(4)}
	s.Proc, err = fixture.Start(binDir, "adeventsx-sim", "SIM_ADDR="+addr, "ADEVENTSX_API_KEY="+s.key,
		"SIM_LATENCY="+latency, "SIM_MAX_EVENTS=3000000")
	if err != nil {
		return nil, err
	}
	if err := s.WaitOK(s.url + "/healthz"); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *simProc) count() (int, error) {
	resp, err := http.Get(s.url + "/_sim/received?summary=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Count int `json:"count"`
	}
	return r.Count, json.NewDecoder(resp.Body).Decode(&r)
}

func (s *simProc) firstReceipts() (map[string]int64, error) {
	resp, err := http.Get(s.url + "/_sim/received")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Events []struct {
			ID    string `json:"id"`
			First int64  `json:"first_received_at_unix_nano"`
		} `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(r.Events))
	for _, e := range r.Events {
		out[e.ID] = e.First
	}
	return out, nil
}

func startForwarder(topic, group, simURL, key string, extra ...string) (*fixture.Proc, string, error) {
	admin, err := fixture.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := fixture.Start(binDir, "forwarder", append([]string{
		"KAFKA_BROKERS=" + strings.Join(brokers, ","), "EVENTS_TOPIC=" + topic, "DLQ_TOPIC=" + topic + ".dlq",
		"DEDUPE_TOPIC=" + topic + ".delivered", "CONSUMER_GROUP=" + group,
		"ADEVENTSX_URL=" + simURL, "ADEVENTSX_API_KEY=" + key, "FORWARDER_ADMIN_ADDR=" + admin,
	}, extra...)...)
	if err != nil {
		return nil, "", err
	}
	if err := p.WaitOK("http://" + admin + "/healthz"); err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, "http://" + admin, nil
}

// ---- the load generator ----

// loadClosed sends requests from workers as fast as they are answered for d and returns the
// rate of 2xx answers.
func loadClosed(workers int, d time.Duration, send func(c *http.Client, i int64) (int, error)) (float64, error) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	var ok, seq atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				code, err := send(c, seq.Add(1))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if code/100 == 2 {
					ok.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

func simCeiling() (float64, error) {
	s, err := startSim("0ms")
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	return loadClosed(64, 5*time.Second, func(c *http.Client, i int64) (int, error) {
		id := newUUID()
		body := fmt.Sprintf(`{"id":%q,"user":"u","name":"purchase","ts":1764000000,"value_cents":1999,"campaign":"c","source":"internal_martech"}`, id)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/conversions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", s.key)
		req.Header.Set("Idempotency-Key", id)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	})
}

// ---- Kafka ----

func kafkaClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
}

func createTopic(topic string, configs map[string]*string) error {
	cl, err := kafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = kafka.EnsureTopics(ctx, cl, kafka.Settings{Brokers: brokers, Partitions: 6, ReplicationFactor: 1},
		kafka.Topic{Name: topic, Configs: configs})
	return err
}

// produce writes n records made by mk with franz-go's default partitioner.
func produce(topic string, n int, mk func(i int) *kgo.Record) error {
	cl, err := kafkaClient(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, mk(i), func(_ *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

func eventRecord(id string) *kgo.Record {
	return &kgo.Record{Key: []byte(id), Value: []byte(fmt.Sprintf(
		`{"event_id":%q,"user_id":"u-%s","event_name":"purchase","event_time":"2026-11-24T10:00:00Z","value":"19.99","campaign_id":"c-1"}`,
		id, id[:6]))}
}

// runStats is one throughput run.
type runStats struct {
	rate       float64       // events/s between 5 % and 95 % delivered
	longestGap time.Duration // between two deliveries while a backlog remained
	brokerCPU  float64       // broker CPU seconds per 100 000 events (-1: broker pid unknown)
	fwdCPU     float64       // forwarders' CPU seconds per 10 000 events
	peakRSS    float64       // largest forwarder RSS seen, bytes
	maxLimit   float64       // largest adaptive concurrency limit seen
}

// throughput pre-loads n events, starts forwarders (one group) and measures the delivery rate
// between 5 % and 95 % of the events, leaving out start-up and the tail, with the costs of it.
func throughput(n int, latency string, forwarders int, env ...string) (runStats, error) {
	var st runStats
	s, err := startSim(latency)
	if err != nil {
		return st, err
	}
	defer s.Stop()
	topic := "bench-" + fixture.RandomHex(4)
	if err := createTopic(topic, nil); err != nil {
		return st, err
	}
	if err := produce(topic, n, func(int) *kgo.Record { return eventRecord(newUUID()) }); err != nil {
		return st, err
	}
	var admins []string
	for range forwarders {
		fwd, admin, err := startForwarder(topic, topic+".fwd", s.url, s.key, env...)
		if err != nil {
			return st, err
		}
		defer fwd.Stop()
		admins = append(admins, admin)
	}
	var profiled <-chan error // the CPU profile's outcome, when one is taken

	lo, hi := n/20, n-n/20
	var tLo, tHi time.Time
	var brokerLo, fwdLo float64
	deadline := time.Now().Add(10 * time.Minute)
	for tHi.IsZero() {
		if time.Now().After(deadline) {
			return st, fmt.Errorf("the forwarders did not deliver 95 %% within 10 minutes")
		}
		c, err := s.count()
		if err != nil {
			return st, err
		}
		now := time.Now()
		for _, a := range admins {
			st.maxLimit = max(st.maxLimit, metricValue(a, "forwarder_concurrency_limit"))
			st.peakRSS = max(st.peakRSS, metricValue(a, "process_resident_memory_bytes"))
		}
		if tLo.IsZero() && c >= lo {
			tLo, lo = now, c
			brokerLo, fwdLo = brokerCPUSeconds(), sumMetric(admins, "process_cpu_seconds_total")
			if cpuProfile != "" && latency == "0ms" {
				profiled = saveProfile(admins[0], cpuProfile)
			}
		}
		if c >= hi {
			tHi, hi = now, c
			st.fwdCPU = (sumMetric(admins, "process_cpu_seconds_total") - fwdLo) / float64(hi-lo) * 10_000
			if b := brokerCPUSeconds(); b >= 0 && brokerLo >= 0 {
				st.brokerCPU = (b - brokerLo) / float64(hi-lo) * 100_000
			} else {
				st.brokerCPU = -1
			}
		}
		time.Sleep(20 * time.Millisecond) // sampling the simulator's counter
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			return st, fmt.Errorf("cpu profile: %w", err)
		}
	}
	st.rate = float64(hi-lo) / tHi.Sub(tLo).Seconds()
	// Wait for the tail, then look at every receipt: the longest pause between two deliveries
	// while records were still waiting (all were pre-loaded, so until the last one).
	for c, _ := s.count(); c < n && time.Now().Before(deadline); c, _ = s.count() {
		time.Sleep(20 * time.Millisecond) // sampling the simulator's counter
	}
	receipts, err := s.firstReceipts()
	if err != nil {
		return st, err
	}
	st.longestGap = longestGap(receipts)
	return st, nil
}

// longestGap is the longest time between two consecutive receipts.
func longestGap(receipts map[string]int64) time.Duration {
	times := make([]int64, 0, len(receipts))
	for _, t := range receipts {
		times = append(times, t)
	}
	slices.Sort(times)
	var gap int64
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i]-times[i-1])
	}
	return time.Duration(gap)
}

func sumMetric(admins []string, name string) float64 {
	sum := 0.0
	for _, a := range admins {
		sum += metricValue(a, name)
	}
	return sum
}

// brokerCPUSeconds is the broker process's user+system CPU time, from /proc, with its pid from
// the state folder kafka.sh keeps (KAFKA_STATE); -1 when unknown.
func brokerCPUSeconds() float64 {
	pid, err := os.ReadFile(filepath.Join(fixture.EnvOr("KAFKA_STATE", "/tmp/eventfwd-kafka"), "pid"))
	if err != nil {
		return -1
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name (which is in parentheses and may hold spaces): utime is the
	// 14th field of the line, stime the 15th, in clock ticks (100 a second on Linux).
	rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// saveProfile starts writing the forwarder's CPU profile over the next 5 s to path and returns
// the outcome's channel.
func saveProfile(admin, path string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- fetchProfile(admin, path) }()
	return done
}

func fetchProfile(admin, path string) error {
	resp, err := http.Get(admin + "/debug/pprof/profile?seconds=5")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s from the forwarder's pprof", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// endToEnd posts events to the ingress at a steady rate and measures, per event, the time from
// its 202 to the simulator's receipt.
func endToEnd(rate int, d time.Duration) (p50, p99 time.Duration, err error) {
	s, err := startSim("0ms")
	if err != nil {
		return 0, 0, err
	}
	defer s.Stop()
	topic := "bench-e2e-" + fixture.RandomHex(4)
	fwd, _, err := startForwarder(topic, topic+".fwd", s.url, s.key)
	if err != nil {
		return 0, 0, err
	}
	defer fwd.Stop()
	in, err := fixture.StartIngress(binDir, strings.Join(brokers, ","), topic)
	if err != nil {
		return 0, 0, err
	}
	defer in.Stop()
	url, token := in.URL, in.Token

	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var mu sync.Mutex
	accepted := map[string]int64{}
	var failures atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	stop := time.Now().Add(d)
	for time.Now().Before(stop) {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := newUUID()
			req, _ := http.NewRequest(http.MethodPost, url+"/events", bytes.NewReader(eventRecord(id).Value))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				failures.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			at := time.Now().UnixNano()
			if resp.StatusCode != http.StatusAccepted {
				failures.Add(1)
				return
			}
			mu.Lock()
			accepted[id] = at
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		return 0, 0, fmt.Errorf("%d requests were not accepted", f)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.count()
		if err != nil {
			return 0, 0, err
		}
		if c >= len(accepted) {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("only %d of %d accepted events delivered within 60 s; the forwarder's log ends:\n%s",
				c, len(accepted), fwd.LogTail())
		}
		time.Sleep(50 * time.Millisecond) // sampling the simulator's counter
	}
	got, err := s.firstReceipts()
	if err != nil {
		return 0, 0, err
	}
	lat := make([]time.Duration, 0, len(accepted))
	for id, at := range accepted {
		lat = append(lat, max(0, time.Duration(got[id]-at)))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

// dedupeRSS writes n delivered markers, starts a forwarder that reads them back into its dedupe
// window, and reads its resident memory.
func dedupeRSS(n int) (float64, time.Duration, error) {
	s, err := startSim("0ms")
	if err != nil {
		return 0, 0, err
	}
	defer s.Stop()
	topic := "bench-rss-" + fixture.RandomHex(4)
	if err := createTopic(topic, nil); err != nil {
		return 0, 0, err
	}
	compact := "compact,delete"
	if err := createTopic(topic+".delivered", map[string]*string{"cleanup.policy": &compact}); err != nil {
		return 0, 0, err
	}
	now := []byte(strconv.FormatInt(time.Now().UnixMilli(), 10))
	if err := produce(topic+".delivered", n, func(int) *kgo.Record {
		return &kgo.Record{Key: []byte(newUUID()), Value: now}
	}); err != nil {
		return 0, 0, err
	}
	started := time.Now()
	fwd, admin, err := startForwarder(topic, topic+".fwd", s.url, s.key)
	if err != nil {
		return 0, 0, err
	}
	defer fwd.Stop()
	deadline := time.Now().Add(5 * time.Minute)
	for metricValue(admin, "forwarder_dedupe_loaded_total") < float64(n) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the forwarder loaded %v of %d markers in 5 minutes",
				metricValue(admin, "forwarder_dedupe_loaded_total"), n)
		}
		time.Sleep(100 * time.Millisecond) // sampling the forwarder's counter
	}
	took := time.Since(started)
	return metricValue(admin, "process_resident_memory_bytes"), took, nil
}

func metricValue(admin, name string) float64 {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			return v
		}
	}
	return -1
}

func newUUID() string { return uuid.NewString() }
