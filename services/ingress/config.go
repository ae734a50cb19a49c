package main

import (
	"errors"
	"fmt"
	"io"
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
	Log            config.Logging
}

const about = `ingress: accepts conversion events over HTTP (POST /events, with a token from
POST /auth/token) and writes each to Kafka, answering 202 once Kafka acknowledged it.

Commands:
  ingress hash-secret [-cost N]   read a client secret on stdin, print its bcrypt hash
                                  (cost 10..14, default 10) for AUTH_CLIENTS_FILE`

// The ingress's own settings; README.md's Configuration section lists them with the shared ones
// (config_test.go checks).
var (
	addrVar      = config.Addr("INGRESS_ADDR", ":8080", "listen address")
	adminAddrVar = config.Addr("INGRESS_ADMIN_ADDR", "127.0.0.1:8082", "admin listener: /healthz, /readyz, /metrics, /debug/pprof/")
	maxConnsVar  = config.Int("MAX_CONNECTIONS", 4096, 16, 1_000_000,
		"connections held open on INGRESS_ADDR; past it the longest idle one is closed, or a newcomer waits (about 22 KB each)")
	clientsVar = config.String("AUTH_CLIENTS", "", `API clients as "id:secret,id:secret"; each gets the scope events:write and the default rate limit`).
			Secret().Show(clientIDs)
	clientsFileVar = config.String("AUTH_CLIENTS_FILE", "",
		"path of a YAML or JSON clients file with bcrypt-hashed secrets, scopes and rate limits (see README); AUTH_CLIENTS or AUTH_CLIENTS_FILE is required")
	jwtSecretVar = config.String("JWT_SECRET", "", `HS256 key, at least 32 bytes, key id "default"`).Secret()
	jwtKeysVar   = config.String("JWT_KEYS", "", `HS256 keys as "kid:secret,kid:secret", each at least 32 bytes; JWT_SECRET or JWT_KEYS is required`).
			Secret().Show(clientIDs)
	signingKIDVar = config.String("JWT_SIGNING_KID", "", "key id new tokens are signed with; required with several keys")
	issuerVar     = config.String("JWT_ISSUER", "eventfwd-ingress", "token issuer, iss")
	audienceVar   = config.String("JWT_AUDIENCE", "eventfwd-events", "token audience, aud")
	tokenTTLVar   = config.Duration("TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour, "token lifetime")
	jwksURLVar    = config.String("JWT_JWKS_URL", "",
		"an OpenID Connect provider's JWK Set (its jwks_uri, https); its access tokens (RS256, ES256 or EdDSA) are accepted besides ours").
		Check(jwksURL)
	extIssuerVar     = config.String("JWT_EXTERNAL_ISSUER", "", "the iss those tokens must carry; required with JWT_JWKS_URL")
	extAudienceVar   = config.String("JWT_EXTERNAL_AUDIENCE", "", "the aud those tokens must carry; required with JWT_JWKS_URL")
	extScopeClaimVar = config.String("JWT_EXTERNAL_SCOPE_CLAIM", "", "the claim holding their scopes (unset: scope, else scp)")
	jwksRefreshVar   = config.Duration("JWT_JWKS_REFRESH_INTERVAL", 5*time.Minute, 10*time.Second, 24*time.Hour,
		"how often the keys are fetched again, and the least time between fetches for tokens with an unknown kid")
	produceTimeoutVar = config.Duration("PRODUCE_TIMEOUT", 5*time.Second, 100*time.Millisecond, 10*time.Second, "longest wait for Kafka before answering 503")
	maxBodyVar        = config.Int("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20, "largest POST /events body accepted, in bytes; POST /events/batch takes up to 500 events and 1 MiB")
	rateVar           = config.Float("RATE_LIMIT_RPS", 1000, 0.001, 1e9, "a client's sustained event rate, events/s")
	burstVar          = config.Int("RATE_LIMIT_BURST", 2000, api.MaxBatchEvents, 1e9, "a client's bucket size in events, at least a full batch")
	tokenRateVar      = config.Float("TOKEN_RATE_LIMIT_PER_MIN", 10, 0.01, 1e6, "POST /auth/token requests per minute per IP, and failed ones per client id")
	tokenBurstVar     = config.Int("TOKEN_RATE_LIMIT_BURST", 10, 1, 1e6, "their burst")
	originsVar        = config.List("CORS_ALLOWED_ORIGINS", nil, `browser origins allowed to call the API, comma-separated (e.g. "https://dashboard.example.com"); none by default`).
				Check(checkOrigins)
	proxiesVar = config.List("TRUSTED_PROXIES", nil,
		`addresses or CIDRs of the load balancers in front, comma-separated (e.g. "10.0.0.0/8"); the client address is taken from their X-Forwarded-For (or X-Real-IP); none by default: the peer's address`).
		Check(checkProxies)
)

// settings are every variable the ingress reads, in the order -h lists them.
var settings = config.NewSet("ingress", about, addrVar, adminAddrVar, maxConnsVar).Add(kafka.Vars...).Add(kafka.EventsTopicVar,
	clientsVar, clientsFileVar, jwtSecretVar, jwtKeysVar, signingKIDVar, issuerVar, audienceVar, tokenTTLVar,
	jwksURLVar, extIssuerVar, extAudienceVar, extScopeClaimVar, jwksRefreshVar,
	event.NamesVar, produceTimeoutVar, maxBodyVar, rateVar, burstVar, tokenRateVar, tokenBurstVar, proxiesVar, originsVar,
	config.LogLevelVar, config.LogFormatVar)

// loadConfig reads and checks every variable; the error names each bad one.
func loadConfig(env *config.Env) (Config, error) {
	cfg := Config{
		Addr:           addrVar.Read(env),
		AdminAddr:      adminAddrVar.Read(env),
		MaxConnections: maxConnsVar.Read(env),
		Kafka:          kafka.ReadSettings(env),
		EventsTopic:    kafka.EventsTopicVar.Read(env),
		JWTSecret:      jwtSecretVar.Read(env),
		JWTIssuer:      issuerVar.Read(env),
		JWTAudience:    audienceVar.Read(env),
		TokenTTL:       tokenTTLVar.Read(env),
		EventNames:     event.NamesVar.Read(env),
		ProduceTimeout: produceTimeoutVar.Read(env),
		MaxBodyBytes:   int64(maxBodyVar.Read(env)),
		ClientsFile:    clientsFileVar.Read(env),
		EventLimit:     ratelimit.Limit{Rate: rateVar.Read(env), Burst: burstVar.Read(env)},
		TokenLimit:     ratelimit.Limit{Rate: tokenRateVar.Read(env) / 60, Burst: tokenBurstVar.Read(env)},
		CORSOrigins:    originsVar.Read(env),
		TrustedProxies: proxiesVar.Read(env),
		Log:            config.ReadLogging(env),
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
		JWKSURL:         jwksURLVar.Read(env),
		Issuer:          extIssuerVar.Read(env),
		Audience:        extAudienceVar.Read(env),
		ScopeClaim:      extScopeClaimVar.Read(env),
		RefreshInterval: jwksRefreshVar.Read(env),
	}
	if ext.JWKSURL == "" {
		for _, v := range []struct {
			name, value string
		}{{extIssuerVar.Name(), ext.Issuer}, {extAudienceVar.Name(), ext.Audience}, {extScopeClaimVar.Name(), ext.ScopeClaim}} {
			if v.value != "" {
				env.Fail(v.name, "is set without JWT_JWKS_URL")
			}
		}
		return nil
	}
	if ext.Issuer == "" {
		env.Fail(extIssuerVar.Name(), "is required with JWT_JWKS_URL")
	}
	if ext.Audience == "" {
		env.Fail(extAudienceVar.Name(), "is required with JWT_JWKS_URL")
	}
	return ext
}

// jwksURL accepts an https URL, or an http one to a loopback address.
func jwksURL(raw string) error {
	u, err := url.Parse(raw)
	loopback := false
	if err == nil {
		ip, _ := netip.ParseAddr(u.Hostname())
		loopback = u.Hostname() == "localhost" || ip.IsLoopback()
	}
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback) {
		return fmt.Errorf("%q is not an https URL (http only to a loopback address)", raw)
	}
	return nil
}

// checkProxies accepts trusted proxies: each an IP address or a CIDR.
func checkProxies(proxies []string) error {
	var bad []string
	for _, p := range proxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			bad = append(bad, fmt.Sprintf("%q is not an IP address or CIDR", p))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// clientIDs shows a "name:secret,name:secret" list in the start log by its names alone.
func clientIDs(list string) string {
	if list == "" {
		return "(unset)"
	}
	var names []string
	for _, entry := range strings.Split(list, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(entry), ":")
		names = append(names, name)
	}
	return strings.Join(names, ",") + " (secrets not shown)"
}

// readKeys builds the signing and verification keys from JWT_SECRET (key id "default"),
// JWT_KEYS and JWT_SIGNING_KID.
func readKeys(env *config.Env, secret string) *auth.Keys {
	keys := map[string][]byte{}
	if list := jwtKeysVar.Read(env); list != "" {
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
	signing := signingKIDVar.Read(env)
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
	if list := clientsVar.Read(env); list != "" {
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
	data, err := io.ReadAll(io.LimitReader(f, maxClientsFileBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read it: %w", err)
	case len(data) > maxClientsFileBytes:
		return nil, fmt.Errorf("larger than %d bytes", maxClientsFileBytes)
	}
	clients, err := auth.ParseClientsFile(data)
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

// checkOrigins accepts CORS origins: each scheme://host[:port], nothing more.
func checkOrigins(origins []string) error {
	var bad []string
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad = append(bad, fmt.Sprintf("%q is not an origin such as https://dashboard.example.com", o))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}
