package main

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/services/adeventsx-sim/internal/sim"
)

// Config is the simulator's whole configuration, read from the environment.
type Config struct {
	Addr      string
	APIKey    string
	Settings  sim.Settings
	Seed      uint64
	MaxEvents int
}

// usage is what -h prints.
const usage = `adeventsx-sim: a stand-in for the AdEventsX conversions API. Accepts POST /v1/conversions
as the real API would, records what it accepted (GET /_sim/received) and injects failures,
set here at start or at run time with POST /_sim/control.

Configuration is read from the environment:
  SIM_ADDR                 listen address (default "127.0.0.1:8090")
  ADEVENTSX_API_KEY        required; the X-Api-Key every request must carry
  SIM_FAIL_429             share 0..1 of requests answered 429 with Retry-After (default 0)
  SIM_FAIL_500             share 0..1 answered 500 (default 0)
  SIM_FAIL_503             share 0..1 answered 503 (default 0)
  SIM_FAIL_400             share 0..1 answered 400 invalid_payload (default 0)
  SIM_FAIL_401             share 0..1 answered 401 (default 0)
  SIM_TIMEOUT              share 0..1 held without an answer until the client gives up (default 0)
                           (the six shares add up to at most 1)
  SIM_TIMEOUT_HOLD         longest hold before answering 504, 1ms..10m (default 60s)
  SIM_RETRY_AFTER_SECONDS  Retry-After of an injected 429, 0..86400 (default 1)
  SIM_LATENCY              added before every answer, 0..5m (default 0s)
  SIM_LATENCY_JITTER       uniform extra latency 0..this, 0..5m (default 0s)
  SIM_DOWN                 answer every request with SIM_DOWN_STATUS (default false)
  SIM_DOWN_STATUS          status while down, 400..599, or 0 to hold (default 503)
  SIM_SEED                 non-zero: reproducible failure draws and jitter (default 0, random)
  SIM_MAX_EVENTS           distinct event ids kept for /_sim/received (default 2000000)
  LOG_LEVEL                debug, info, warn, error (default info)
`

var shareVars = []string{"SIM_FAIL_429", "SIM_FAIL_500", "SIM_FAIL_503", "SIM_FAIL_400", "SIM_FAIL_401", "SIM_TIMEOUT"}

// loadConfig reads and checks every variable; the error names each bad one.
func loadConfig(env *config.Env) (Config, error) {
	def := sim.DefaultSettings()
	shares := make([]float64, len(shareVars))
	var sum float64
	var set []string
	for i, name := range shareVars {
		shares[i] = env.Float(name, 0, 0, 1)
		if shares[i] > 0 {
			sum += shares[i]
			set = append(set, name)
		}
	}
	if sum > 1+1e-9 {
		env.Fail(strings.Join(set, "+"), "shares add up to %g, more than 1", sum)
	}
	cfg := Config{
		Addr:   env.Addr("SIM_ADDR", "127.0.0.1:8090"),
		APIKey: env.Required("ADEVENTSX_API_KEY"),
		Settings: sim.Settings{
			Fail429:       shares[0],
			Fail500:       shares[1],
			Fail503:       shares[2],
			Fail400:       shares[3],
			Fail401:       shares[4],
			Timeout:       shares[5],
			RetryAfter:    env.Int("SIM_RETRY_AFTER_SECONDS", def.RetryAfter, 0, sim.MaxRetryAfter),
			TimeoutHold:   env.Duration("SIM_TIMEOUT_HOLD", def.TimeoutHold, time.Millisecond, sim.MaxHold),
			Latency:       env.Duration("SIM_LATENCY", 0, 0, sim.MaxLatency),
			LatencyJitter: env.Duration("SIM_LATENCY_JITTER", 0, 0, sim.MaxLatency),
			Down:          env.Bool("SIM_DOWN", false),
			DownStatus:    env.Int("SIM_DOWN_STATUS", def.DownStatus, 0, 599),
		},
		Seed:      uint64(env.Int("SIM_SEED", 0, 0, math.MaxInt)),
		MaxEvents: env.Int("SIM_MAX_EVENTS", sim.DefaultMaxEvents, 1, math.MaxInt32),
	}
	if s := cfg.Settings.DownStatus; s != 0 && s < 400 {
		env.Fail("SIM_DOWN_STATUS", "%d is not 400..599 or 0 (hold)", s)
	}
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	// Everything above mirrors sim's own checks; this catches the two drifting apart.
	if err := cfg.Settings.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// LogValue shows the configuration without its secret.
func (c Config) LogValue() slog.Value {
	s := c.Settings
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("api_key", config.Mask(c.APIKey)),
		slog.Float64("fail_429", s.Fail429),
		slog.Float64("fail_500", s.Fail500),
		slog.Float64("fail_503", s.Fail503),
		slog.Float64("fail_400", s.Fail400),
		slog.Float64("fail_401", s.Fail401),
		slog.Float64("timeout", s.Timeout),
		slog.String("timeout_hold", s.TimeoutHold.String()),
		slog.Int("retry_after_seconds", s.RetryAfter),
		slog.String("latency", s.Latency.String()),
		slog.String("latency_jitter", s.LatencyJitter.String()),
		slog.Bool("down", s.Down),
		slog.Int("down_status", s.DownStatus),
		slog.Uint64("seed", c.Seed),
		slog.Int("max_events", c.MaxEvents),
	)
}
