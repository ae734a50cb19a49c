package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/martech/eventfwd/bench/internal/fixture"
)

// floodResult is the token-endpoint flood scenario's measurements: events at a steady rate
// while many source addresses guess a file client's secret.
type floodResult struct {
	Sources      int            `json:"sources"`
	FloodReqPS   float64        `json:"flood_requests_per_second"`
	FloodAnswers map[string]int `json:"flood_answers"` // by status code
	Events       result         `json:"events"`
	IngressCores float64        `json:"ingress_cpu_cores"`
	RightSecret  []int          `json:"right_secret_answers"` // a token request with the right secret, once a second
}

// runFlood starts an ingress with a file client (bcrypt) and sends, for o.duration, o.floodRate
// events per second while o.floodSources addresses of 127.0.0.0/8 send wrong secrets for that
// client as fast as they are answered (o.floodWorkers at a time), and the real client asks for
// a token once a second from an address of its own.
func runFlood(ctx context.Context, o options, bodies [][]byte) (floodResult, error) {
	secret := fixture.RandomHex(16)
	hash, err := hashSecret(o.binDir, secret)
	if err != nil {
		return floodResult{}, err
	}
	file := filepath.Join(os.TempDir(), "bench-clients-"+fixture.RandomHex(4)+".yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("clients:\n  - id: dash\n    secret_hash: %q\n", hash)), 0o600); err != nil {
		return floodResult{}, err
	}
	defer os.Remove(file)
	in, err := fixture.StartIngress(o.binDir, o.brokers, "bench.flood."+fixture.RandomHex(4), "AUTH_CLIENTS_FILE="+file)
	if err != nil {
		return floodResult{}, err
	}
	defer in.Stop()

	fctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg       sync.WaitGroup
		sent     atomic.Int64
		mu       sync.Mutex
		statuses = map[string]int{}
	)
	sources := make(chan int, o.floodSources)
	for i := range o.floodSources {
		sources <- i
	}
	close(sources)
	// Each worker takes sources in turn: a source sends a burst of 10 guesses, then the next.
	clients := make([]*http.Client, o.floodSources)
	for i := range clients {
		clients[i] = sourceClient(fmt.Sprintf("127.%d.%d.%d", 20+i/62500, i/250%250, i%250+1))
	}
	for w := range o.floodWorkers {
		wg.Go(func() {
			mine := map[string]int{}
			defer func() {
				mu.Lock()
				for k, v := range mine {
					statuses[k] += v
				}
				mu.Unlock()
			}()
			for i := w; fctx.Err() == nil; i += o.floodWorkers {
				cl := clients[i%len(clients)]
				for j := range 10 {
					req, _ := http.NewRequestWithContext(fctx, http.MethodPost, in.URL+"/auth/token",
						strings.NewReader(fmt.Sprintf(`{"client_id":"dash","client_secret":"guess-%d-%d"}`, i, j)))
					req.Header.Set("Content-Type", "application/json")
					resp, err := cl.Do(req)
					if err != nil {
						if fctx.Err() == nil {
							mine["error"]++
						}
						continue
					}
					resp.Body.Close()
					sent.Add(1)
					mine[fmt.Sprint(resp.StatusCode)]++
				}
			}
		})
	}

	// The real client, once a second, until the end.
	var right []int
	wg.Go(func() {
		cl := sourceClient("127.19.0.1")
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(fctx, http.MethodPost, in.URL+"/auth/token",
				strings.NewReader(fmt.Sprintf(`{"client_id":"dash","client_secret":%q}`, secret)))
			req.Header.Set("Content-Type", "application/json")
			code := 0
			if resp, err := cl.Do(req); err == nil {
				resp.Body.Close()
				code = resp.StatusCode
			}
			right = append(right, code)
		}
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}, Timeout: 30 * time.Second}
	gen := generator{client: client, token: in.Token, duration: o.duration, warmup: o.warmup}
	// The warm-up lets the flood reach its steady state before CPU and latencies are measured.
	cpuAt := make(chan float64, 1)
	go func() {
		select {
		case <-time.After(o.warmup):
		case <-fctx.Done():
		}
		c, _ := in.CPUSeconds()
		cpuAt <- c
	}()
	sentBefore := time.Now()
	events := gen.open(ctx, in.URL+"/events", bodies, o.floodRate, o.workers)
	cpuEnd, err := in.CPUSeconds()
	if err != nil {
		return floodResult{}, err
	}
	floodSeconds := time.Since(sentBefore).Seconds()
	stop()
	wg.Wait()
	events.Scenario, events.Target, events.EventsPerReq = fmt.Sprintf("ingress steady %d/s during a token flood", o.floodRate), "ingress", 1
	events.EventsPS = events.RequestsPS
	return floodResult{
		Sources:      o.floodSources,
		FloodReqPS:   float64(sent.Load()) / floodSeconds,
		FloodAnswers: statuses,
		Events:       events,
		IngressCores: (cpuEnd - <-cpuAt) / o.duration.Seconds(),
		RightSecret:  right,
	}, nil
}

// sourceClient is an HTTP client whose connections come from ip, an address of 127.0.0.0/8.
func sourceClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1}}
}

// hashSecret runs `ingress hash-secret` with the secret on stdin.
func hashSecret(binDir, secret string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "ingress"), "hash-secret")
	cmd.Stdin = strings.NewReader(secret)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ingress hash-secret: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
