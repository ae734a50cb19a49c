package main

import (
	"errors"
	"net/url"
	"time"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
)

const about = `forwarder: delivers events from Kafka to AdEventsX.`

// The forwarder's own settings; README.md's Configuration section lists them with the shared
// ones (config_test.go checks).
var (
	sessionTimeoutVar = config.Duration("CONSUMER_SESSION_TIMEOUT", 45*time.Second, 6*time.Second, 30*time.Minute,
		"how long the group waits for a silent member before reassigning its partitions")
	urlVar = config.String("ADEVENTSX_URL", "", "AdEventsX base URL; POSTs go to $ADEVENTSX_URL/v1/conversions").
		Required().Check(httpURL).Show(redactURL)
	apiKeyVar         = config.String("ADEVENTSX_API_KEY", "", "AdEventsX API key, sent as X-Api-Key").Required().Secret()
	maxRPSVar         = config.Float("ADEVENTSX_MAX_RPS", 0, 0, 1e6, "cap on requests/s to AdEventsX, 0 for none")
	adminAddrVar      = config.Addr("FORWARDER_ADMIN_ADDR", "127.0.0.1:8081", "admin HTTP: /healthz /readyz /metrics")
	dedupeWindowVar   = config.Duration("DEDUPE_WINDOW", 24*time.Hour, time.Minute, 30*24*time.Hour, "how long a delivered event_id is remembered")
	dedupeCacheVar    = config.Int("DEDUPE_CACHE_SIZE", 2_000_000, 1000, 100_000_000, "event_ids each forwarder keeps in memory (size it to the window's traffic: README, Sizing the dedupe window)")
	maxInFlightVar    = config.Int("MAX_IN_FLIGHT", 2048, 1, 100_000, "requests to AdEventsX at once, at most: the adaptive limit's ceiling")
	maxPerPartVar     = config.Int("MAX_IN_FLIGHT_PER_PARTITION", 512, 1, 100_000, "records worked on at once per partition (at most MAX_IN_FLIGHT)")
	maxAttemptsVar    = config.Int("DELIVERY_MAX_ATTEMPTS", 4, 1, 100, "attempts per event that count, the first included")
	backoffVar        = config.Duration("DELIVERY_BACKOFF", time.Second, time.Millisecond, time.Hour, "wait before the first retry, doubling after")
	maxBackoffVar     = config.Duration("DELIVERY_MAX_BACKOFF", 30*time.Second, time.Millisecond, time.Hour, "longest wait between retries")
	jitterVar         = config.Float("DELIVERY_JITTER", 0.2, 0, 1, "+/- share of each wait")
	attemptTimeoutVar = config.Duration("DELIVERY_ATTEMPT_TIMEOUT", 10*time.Second, time.Millisecond, 5*time.Minute, "timeout of one HTTP attempt")
	retryAfterCapVar  = config.Duration("RETRY_AFTER_CAP", time.Minute, 0, time.Hour, "longest Retry-After honoured")
	circuitWindowVar  = config.Duration("CIRCUIT_WINDOW", 10*time.Second, 100*time.Millisecond, time.Hour, `how far back "most recent requests" reaches`)
	circuitMinVar     = config.Int("CIRCUIT_MIN_REQUESTS", 5, 1, 10000, "requests in the window before the circuit may open")
	circuitRatioVar   = config.Float("CIRCUIT_FAILURE_RATIO", 0.5, 0.01, 1, "share failing that opens the circuit")
	probeVar          = config.Duration("CIRCUIT_PROBE_INTERVAL", time.Second, time.Millisecond, time.Hour, "first wait between probes while open")
	maxProbeVar       = config.Duration("CIRCUIT_MAX_PROBE_INTERVAL", 30*time.Second, time.Millisecond, time.Hour, "longest wait between probes")
	commitIntervalVar = config.Duration("COMMIT_INTERVAL", time.Second, 10*time.Millisecond, time.Minute, "how often finished offsets are committed")
	shutdownVar       = config.Duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Second, 50*time.Second,
		"how long a revoke or shutdown waits for in-flight records; under the group's 60 s rebalance timeout, and at least DELIVERY_ATTEMPT_TIMEOUT + 5s")
)

// settings are every variable the forwarder reads, in the order -h lists them.
var settings = config.NewSet("forwarder", about, kafka.Vars...).Add(kafka.EventsTopicVar, kafka.DLQTopicVar, kafka.DedupeTopicVar, kafka.GroupVar, sessionTimeoutVar,
	urlVar, apiKeyVar, maxRPSVar, adminAddrVar, event.NamesVar, dedupeWindowVar, dedupeCacheVar,
	maxInFlightVar, maxPerPartVar, deadletter.MaxRecordBytesVar, maxAttemptsVar, backoffVar,
	maxBackoffVar, jitterVar, attemptTimeoutVar, retryAfterCapVar, circuitWindowVar, circuitMinVar,
	circuitRatioVar, probeVar, maxProbeVar, commitIntervalVar, shutdownVar,
	config.LogLevelVar, config.LogFormatVar)

// configError marks a misconfiguration: main prints it as one line and exits 2.
type configError struct{ error }

// Config is every setting of the forwarder, each field named after its variable.
type Config struct {
	Kafka                kafka.Settings
	EventsTopic          string
	DLQTopic             string
	DedupeTopic          string
	ConsumerGroup        string
	SessionTimeout       time.Duration
	AdminAddr            string
	URL                  string
	APIKey               string
	MaxRPS               float64
	EventNames           []string
	DedupeWindow         time.Duration
	DedupeCacheSize      int
	MaxInFlight          int
	MaxInFlightPerPart   int
	MaxRecordBytes       int
	MaxAttempts          int
	Backoff              time.Duration
	MaxBackoff           time.Duration
	Jitter               float64
	AttemptTimeout       time.Duration
	RetryAfterCap        time.Duration
	CircuitWindow        time.Duration
	CircuitMinRequests   int
	CircuitFailureRatio  float64
	CircuitProbeInterval time.Duration
	CircuitMaxProbe      time.Duration
	CommitInterval       time.Duration
	ShutdownTimeout      time.Duration
	Log                  config.Logging
}

func loadConfig(env *config.Env) (Config, error) {
	c := Config{
		Kafka:                kafka.ReadSettings(env),
		EventsTopic:          kafka.EventsTopicVar.Read(env),
		DLQTopic:             kafka.DLQTopicVar.Read(env),
		DedupeTopic:          kafka.DedupeTopicVar.Read(env),
		ConsumerGroup:        kafka.GroupVar.Read(env),
		SessionTimeout:       sessionTimeoutVar.Read(env),
		AdminAddr:            adminAddrVar.Read(env),
		URL:                  urlVar.Read(env),
		APIKey:               apiKeyVar.Read(env),
		MaxRPS:               maxRPSVar.Read(env),
		EventNames:           event.NamesVar.Read(env),
		DedupeWindow:         dedupeWindowVar.Read(env),
		DedupeCacheSize:      dedupeCacheVar.Read(env),
		MaxInFlight:          maxInFlightVar.Read(env),
		MaxInFlightPerPart:   maxPerPartVar.Read(env),
		MaxRecordBytes:       deadletter.MaxRecordBytesVar.Read(env),
		MaxAttempts:          maxAttemptsVar.Read(env),
		Backoff:              backoffVar.Read(env),
		MaxBackoff:           maxBackoffVar.Read(env),
		Jitter:               jitterVar.Read(env),
		AttemptTimeout:       attemptTimeoutVar.Read(env),
		RetryAfterCap:        retryAfterCapVar.Read(env),
		CircuitWindow:        circuitWindowVar.Read(env),
		CircuitMinRequests:   circuitMinVar.Read(env),
		CircuitFailureRatio:  circuitRatioVar.Read(env),
		CircuitProbeInterval: probeVar.Read(env),
		CircuitMaxProbe:      maxProbeVar.Read(env),
		CommitInterval:       commitIntervalVar.Read(env),
		ShutdownTimeout:      shutdownVar.Read(env),
		Log:                  config.ReadLogging(env),
	}
	if c.MaxInFlightPerPart > c.MaxInFlight {
		c.MaxInFlightPerPart = c.MaxInFlight
	}
	if c.MaxBackoff < c.Backoff {
		env.Fail(maxBackoffVar.Name(), "%s is shorter than DELIVERY_BACKOFF %s", c.MaxBackoff, c.Backoff)
	}
	if c.ShutdownTimeout < c.AttemptTimeout+5*time.Second {
		env.Fail(shutdownVar.Name(), "%s must be at least DELIVERY_ATTEMPT_TIMEOUT (%s) + 5s, so that a revoke lets an attempt under way finish", c.ShutdownTimeout, c.AttemptTimeout)
	}
	if c.DLQTopic == c.EventsTopic || c.DedupeTopic == c.EventsTopic || c.DedupeTopic == c.DLQTopic {
		env.Fail(kafka.DLQTopicVar.Name(), "EVENTS_TOPIC, DLQ_TOPIC and DEDUPE_TOPIC must be three different topics")
	}
	if err := env.Err(); err != nil {
		return Config{}, configError{err}
	}
	return c, nil
}

func httpURL(raw string) error {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("is not an http(s) URL")
	}
	return nil
}

// redactURL hides a password in the URL's user info for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
