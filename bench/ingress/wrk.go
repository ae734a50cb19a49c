package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/martech/eventfwd/bench/internal/fixture"
)

// The wrk comparison: single events posted by wrk, an outside load generator in C, to the
// ingress and to the bare net/http handler, interleaved in the same run, wrkRuns times at each
// connection count; the figures are the medians, the spread and the median of the runs' ratios.
// Both servers get the same number of cores (GOMAXPROCS) in a comparison: the ingress a fresh
// process started with it, the baseline, which runs in this process, by runtime.GOMAXPROCS.
const wrkRuns = 3

// targetProcs is the GOMAXPROCS of the comparisons the single-event target is judged on. On a
// machine of two cores that wrk and the broker share with the server under test, one core each
// for the servers leaves the other to them; with both cores the server's threads and the
// broker's preempt each other and the ingress's figures swing from run to run (reported too).
const targetProcs = 1

// wrkRun is one wrk run against one target.
type wrkRun struct {
	Target     string  `json:"target"` // baseline or ingress
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"` // non-2xx/3xx answers and socket errors
	RequestsPS float64 `json:"requests_per_second"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
}

// wrkResult is the comparison at one connection count.
type wrkResult struct {
	Procs       int      `json:"gomaxprocs"` // of both servers
	Connections int      `json:"connections"`
	Seconds     float64  `json:"seconds_per_run"`
	Baseline    []wrkRun `json:"baseline_runs"`
	Ingress     []wrkRun `json:"ingress_runs"`
	// Ratios are each run's ingress req/s over the baseline's of the same round.
	Ratios         []float64 `json:"ratios"`
	BaselineMedian float64   `json:"baseline_median_rps"`
	IngressMedian  float64   `json:"ingress_median_rps"`
	RatioMedian    float64   `json:"ratio_median"`
}

// wrkScript is the Lua script that makes wrk post the bodies in turn, each thread from the
// first, with the bearer token.
func wrkScript(token string, bodies [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("local bodies = {\n")
	for _, body := range bodies {
		fmt.Fprintf(&b, "  %q,\n", body) // the bodies are plain ASCII JSON: Go quoting is Lua quoting
	}
	fmt.Fprintf(&b, `}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = %q}
local reqs, n = {}, 0
function init(args)
  for i, body in ipairs(bodies) do reqs[i] = wrk.format("POST", nil, headers, body) end
end
function request()
  n = n %% #reqs + 1
  return reqs[n]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`, "Bearer "+token)
	return b.Bytes()
}

// runWrk runs wrk at conns connections for d against url with the script.
func runWrk(ctx context.Context, script, url string, conns int, d time.Duration) (wrkRun, error) {
	cmd := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--timeout", "10s", "-s", script, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkRun{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		var reqs, micros, errs, p50, p99 int
		if _, err := fmt.Sscanf(line, "WRK %d %d %d %d %d", &reqs, &micros, &errs, &p50, &p99); err == nil && micros > 0 {
			return wrkRun{Requests: reqs, Errors: errs, RequestsPS: float64(reqs) / (float64(micros) / 1e6),
				P50Ms: float64(p50) / 1000, P99Ms: float64(p99) / 1000}, nil
		}
	}
	return wrkRun{}, fmt.Errorf("wrk printed no summary: %s", out)
}

// compareWithWrk runs the wrk comparison for each GOMAXPROCS of o.wrkProcs and each connection
// count: for each GOMAXPROCS a fresh ingress, then per connection count an unmeasured warm-up of
// it and wrkRuns rounds of the baseline and the ingress one after the other.
func compareWithWrk(ctx context.Context, o options, baseURL string, bodies [][]byte) ([]wrkResult, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk is not installed (make tools installs it): %w", err)
	}
	var results []wrkResult
	for _, procs := range o.wrkProcs {
		rs, err := compareOnCores(ctx, o, procs, baseURL, bodies)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// compareOnCores is the comparison with both servers on procs cores.
func compareOnCores(ctx context.Context, o options, procs int, baseURL string, bodies [][]byte) ([]wrkResult, error) {
	in, err := fixture.StartIngress(o.binDir, o.brokers, "bench.wrk."+fixture.RandomHex(4),
		append(slices.Clone(o.ingressEnv), "GOMAXPROCS="+strconv.Itoa(procs))...)
	if err != nil {
		return nil, err
	}
	defer in.Stop()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))

	f, err := os.CreateTemp("", "bench-ingress-*.lua")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(wrkScript(in.Token, bodies)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	ingressURL := in.URL + "/events"
	var results []wrkResult
	for _, conns := range o.wrkConns {
		fmt.Fprintf(os.Stderr, "bench ingress: wrk, both servers on %d core(s), %d connections, %d rounds ...\n", procs, conns, wrkRuns)
		if _, err := runWrk(ctx, f.Name(), ingressURL, conns, o.warmup); err != nil {
			return nil, err
		}
		r := wrkResult{Procs: procs, Connections: conns, Seconds: o.wrkDuration.Seconds()}
		for range wrkRuns {
			base, err := runWrk(ctx, f.Name(), baseURL, conns, o.wrkDuration)
			if err != nil {
				return nil, err
			}
			in, err := runWrk(ctx, f.Name(), ingressURL, conns, o.wrkDuration)
			if err != nil {
				return nil, err
			}
			base.Target, in.Target = "baseline", "ingress"
			r.Baseline, r.Ingress = append(r.Baseline, base), append(r.Ingress, in)
			r.Ratios = append(r.Ratios, ratio(in.RequestsPS, base.RequestsPS))
		}
		r.BaselineMedian = median(rps(r.Baseline))
		r.IngressMedian = median(rps(r.Ingress))
		r.RatioMedian = median(r.Ratios)
		results = append(results, r)
	}
	return results, nil
}

func rps(runs []wrkRun) []float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = r.RequestsPS
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread formats the lowest and highest of v.
func spread(v []float64, format string) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf(format+"-"+format, slices.Min(v), slices.Max(v))
}

func p50s(runs []wrkRun) []float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = r.P50Ms
	}
	return v
}

func p99s(runs []wrkRun) []float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = r.P99Ms
	}
	return v
}
