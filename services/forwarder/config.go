package main

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
)

const usage = `forwarder: delivers events from Kafka to AdEventsX.

Environment (defaults in brackets):
  KAFKA_BROKERS              Kafka bootstrap brokers, comma-separated [127.0.0.1:9092]
  EVENTS_TOPIC               topic to consume [events.raw]
  DLQ_TOPIC                  dead-letter topic [events.dlq]
  DEDUPE_TOPIC               compacted topic of delivered markers [events.delivered]
  CONSUMER_GROUP             consumer group [adeventsx-forwarder]
  CONSUMER_SESSION_TIMEOUT   how long the group waits for a silent member before reassigning
                             its partitions [45s]
  TOPIC_PARTITIONS           partitions of topics created at start [6]
  TOPIC_REPLICATION_FACTOR   replication factor of topics created at start [1]
  TOPIC_MIN_INSYNC_REPLICAS  min.insync.replicas of topics created at start [the broker's]
  KAFKA_TLS, KAFKA_TLS_CA_FILE, KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE, KAFKA_TLS_SERVER_NAME,
  KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD(_FILE), KAFKA_SASL_OAUTH_*
                             TLS and SASL to the brokers (README, "Connecting to your cluster")
  ADEVENTSX_URL              AdEventsX base URL; POSTs go to $ADEVENTSX_URL/v1/conversions (required)
  ADEVENTSX_API_KEY          AdEventsX API key (required, never logged)
  ADEVENTSX_MAX_RPS          cap on requests/s to AdEventsX, 0 for none [0]
  FORWARDER_ADMIN_ADDR       admin HTTP: /healthz /readyz /metrics [127.0.0.1:8081]
  EVENT_NAMES                accepted event_name values [purchase,lead]
  DEDUPE_WINDOW              how long a delivered event_id is remembered [24h]
  DEDUPE_CACHE_SIZE          event_ids kept in memory [2000000]
  MAX_IN_FLIGHT              requests to AdEventsX at once, at most: the adaptive limit's
                             ceiling [2048]
  MAX_IN_FLIGHT_PER_PARTITION records worked on at once per partition [512]
  MAX_RECORD_BYTES           larger records (key, value and headers) are dead-lettered as
                             invalid, without their payload [921600]; above that default,
                             raise max.message.bytes of the topics to match
  DELIVERY_MAX_ATTEMPTS      attempts per event, the first included [4]
  DELIVERY_BACKOFF           wait before the first retry, doubling after [1s]
  DELIVERY_MAX_BACKOFF       longest wait between retries [30s]
  DELIVERY_JITTER            +/- share of each wait [0.2]
  DELIVERY_ATTEMPT_TIMEOUT   timeout of one HTTP attempt [10s]
  RETRY_AFTER_CAP            longest Retry-After honoured [60s]
  CIRCUIT_WINDOW             how far back "most recent requests" reaches [10s]
  CIRCUIT_MIN_REQUESTS       requests in the window before the circuit may open [5]
  CIRCUIT_FAILURE_RATIO      share failing that opens the circuit [0.5]
  CIRCUIT_PROBE_INTERVAL     first wait between probes while open [1s]
  CIRCUIT_MAX_PROBE_INTERVAL longest wait between probes [30s]
  COMMIT_INTERVAL            how often finished offsets are committed [1s]
  SHUTDOWN_TIMEOUT           how long a revoke or shutdown waits for in-flight records, at most
                             50s (under the group's 60 s rebalance timeout) and at least
                             DELIVERY_ATTEMPT_TIMEOUT + 5s [20s]
  LOG_LEVEL                  debug, info, warn, error [info]
`

// configError marks a misconfiguration: main prints it as one line and exits 2.
type configError struct{ error }

// Config is every setting of the forwarder.
type Config struct {
	Kafka         kafka.Settings
	EventsTopic   string
	DLQTopic      string
	DedupeTopic   string
	Group         string
	SessionTO     time.Duration
	AdminAddr     string
	URL           string
	APIKey        string
	MaxRPS        float64
	Names         []string
	DedupeWindow  time.Duration
	DedupeSize    int
	MaxInFlight   int
	MaxPerPart    int
	MaxRecord     int
	MaxAttempts   int
	Backoff       time.Duration
	MaxBackoff    time.Duration
	Jitter        float64
	AttemptTO     time.Duration
	RetryAfterCap time.Duration
	CircuitWindow time.Duration
	CircuitMin    int
	CircuitRatio  float64
	ProbeInterval time.Duration
	MaxProbe      time.Duration
	CommitEvery   time.Duration
	ShutdownTO    time.Duration
}

func loadConfig(env *config.Env) (Config, error) {
	c := Config{
		Kafka:         kafka.ReadSettings(env),
		EventsTopic:   env.String("EVENTS_TOPIC", kafka.DefaultEventsTopic),
		DLQTopic:      env.String("DLQ_TOPIC", kafka.DefaultDLQTopic),
		DedupeTopic:   env.String("DEDUPE_TOPIC", "events.delivered"),
		Group:         env.String("CONSUMER_GROUP", "adeventsx-forwarder"),
		SessionTO:     env.Duration("CONSUMER_SESSION_TIMEOUT", 45*time.Second, 6*time.Second, 30*time.Minute),
		AdminAddr:     env.Addr("FORWARDER_ADMIN_ADDR", "127.0.0.1:8081"),
		URL:           env.Required("ADEVENTSX_URL"),
		APIKey:        env.Required("ADEVENTSX_API_KEY"),
		MaxRPS:        env.Float("ADEVENTSX_MAX_RPS", 0, 0, 1e6),
		Names:         env.List("EVENT_NAMES", event.DefaultNames),
		DedupeWindow:  env.Duration("DEDUPE_WINDOW", 24*time.Hour, time.Minute, 30*24*time.Hour),
		DedupeSize:    env.Int("DEDUPE_CACHE_SIZE", 2_000_000, 1000, 100_000_000),
		MaxInFlight:   env.Int("MAX_IN_FLIGHT", 2048, 1, 100_000),
		MaxPerPart:    env.Int("MAX_IN_FLIGHT_PER_PARTITION", 512, 1, 100_000),
		MaxRecord:     env.Int("MAX_RECORD_BYTES", deadletter.DefaultMaxRecordBytes, 1024, 100<<20),
		MaxAttempts:   env.Int("DELIVERY_MAX_ATTEMPTS", 4, 1, 100),
		Backoff:       env.Duration("DELIVERY_BACKOFF", time.Second, time.Millisecond, time.Hour),
		MaxBackoff:    env.Duration("DELIVERY_MAX_BACKOFF", 30*time.Second, time.Millisecond, time.Hour),
		Jitter:        env.Float("DELIVERY_JITTER", 0.2, 0, 1),
		AttemptTO:     env.Duration("DELIVERY_ATTEMPT_TIMEOUT", 10*time.Second, time.Millisecond, 5*time.Minute),
		RetryAfterCap: env.Duration("RETRY_AFTER_CAP", time.Minute, 0, time.Hour),
		CircuitWindow: env.Duration("CIRCUIT_WINDOW", 10*time.Second, 100*time.Millisecond, time.Hour),
		CircuitMin:    env.Int("CIRCUIT_MIN_REQUESTS", 5, 1, 10000),
		CircuitRatio:  env.Float("CIRCUIT_FAILURE_RATIO", 0.5, 0.01, 1),
		ProbeInterval: env.Duration("CIRCUIT_PROBE_INTERVAL", time.Second, time.Millisecond, time.Hour),
		MaxProbe:      env.Duration("CIRCUIT_MAX_PROBE_INTERVAL", 30*time.Second, time.Millisecond, time.Hour),
		CommitEvery:   env.Duration("COMMIT_INTERVAL", time.Second, 10*time.Millisecond, time.Minute),
		ShutdownTO:    env.Duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Second, 50*time.Second),
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Fail("ADEVENTSX_URL", "is not an http(s) URL")
		}
	}
	if c.MaxPerPart > c.MaxInFlight {
		c.MaxPerPart = c.MaxInFlight
	}
	if c.MaxBackoff < c.Backoff {
		env.Fail("DELIVERY_MAX_BACKOFF", "%s is shorter than DELIVERY_BACKOFF %s", c.MaxBackoff, c.Backoff)
	}
	if c.ShutdownTO < c.AttemptTO+5*time.Second {
		env.Fail("SHUTDOWN_TIMEOUT", "%s must be at least DELIVERY_ATTEMPT_TIMEOUT (%s) + 5s, so that a revoke lets an attempt under way finish", c.ShutdownTO, c.AttemptTO)
	}
	if c.DLQTopic == c.EventsTopic || c.DedupeTopic == c.EventsTopic || c.DedupeTopic == c.DLQTopic {
		env.Fail("DLQ_TOPIC", "EVENTS_TOPIC, DLQ_TOPIC and DEDUPE_TOPIC must be three different topics")
	}
	if err := env.Err(); err != nil {
		return Config{}, configError{err}
	}
	return c, nil
}

// logAttrs is the configuration for the start-up log line, the key masked.
func (c Config) logAttrs() []any {
	return []any{
		slog.Any("kafka_brokers", c.Kafka.Brokers), "events_topic", c.EventsTopic, "dlq_topic", c.DLQTopic,
		"dedupe_topic", c.DedupeTopic, "consumer_group", c.Group, "admin_addr", c.AdminAddr,
		"adeventsx_url", redactURL(c.URL), "adeventsx_api_key", config.Mask(c.APIKey), "max_rps", c.MaxRPS,
		"dedupe_window", c.DedupeWindow.String(), "max_in_flight", c.MaxInFlight,
		"max_in_flight_per_partition", c.MaxPerPart, "max_attempts", c.MaxAttempts,
		"backoff", c.Backoff.String(), "attempt_timeout", c.AttemptTO.String(),
		"event_names", strings.Join(c.Names, ","), "dedupe_cache_size", c.DedupeSize,
		"max_record_bytes", c.MaxRecord, "max_backoff", c.MaxBackoff.String(), "jitter", c.Jitter,
		"retry_after_cap", c.RetryAfterCap.String(), "circuit_window", c.CircuitWindow.String(),
		"circuit_min_requests", c.CircuitMin, "circuit_failure_ratio", c.CircuitRatio,
		"circuit_probe_interval", c.ProbeInterval.String(), "circuit_max_probe_interval", c.MaxProbe.String(),
		"commit_interval", c.CommitEvery.String(), "shutdown_timeout", c.ShutdownTO.String(),
		"consumer_session_timeout", c.SessionTO.String(), "topic_partitions", c.Kafka.Partitions,
		"topic_replication_factor", c.Kafka.ReplicationFactor,
	}
}

// redactURL hides a password in the URL's user info for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}
