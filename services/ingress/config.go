package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/services/ingress/internal/api"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// minJWTSecretBytes is the shortest JWT_SECRET accepted: HS256 wants a key as long as its hash.
const minJWTSecretBytes = auth.MinKeyBytes

// maxClientsFileBytes bounds AUTH_CLIENTS_FILE; a list of clients is small.
const maxClientsFileBytes = 4 << 20

// Config is the ingress's whole configuration, read from the environment.
type Config struct {
	Addr           string
	AdminAddr      string
	MaxConnections int
	Kafka          kafka.Settings
	EventsTopic    string
	Clients        *auth.Clients
	ClientsFile    string
	JWTSecret      string
	Keys           *auth.Keys
	JWTIssuer      string
	JWTAudience    string
	// External is set when the tokens of an outside OpenID Connect provider are accepted too.
	External       *auth.ExternalConfig
	TokenTTL       time.Duration
	EventNames     []string
	ProduceTimeout time.Duration
	MaxBodyBytes   int64
	EventLimit     ratelimit.Limit
	TokenLimit     ratelimit.Limit
	CORSOrigins    []string
	TrustedProxies []string
	LogLevel       slog.Level
}

// usage is what -h prints.
const usage = `ingress: accepts conversion events over HTTP (POST /events, with a token from
POST /auth/token) and writes each to Kafka, answering 202 once Kafka acknowledged it.

Configuration is read from the environment:
  INGRESS_ADDR              listen address (default ":8080")
  INGRESS_ADMIN_ADDR        admin listener: /healthz, /readyz, /metrics, /debug/pprof/ (default "127.0.0.1:8082")
  MAX_CONNECTIONS           connections held open on INGRESS_ADDR; past it the longest idle
                            one is closed, or a newcomer waits (default 4096, about 25 KB each)
  KAFKA_BROKERS             comma-separated host:port bootstrap brokers (default "127.0.0.1:9092")
  TOPIC_PARTITIONS          partitions of a topic created at start (default 6)
  TOPIC_REPLICATION_FACTOR  replication factor of a topic created at start (default 1)
  TOPIC_MIN_INSYNC_REPLICAS min.insync.replicas of a topic created at start (default: the broker's)
  KAFKA_TLS, KAFKA_TLS_CA_FILE, KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE, KAFKA_TLS_SERVER_NAME,
  KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD(_FILE), KAFKA_SASL_OAUTH_*
                            TLS and SASL to the brokers (README, "Connecting to your cluster")
  EVENTS_TOPIC              topic events are written to (default "events.raw")
  AUTH_CLIENTS              API clients as "id:secret,id:secret"; each gets the scope
                            events:write and the default rate limit
  AUTH_CLIENTS_FILE         path of a YAML or JSON clients file with bcrypt-hashed secrets,
                            scopes and rate limits (see README); one of the two is required
  JWT_SECRET                HS256 key, at least 32 bytes, key id "default"
  JWT_KEYS                  HS256 keys as "kid:secret,kid:secret", each at least 32 bytes;
                            JWT_SECRET or JWT_KEYS is required
  JWT_SIGNING_KID           key id new tokens are signed with; required with several keys
  JWT_ISSUER                token issuer, iss (default "eventfwd-ingress")
  JWT_AUDIENCE              token audience, aud (default "eventfwd-events")
  TOKEN_TTL                 token lifetime, 1m..24h (default 1h)
  JWT_JWKS_URL              an OpenID Connect provider's JWK Set (its jwks_uri, https); its
                            access tokens (RS256, ES256 or EdDSA) are accepted besides ours
  JWT_EXTERNAL_ISSUER       the iss those tokens must carry; required with JWT_JWKS_URL
  JWT_EXTERNAL_AUDIENCE     the aud those tokens must carry; required with JWT_JWKS_URL
  JWT_EXTERNAL_SCOPE_CLAIM  the claim holding their scopes (default: scope, else scp)
  JWT_JWKS_REFRESH_INTERVAL how often the keys are fetched again, and the least time between
                            fetches for tokens with an unknown kid, 10s..24h (default 5m)
  EVENT_NAMES               accepted event_name values (default "purchase,lead")
  PRODUCE_TIMEOUT           longest wait for Kafka before answering 503, 100ms..10s (default 5s)
  MAX_BODY_BYTES            largest POST /events body accepted, in bytes (default 1048576);
                            POST /events/batch takes up to 500 events and 1 MiB
  RATE_LIMIT_RPS            a client's sustained event rate, events/s (default 1000)
  RATE_LIMIT_BURST          a client's bucket size in events, at least 500 (default 2000)
  TOKEN_RATE_LIMIT_PER_MIN  POST /auth/token requests per minute per IP, and failed ones
                            per client id (default 10)
  TOKEN_RATE_LIMIT_BURST    their burst (default 10)
  TRUSTED_PROXIES           addresses or CIDRs of the load balancers in front, comma-separated
                            (e.g. "10.0.0.0/8"); the client address is taken from their
                            X-Forwarded-For (or X-Real-IP); none by default: the peer's address
  CORS_ALLOWED_ORIGINS      browser origins allowed to call the API, comma-separated
                            (e.g. "https://dashboard.example.com"); none by default
  LOG_LEVEL                 debug, info, warn or error (default info); the log is JSON on stderr

Commands:
  ingress hash-secret [-cost N]   read a client secret on stdin, print its bcrypt hash
                                  (cost 10..14, default 10) for AUTH_CLIENTS_FILE
`

// loadConfig reads and checks every variable; the error names each bad one.
func loadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Addr:           env.Addr("INGRESS_ADDR", ":8080"),
		AdminAddr:      env.Addr("INGRESS_ADMIN_ADDR", "127.0.0.1:8082"),
		MaxConnections: env.Int("MAX_CONNECTIONS", 4096, 16, 1_000_000),
		Kafka:          kafka.ReadSettings(env),
		EventsTopic:    env.String("EVENTS_TOPIC", kafka.DefaultEventsTopic),
		JWTSecret:      env.String("JWT_SECRET", ""),
		JWTIssuer:      env.String("JWT_ISSUER", "eventfwd-ingress"),
		JWTAudience:    env.String("JWT_AUDIENCE", "eventfwd-events"),
		TokenTTL:       env.Duration("TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour),
		EventNames:     env.List("EVENT_NAMES", event.DefaultNames),
		ProduceTimeout: env.Duration("PRODUCE_TIMEOUT", 5*time.Second, 100*time.Millisecond, 10*time.Second),
		MaxBodyBytes:   int64(env.Int("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20)),
		ClientsFile:    env.String("AUTH_CLIENTS_FILE", ""),
		EventLimit: ratelimit.Limit{
			Rate:  env.Float("RATE_LIMIT_RPS", 1000, 0.001, 1e9),
			Burst: env.Int("RATE_LIMIT_BURST", 2000, api.MaxBatchEvents, 1e9),
		},
		TokenLimit: ratelimit.Limit{
			Rate:  env.Float("TOKEN_RATE_LIMIT_PER_MIN", 10, 0.01, 1e6) / 60,
			Burst: env.Int("TOKEN_RATE_LIMIT_BURST", 10, 1, 1e6),
		},
		CORSOrigins:    readOrigins(env, "CORS_ALLOWED_ORIGINS"),
		TrustedProxies: readProxies(env, "TRUSTED_PROXIES"),
		LogLevel:       env.LogLevel(),
	}
	cfg.External = readExternal(env)
	cfg.Keys = readKeys(env, cfg.JWTSecret)
	cfg.Clients = readClients(env, cfg.ClientsFile)
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// readExternal reads the external OpenID Connect provider, if any: JWT_JWKS_URL with the issuer
// and audience its tokens must carry.
func readExternal(env *config.Env) *auth.ExternalConfig {
	ext := &auth.ExternalConfig{
		JWKSURL:         env.String("JWT_JWKS_URL", ""),
		Issuer:          env.String("JWT_EXTERNAL_ISSUER", ""),
		Audience:        env.String("JWT_EXTERNAL_AUDIENCE", ""),
		ScopeClaim:      env.String("JWT_EXTERNAL_SCOPE_CLAIM", ""),
		RefreshInterval: env.Duration("JWT_JWKS_REFRESH_INTERVAL", 5*time.Minute, 10*time.Second, 24*time.Hour),
	}
	if ext.JWKSURL == "" {
		for _, name := range []string{"JWT_EXTERNAL_ISSUER", "JWT_EXTERNAL_AUDIENCE", "JWT_EXTERNAL_SCOPE_CLAIM"} {
			if env.String(name, "") != "" {
				env.Fail(name, "is set without JWT_JWKS_URL")
			}
		}
		return nil
	}
	u, err := url.Parse(ext.JWKSURL)
	loopback := false
	if err == nil {
		ip, _ := netip.ParseAddr(u.Hostname())
		loopback = u.Hostname() == "localhost" || ip.IsLoopback()
	}
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback) {
		env.Fail("JWT_JWKS_URL", "%q is not an https URL (http only to a loopback address)", ext.JWKSURL)
	}
	if ext.Issuer == "" {
		env.Fail("JWT_EXTERNAL_ISSUER", "is required with JWT_JWKS_URL")
	}
	if ext.Audience == "" {
		env.Fail("JWT_EXTERNAL_AUDIENCE", "is required with JWT_JWKS_URL")
	}
	return ext
}

// readKeys builds the signing and verification keys from JWT_SECRET (key id "default"),
// JWT_KEYS and JWT_SIGNING_KID.
func readKeys(env *config.Env, secret string) *auth.Keys {
	keys := map[string][]byte{}
	if list := env.String("JWT_KEYS", ""); list != "" {
		parsed, err := auth.ParseKeys(list)
		if err != nil {
			env.Fail("JWT_KEYS", "%v", err)
			return nil
		}
		keys = parsed
	}
	if secret != "" {
		if len(secret) < minJWTSecretBytes {
			env.Fail("JWT_SECRET", "must be at least %d bytes, is %d", minJWTSecretBytes, len(secret))
			return nil
		}
		if _, dup := keys[auth.DefaultKID]; dup {
			env.Fail("JWT_KEYS", "key id %q is JWT_SECRET's; give the key another id", auth.DefaultKID)
			return nil
		}
		keys[auth.DefaultKID] = []byte(secret)
	}
	if len(keys) == 0 {
		env.Fail("JWT_SECRET", "is required (or JWT_KEYS)")
		return nil
	}
	signing := env.String("JWT_SIGNING_KID", "")
	if signing == "" {
		if len(keys) > 1 {
			env.Fail("JWT_SIGNING_KID", "is required when there are several keys")
			return nil
		}
		for kid := range keys {
			signing = kid
		}
	}
	k, err := auth.NewKeys(keys, signing)
	if err != nil {
		name := "JWT_KEYS"
		if _, ok := keys[signing]; !ok {
			name = "JWT_SIGNING_KID"
		}
		env.Fail(name, "%v", err)
		return nil
	}
	return k
}

// readClients builds the API clients from AUTH_CLIENTS and AUTH_CLIENTS_FILE.
func readClients(env *config.Env, file string) *auth.Clients {
	var sets []*auth.Clients
	if list := env.String("AUTH_CLIENTS", ""); list != "" {
		parsed, err := auth.ParseClients(list)
		if err != nil {
			env.Fail("AUTH_CLIENTS", "%v", err)
			return nil
		}
		sets = append(sets, parsed)
	}
	if file != "" {
		parsed, err := readClientsFile(file)
		if err != nil {
			env.Fail("AUTH_CLIENTS_FILE", "%s: %v", file, err)
			return nil
		}
		sets = append(sets, parsed)
	}
	if len(sets) == 0 {
		env.Fail("AUTH_CLIENTS", "is required (or AUTH_CLIENTS_FILE)")
		return nil
	}
	clients, err := auth.Join(sets...)
	if err != nil {
		env.Fail("AUTH_CLIENTS_FILE", "%v (in AUTH_CLIENTS too)", err)
		return nil
	}
	return clients
}

func readClientsFile(path string) (*auth.Clients, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open it: %w", err)
	}
	defer f.Close()
	data := make([]byte, maxClientsFileBytes+1)
	n, err := io.ReadFull(f, data)
	switch {
	case n > maxClientsFileBytes:
		return nil, fmt.Errorf("larger than %d bytes", maxClientsFileBytes)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("cannot read it: %w", err)
	}
	clients, err := auth.ParseClientsFile(data[:n])
	if err != nil {
		return nil, err
	}
	for _, id := range clients.IDs() {
		c, _ := clients.Lookup(id)
		if c.Limit != nil && c.Limit.Burst < api.MaxBatchEvents {
			return nil, fmt.Errorf("client %q: rate_limit burst must be at least %d, a full batch", id, api.MaxBatchEvents)
		}
	}
	return clients, nil
}

// readOrigins reads the CORS origins: each scheme://host[:port], nothing more.
func readOrigins(env *config.Env, name string) []string {
	origins := env.List(name, nil)
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			env.Fail(name, "%q is not an origin such as https://dashboard.example.com", o)
		}
	}
	return origins
}

// readProxies reads the trusted proxies: each an IP address or a CIDR.
func readProxies(env *config.Env, name string) []string {
	proxies := env.List(name, nil)
	for _, p := range proxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			env.Fail(name, "%q is not an IP address or CIDR", p)
		}
	}
	return proxies
}

// externalLog shows the external provider's settings, or "none".
func externalLog(e *auth.ExternalConfig) slog.Value {
	if e == nil {
		return slog.StringValue("none")
	}
	return slog.GroupValue(
		slog.String("jwks_url", e.JWKSURL),
		slog.String("issuer", e.Issuer),
		slog.String("audience", e.Audience),
		slog.String("scope_claim", e.ScopeClaim),
		slog.String("refresh_interval", e.RefreshInterval.String()),
	)
}

// LogValue shows the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("admin_addr", c.AdminAddr),
		slog.Int("max_connections", c.MaxConnections),
		slog.String("kafka_brokers", strings.Join(c.Kafka.Brokers, ",")),
		slog.Int("topic_partitions", int(c.Kafka.Partitions)),
		slog.Int("topic_replication_factor", int(c.Kafka.ReplicationFactor)),
		slog.String("events_topic", c.EventsTopic),
		slog.String("auth_clients", fmt.Sprintf("%s (secrets not shown)", strings.Join(c.Clients.IDs(), ","))),
		slog.String("auth_clients_file", c.ClientsFile),
		slog.String("jwt_secret", config.Mask(c.JWTSecret)),
		slog.String("jwt_kids", strings.Join(c.Keys.KIDs(), ",")),
		slog.String("jwt_signing_kid", c.Keys.SigningKID()),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_audience", c.JWTAudience),
		slog.String("token_ttl", c.TokenTTL.String()),
		slog.Any("external", externalLog(c.External)),
		slog.String("event_names", strings.Join(c.EventNames, ",")),
		slog.String("produce_timeout", c.ProduceTimeout.String()),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Float64("rate_limit_rps", c.EventLimit.Rate),
		slog.Int("rate_limit_burst", c.EventLimit.Burst),
		slog.Float64("token_rate_limit_per_min", c.TokenLimit.Rate*60),
		slog.Int("token_rate_limit_burst", c.TokenLimit.Burst),
		slog.String("cors_allowed_origins", strings.Join(c.CORSOrigins, ",")),
		slog.String("trusted_proxies", strings.Join(c.TrustedProxies, ",")),
		slog.String("log_level", strings.ToLower(c.LogLevel.String())),
	)
}
