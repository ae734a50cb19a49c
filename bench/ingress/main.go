// Command ingress is the ingress part of `make bench`: it starts bin/ingress against a real
// Kafka broker (KAFKA_BROKERS) and measures, with one load generator, accepted events per second
// and p50/p99 latency for single events and for batches of 100, beside a baseline measured in the
// same run: a bare net/http handler that reads the body and answers 202; the same comparison for
// single events with wrk, an outside load generator, at 64 and 256 connections (median and
// spread of three interleaved rounds, wrk.go); and, as an abuse
// scenario, events at a steady rate while thousands of addresses of 127.0.0.0/8 flood the token
// endpoint with wrong secrets (events p99, the ingress's CPU). It prints a table and writes it as
// JSON (-out).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/martech/eventfwd/bench/internal/fixture"
)

// Targets from issues 4 and 14, checked and reported. The single-event ratio is wrk's median.
const (
	targetSingleRatio   = 0.5
	targetBatchEventsPS = 200_000
	targetSteadyP99     = 25 * time.Millisecond
	// Issue 9: events keep flowing while the token endpoint is flooded.
	targetFloodP99   = 100 * time.Millisecond
	targetFloodCores = 1.5
)

type options struct {
	out      string
	duration time.Duration
	warmup   time.Duration
	workers  int
	bworkers int
	rate     int
	only     string
	// The token-flood scenario: source addresses and concurrent guessers.
	floodSources int
	floodWorkers int
	floodRate    int
	// The wrk comparison: connection counts and the length of each run.
	wrkConns    []int
	wrkProcs    []int
	wrkDuration time.Duration
	brokers     string
	binDir      string
	// ingressEnv is extra environment for the measured ingress (NAME=value ...).
	ingressEnv []string
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench-ingress.json", "where to write the results as JSON")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each scenario")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	flag.IntVar(&o.workers, "workers", 256, "concurrent connections of the closed-loop scenarios")
	flag.IntVar(&o.bworkers, "batch-workers", 64, "concurrent connections of the closed-loop batch scenarios")
	flag.IntVar(&o.rate, "rate", 2000, "single events per second of the steady (open-loop) scenario")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose name contains this")
	flag.IntVar(&o.floodSources, "flood-sources", 2000, "source addresses (127.0.0.0/8) of the token flood scenario")
	flag.IntVar(&o.floodWorkers, "flood-workers", 32, "concurrent requests of the token flood")
	flag.IntVar(&o.floodRate, "flood-rate", 1000, "single events per second sent during the token flood")
	wrkConns := flag.String("wrk-connections", "64,256", "comma-separated connection counts of the wrk comparison")
	wrkProcs := flag.String("wrk-procs", "1,2", "comma-separated GOMAXPROCS of the wrk comparisons (both servers get the same)")
	flag.DurationVar(&o.wrkDuration, "wrk-duration", 5*time.Second, "length of each wrk run (whole seconds)")
	ingressEnv := flag.String("ingress-env", "", "space-separated NAME=value settings added to the ingress's environment")
	flag.Parse()
	o.ingressEnv = strings.Fields(*ingressEnv)
	o.wrkConns = intList("-wrk-connections", *wrkConns, 2)
	o.wrkProcs = intList("-wrk-procs", *wrkProcs, 1)
	o.brokers = fixture.EnvOr("KAFKA_BROKERS", "127.0.0.1:9092")
	o.binDir = fixture.EnvOr("BIN_DIR", "../bin")

	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench ingress:", err)
		os.Exit(1)
	}
}

// intList parses a comma-separated list of integers of at least least, or exits naming flag.
func intList(flag, list string, least int) []int {
	var v []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			fmt.Fprintf(os.Stderr, "bench ingress: %s: %q is not an integer of %d or more\n", flag, f, least)
			os.Exit(2)
		}
		v = append(v, n)
	}
	return v
}

// result is one scenario's measurements.
type result struct {
	Scenario     string  `json:"scenario"`
	Target       string  `json:"target"` // baseline or ingress
	Mode         string  `json:"mode"`   // closed (max throughput) or open (fixed rate)
	EventsPerReq int     `json:"events_per_request"`
	Seconds      float64 `json:"seconds"`
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	RequestsPS   float64 `json:"requests_per_second"`
	EventsPS     float64 `json:"events_per_second"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
}

type report struct {
	Started  time.Time          `json:"started"`
	Brokers  string             `json:"kafka_brokers"`
	Workers  int                `json:"workers"`
	BWorkers int                `json:"batch_workers"`
	Results  []result           `json:"results"`
	Ratios   map[string]float64 `json:"ratios"`
	Targets  map[string]bool    `json:"targets_met"`
	Wrk      []wrkResult        `json:"wrk,omitempty"`
	Flood    *floodResult       `json:"token_flood,omitempty"`
	Failures []string           `json:"failures,omitempty"`
}

func run(ctx context.Context, o options) error {
	in, err := fixture.StartIngress(o.binDir, o.brokers, "bench.ingress."+fixture.RandomHex(4), o.ingressEnv...)
	if err != nil {
		return err
	}
	defer in.Stop()
	ingressURL, token := in.URL, in.Token

	baseline, err := startBaseline()
	if err != nil {
		return err
	}
	defer baseline.Close()
	baseURL := "http://" + baseline.Addr

	singles := make([][]byte, 2000)
	for i := range singles {
		singles[i] = eventJSON()
	}
	batches := make([][]byte, 200)
	for i := range batches {
		items := make([][]byte, 100)
		for j := range items {
			items[j] = eventJSON()
		}
		batches[i] = append(append([]byte("["), bytes.Join(items, []byte(","))...), ']')
	}

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        o.workers * 2,
		MaxIdleConnsPerHost: o.workers * 2,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}
	gen := generator{client: client, token: token, duration: o.duration, warmup: o.warmup}

	rep := report{Started: time.Now().UTC(), Brokers: o.brokers, Workers: o.workers, BWorkers: o.bworkers}
	scenarios := []struct {
		name, target, url string
		bodies            [][]byte
		events            int
		open              bool
	}{
		{"baseline single", "baseline", baseURL + "/events", singles, 1, false},
		{"ingress single", "ingress", ingressURL + "/events", singles, 1, false},
		{"baseline batch of 100", "baseline", baseURL + "/events/batch", batches, 100, false},
		{"ingress batch of 100", "ingress", ingressURL + "/events/batch", batches, 100, false},
		{fmt.Sprintf("baseline steady %d/s", o.rate), "baseline", baseURL + "/events", singles, 1, true},
		{fmt.Sprintf("ingress steady %d/s", o.rate), "ingress", ingressURL + "/events", singles, 1, true},
	}
	for _, sc := range scenarios {
		if !strings.Contains(sc.name, o.only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench ingress: %s ...\n", sc.name)
		var r result
		switch {
		case sc.open:
			r = gen.open(ctx, sc.url, sc.bodies, o.rate, o.workers)
		case sc.events > 1:
			r = gen.closed(ctx, sc.url, sc.bodies, o.bworkers)
		default:
			r = gen.closed(ctx, sc.url, sc.bodies, o.workers)
		}
		r.Scenario, r.Target, r.EventsPerReq = sc.name, sc.target, sc.events
		r.EventsPS = r.RequestsPS * float64(sc.events)
		rep.Results = append(rep.Results, r)
	}

	if strings.Contains("wrk single", o.only) {
		rep.Wrk, err = compareWithWrk(ctx, o, baseURL+"/events", singles[:1000])
		if err != nil {
			return err
		}
	}

	if strings.Contains("token flood", o.only) {
		fmt.Fprintf(os.Stderr, "bench ingress: token flood from %d addresses while events flow ...\n", o.floodSources)
		flood, err := runFlood(ctx, o, singles)
		if err != nil {
			return fmt.Errorf("token flood: %w", err)
		}
		rep.Flood = &flood
	}

	byName := map[string]result{}
	for _, r := range rep.Results {
		byName[r.Scenario] = r
	}
	single, baseSingle := byName["ingress single"], byName["baseline single"]
	batch, baseBatch := byName["ingress batch of 100"], byName["baseline batch of 100"]
	steady := byName[fmt.Sprintf("ingress steady %d/s", o.rate)]
	rep.Ratios = map[string]float64{
		"single_events_ps_vs_baseline": ratio(single.EventsPS, baseSingle.EventsPS),
		"batch_events_ps_vs_baseline":  ratio(batch.EventsPS, baseBatch.EventsPS),
	}
	// A target is judged only when its scenario ran (-only).
	rep.Targets = map[string]bool{}
	if batch.Scenario != "" {
		rep.Targets[fmt.Sprintf("batch >= %d events/s", targetBatchEventsPS)] = batch.EventsPS >= targetBatchEventsPS
	}
	if steady.Scenario != "" {
		rep.Targets[fmt.Sprintf("steady %d/s p99 < %s", o.rate, targetSteadyP99)] = steady.P99Ms < float64(targetSteadyP99.Milliseconds()) && steady.Errors == 0
	}
	for _, w := range rep.Wrk {
		rep.Ratios[fmt.Sprintf("wrk_%d_procs_%d_conns_single_median_vs_baseline", w.Procs, w.Connections)] = w.RatioMedian
		if w.Procs == targetProcs {
			rep.Targets[fmt.Sprintf("wrk %d conns single >= %.1fx baseline (%d core each)", w.Connections, targetSingleRatio, w.Procs)] = w.RatioMedian >= targetSingleRatio
		}
		for _, r := range slices.Concat(w.Baseline, w.Ingress) {
			if r.Errors > 0 {
				rep.Failures = append(rep.Failures, fmt.Sprintf("wrk %d cores, %d connections, %s: %d failed requests", w.Procs, w.Connections, r.Target, r.Errors))
			}
		}
	}
	if f := rep.Flood; f != nil {
		rep.Targets[fmt.Sprintf("steady %d/s during a token flood p99 < %s", o.floodRate, targetFloodP99)] =
			f.Events.Errors == 0 && f.Events.P99Ms < float64(targetFloodP99.Milliseconds())
		rep.Targets[fmt.Sprintf("ingress CPU during a token flood < %.1f cores", targetFloodCores)] = f.IngressCores < targetFloodCores
		if f.Events.Errors > 0 {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %d failed requests", f.Events.Scenario, f.Events.Errors))
		}
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %d failed requests", r.Scenario, r.Errors))
		}
	}

	printTable(os.Stdout, rep)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Printf("written to %s\n", o.out)
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "\ningress load (%d connections, %d for batches, kafka %s)\n", rep.Workers, rep.BWorkers, rep.Brokers)
	fmt.Fprintf(w, "%-26s %10s %12s %9s %9s %9s %7s\n", "scenario", "req/s", "events/s", "p50 ms", "p99 ms", "max ms", "errors")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%-26s %10.0f %12.0f %9.2f %9.2f %9.2f %7d\n", r.Scenario, r.RequestsPS, r.EventsPS, r.P50Ms, r.P99Ms, r.MaxMs, r.Errors)
	}
	fmt.Fprintf(w, "single events vs baseline (this generator): %.2f   batch of 100 vs baseline: %.2f\n",
		rep.Ratios["single_events_ps_vs_baseline"], rep.Ratios["batch_events_ps_vs_baseline"])
	keys := make([]string, 0, len(rep.Targets))
	for k := range rep.Targets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		mark := "met"
		if !rep.Targets[k] {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "target %-38s %s\n", k, mark)
	}
	if len(rep.Wrk) > 0 {
		fmt.Fprintf(w, "\nwrk, single events, %d interleaved rounds (median, lowest-highest); cores: GOMAXPROCS of both servers\n", wrkRuns)
		fmt.Fprintf(w, "%-6s %-6s %-24s %-24s %-18s %s\n", "cores", "conns", "baseline req/s", "ingress req/s", "ratio", "ingress p50 / p99 ms (median)")
		for _, r := range rep.Wrk {
			fmt.Fprintf(w, "%-6d %-6d %-24s %-24s %-18s %.2f / %.2f\n", r.Procs, r.Connections,
				fmt.Sprintf("%.0f (%s)", r.BaselineMedian, spread(rps(r.Baseline), "%.0f")),
				fmt.Sprintf("%.0f (%s)", r.IngressMedian, spread(rps(r.Ingress), "%.0f")),
				fmt.Sprintf("%.2f (%s)", r.RatioMedian, spread(r.Ratios, "%.2f")),
				median(p50s(r.Ingress)), median(p99s(r.Ingress)))
		}
	}
	if f := rep.Flood; f != nil {
		fmt.Fprintf(w, "token flood: %d addresses, %.0f token requests/s answered %v; ingress CPU %.2f cores\n",
			f.Sources, f.FloodReqPS, f.FloodAnswers, f.IngressCores)
		fmt.Fprintf(w, "  events during it: %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors; right secret answered %v\n",
			f.Events.RequestsPS, f.Events.P50Ms, f.Events.P99Ms, f.Events.MaxMs, f.Events.Errors, f.RightSecret)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "!! %s\n", f)
	}
}

// ---- the load generator ----

type generator struct {
	client   *http.Client
	token    string
	duration time.Duration
	warmup   time.Duration
}

// send posts one body and reports whether the answer was a success (2xx).
func (g generator) send(ctx context.Context, url string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// closed runs workers that each send the next request as soon as the last one is answered: the
// most the target can take at that concurrency.
func (g generator) closed(ctx context.Context, url string, bodies [][]byte, workers int) result {
	var (
		all tally
		wg  sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(g.warmup)
	end := measureFrom.Add(g.duration)
	for w := range workers {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for i := w; ; i += workers {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				ok := g.send(ctx, url, bodies[i%len(bodies)])
				if t0.Before(measureFrom) {
					continue
				}
				mine = append(mine, time.Since(t0))
				if !ok {
					bad++
				}
			}
			all.add(mine, bad)
		})
	}
	wg.Wait()
	return summarize("closed", all.latencies, all.errs, g.duration)
}

// tally gathers the workers' latencies and failures.
type tally struct {
	mu        sync.Mutex
	latencies []time.Duration
	errs      int
}

func (t *tally) add(latencies []time.Duration, errs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latencies = append(t.latencies, latencies...)
	t.errs += errs
}

// open sends rate requests per second on a fixed schedule whatever the answers, from up to
// workers connections, and measures each latency from the moment it was due, so that a stall
// shows in the latencies instead of lowering the load.
func (g generator) open(ctx context.Context, url string, bodies [][]byte, rate, workers int) result {
	total := int(g.warmup.Seconds()*float64(rate)) + int(g.duration.Seconds()*float64(rate))
	warm := int(g.warmup.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	due := make(chan int, total)
	var (
		all tally
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for i := range due {
				at := start.Add(time.Duration(i) * interval)
				ok := g.send(ctx, url, bodies[i%len(bodies)])
				if i < warm {
					continue
				}
				mine = append(mine, time.Since(at))
				if !ok {
					bad++
				}
			}
			all.add(mine, bad)
		})
	}
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		due <- i
	}
	close(due)
	wg.Wait()
	return summarize("open", all.latencies, all.errs, g.duration)
}

func summarize(mode string, latencies []time.Duration, errs int, d time.Duration) result {
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := min(len(latencies)-1, int(p*float64(len(latencies))))
		return float64(latencies[i].Microseconds()) / 1000
	}
	return result{
		Mode:       mode,
		Seconds:    d.Seconds(),
		Requests:   len(latencies),
		Errors:     errs,
		RequestsPS: float64(len(latencies)) / d.Seconds(),
		P50Ms:      pct(0.50),
		P99Ms:      pct(0.99),
		MaxMs:      pct(1),
	}
}

// ---- the targets ----

// startBaseline serves the bare handler the ingress is compared with: it reads the body and
// answers 202.
func startBaseline() (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"accepted"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func eventJSON() []byte {
	id := uuid.NewString()
	return fmt.Appendf(nil, `{"event_id":%q,"user_id":"user-%s","event_name":"purchase","event_time":"2026-11-24T10:00:00.750Z","value":"19.99","campaign_id":"camp-1","source":"bench"}`, id, id[:8])
}
