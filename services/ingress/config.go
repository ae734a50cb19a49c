package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
)

// minJWTSecretBytes is the shortest JWT_SECRET accepted: HS256 wants a key as long as its hash.
const minJWTSecretBytes = 32

// Config is the ingress's whole configuration, read from the environment.
type Config struct {
	Addr           string
	Kafka          kafka.Settings
	EventsTopic    string
	Clients        *auth.Clients
	JWTSecret      string
	JWTIssuer      string
	JWTAudience    string
	TokenTTL       time.Duration
	EventNames     []string
	ProduceTimeout time.Duration
	MaxBodyBytes   int64
}

// usage is what -h prints.
const usage = `ingress: accepts conversion events over HTTP (POST /events, with a token from
POST /auth/token) and writes each to Kafka, answering 202 once Kafka acknowledged it.

Configuration is read from the environment:
  INGRESS_ADDR              listen address (default ":8080")
  KAFKA_BROKERS             comma-separated host:port bootstrap brokers (default "127.0.0.1:9092")
  TOPIC_PARTITIONS          partitions of a topic created at start (default 6)
  TOPIC_REPLICATION_FACTOR  replication factor of a topic created at start (default 1)
  EVENTS_TOPIC              topic events are written to (default "events.raw")
  AUTH_CLIENTS              required; API clients as "id:secret,id:secret"
  JWT_SECRET                required; HS256 signing key, at least 32 bytes
  JWT_ISSUER                token issuer, iss (default "eventfwd-ingress")
  JWT_AUDIENCE              token audience, aud (default "eventfwd-events")
  TOKEN_TTL                 token lifetime, 1m..24h (default 1h)
  EVENT_NAMES               accepted event_name values (default "purchase,lead")
  PRODUCE_TIMEOUT           longest wait for Kafka before answering 503, 100ms..10s (default 5s)
  MAX_BODY_BYTES            largest event body accepted, in bytes (default 1048576)
`

// loadConfig reads and checks every variable; the error names each bad one.
func loadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Addr:           env.Addr("INGRESS_ADDR", ":8080"),
		Kafka:          kafka.ReadSettings(env),
		EventsTopic:    env.String("EVENTS_TOPIC", kafka.DefaultEventsTopic),
		JWTSecret:      env.Required("JWT_SECRET"),
		JWTIssuer:      env.String("JWT_ISSUER", "eventfwd-ingress"),
		JWTAudience:    env.String("JWT_AUDIENCE", "eventfwd-events"),
		TokenTTL:       env.Duration("TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour),
		EventNames:     env.List("EVENT_NAMES", event.DefaultNames),
		ProduceTimeout: env.Duration("PRODUCE_TIMEOUT", 5*time.Second, 100*time.Millisecond, 10*time.Second),
		MaxBodyBytes:   int64(env.Int("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20)),
	}
	if cfg.JWTSecret != "" && len(cfg.JWTSecret) < minJWTSecretBytes {
		env.Fail("JWT_SECRET", "must be at least %d bytes, is %d", minJWTSecretBytes, len(cfg.JWTSecret))
	}
	if clients := env.Required("AUTH_CLIENTS"); clients != "" {
		parsed, err := auth.ParseClients(clients)
		if err != nil {
			env.Fail("AUTH_CLIENTS", "%v", err)
		}
		cfg.Clients = parsed
	}
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LogValue shows the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("kafka_brokers", strings.Join(c.Kafka.Brokers, ",")),
		slog.Int("topic_partitions", int(c.Kafka.Partitions)),
		slog.Int("topic_replication_factor", int(c.Kafka.ReplicationFactor)),
		slog.String("events_topic", c.EventsTopic),
		slog.String("auth_clients", fmt.Sprintf("%s (secrets not shown)", strings.Join(c.Clients.IDs(), ","))),
		slog.String("jwt_secret", config.Mask(c.JWTSecret)),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_audience", c.JWTAudience),
		slog.Duration("token_ttl", c.TokenTTL),
		slog.String("event_names", strings.Join(c.EventNames, ",")),
		slog.Duration("produce_timeout", c.ProduceTimeout),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
	)
}
