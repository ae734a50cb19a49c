package main

import (
	"fmt"
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
	Log       config.Logging
}

const about = `adeventsx-sim: a stand-in for the AdEventsX conversions API. Accepts POST /v1/conversions
as the real API would, records what it accepted (GET /_sim/received) and injects failures,
set here at start or at run time with POST /_sim/control.`

var def = sim.DefaultSettings()

// The simulator's settings; README.md's Configuration section lists them (config_test.go checks).
var (
	addrVar    = config.Addr("SIM_ADDR", "127.0.0.1:8090", "listen address")
	apiKeyVar  = config.String("ADEVENTSX_API_KEY", "", "the X-Api-Key every request must carry").Required().Secret()
	fail429Var = share("SIM_FAIL_429", "share of requests answered 429 with Retry-After")
	fail500Var = share("SIM_FAIL_500", "share answered 500")
	fail503Var = share("SIM_FAIL_503", "share answered 503")
	fail400Var = share("SIM_FAIL_400", "share answered 400 invalid_payload")
	fail401Var = share("SIM_FAIL_401", "share answered 401")
	timeoutVar = share("SIM_TIMEOUT", "share held without an answer until the client gives up (the six shares add up to at most 1)")
	holdVar    = config.Duration("SIM_TIMEOUT_HOLD", def.TimeoutHold, time.Millisecond, sim.MaxHold, "longest hold before answering 504")
	retryVar   = config.Int("SIM_RETRY_AFTER_SECONDS", def.RetryAfter, 0, sim.MaxRetryAfter, "Retry-After of an injected 429, in seconds")
	latencyVar = config.Duration("SIM_LATENCY", 0, 0, sim.MaxLatency, "added before every answer")
	jitterVar  = config.Duration("SIM_LATENCY_JITTER", 0, 0, sim.MaxLatency, "uniform extra latency, 0 up to this")
	downVar    = config.Bool("SIM_DOWN", false, "answer every request with SIM_DOWN_STATUS")
	statusVar  = config.Int("SIM_DOWN_STATUS", def.DownStatus, 0, 599, "status while down, 400..599, or 0 to hold").
			Check(func(s int) error {
			if !sim.ValidFailStatus(s) {
				return fmt.Errorf("%d is not 400..599 or 0 (hold)", s)
			}
			return nil
		})
	seedVar      = config.Int("SIM_SEED", 0, 0, math.MaxInt, "non-zero: reproducible failure draws and jitter; 0: random")
	maxEventsVar = config.Int("SIM_MAX_EVENTS", sim.DefaultMaxEvents, 1, math.MaxInt32, "distinct event ids kept for /_sim/received")
)

func share(name, help string) *config.Var[float64] { return config.Float(name, 0, 0, 1, help) }

var shareVars = []*config.Var[float64]{fail429Var, fail500Var, fail503Var, fail400Var, fail401Var, timeoutVar}

// settings are every variable the simulator reads, in the order -h lists them.
var settings = config.NewSet("adeventsx-sim", about,
	addrVar, apiKeyVar, fail429Var, fail500Var, fail503Var, fail400Var, fail401Var, timeoutVar,
	holdVar, retryVar, latencyVar, jitterVar, downVar, statusVar, seedVar, maxEventsVar,
	config.LogLevelVar, config.LogFormatVar)

// loadConfig reads and checks every variable; the error names each bad one.
func loadConfig(env *config.Env) (Config, error) {
	shares := make([]float64, len(shareVars))
	var sum float64
	var set []string
	for i, v := range shareVars {
		shares[i] = v.Read(env)
		if shares[i] > 0 {
			sum += shares[i]
			set = append(set, v.Name())
		}
	}
	if sum > 1+sim.ShareSlack {
		env.Fail(strings.Join(set, "+"), "shares add up to %g, more than 1", sum)
	}
	cfg := Config{
		Addr:   addrVar.Read(env),
		APIKey: apiKeyVar.Read(env),
		Settings: sim.Settings{
			Fail429:       shares[0],
			Fail500:       shares[1],
			Fail503:       shares[2],
			Fail400:       shares[3],
			Fail401:       shares[4],
			Timeout:       shares[5],
			RetryAfter:    retryVar.Read(env),
			TimeoutHold:   holdVar.Read(env),
			Latency:       latencyVar.Read(env),
			LatencyJitter: jitterVar.Read(env),
			Down:          downVar.Read(env),
			DownStatus:    statusVar.Read(env),
		},
		Seed:      uint64(seedVar.Read(env)),
		MaxEvents: maxEventsVar.Read(env),
		Log:       config.ReadLogging(env),
	}
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	// The checks above name each variable, with sim's own rules (ValidFailStatus, ShareSlack);
	// Validate is the settings' whole check, run here too.
	if err := cfg.Settings.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
