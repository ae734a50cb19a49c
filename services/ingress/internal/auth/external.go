package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ExternalPrefix starts the client id of a bearer whose token an external provider issued, so
// that an IdP user never shares a rate-limit bucket, nor a log name, with a configured client.
const ExternalPrefix = "external:"

// externalMethods are the algorithms accepted from an external provider: asymmetric only, so
// that a public key can never serve as an HMAC secret.
var externalMethods = []string{"RS256", "ES256", "EdDSA"}

// jwksTimeout bounds one fetch of the provider's JWK Set.
const jwksTimeout = 10 * time.Second

// ExternalConfig says which outside OpenID Connect provider's access tokens to accept.
type ExternalConfig struct {
	// JWKSURL is where the provider publishes its signing keys (its jwks_uri).
	JWKSURL string
	// Issuer and Audience are what iss and aud must be.
	Issuer, Audience string
	// ScopeClaim names the claim holding the granted scopes; "" means scope, else scp.
	ScopeClaim string
	// RefreshInterval is how often the keys are fetched again, and the least time between two
	// fetches caused by tokens signed with a key id the set does not hold.
	RefreshInterval time.Duration
	Log             *slog.Logger
}

// External verifies access tokens issued by an outside OpenID Connect provider (a company IdP a
// browser dashboard signs in with, having no client secret to keep). Keys come from the
// provider's JWK Set, cached and refreshed by keyfunc/jwkset; the checks are those of our own
// tokens: a pinned set of algorithms, iss, aud, exp required, nbf and iat when present, with
// Leeway.
type External struct {
	keys       keyfunc.Keyfunc
	parser     *jwt.Parser
	scopeClaim string
}

// NewExternal starts fetching the provider's keys; ctx ends the refreshing. A provider that does
// not answer at start is logged, not fatal: our own tokens keep working, and the keys are
// fetched again on the next refresh or unknown key id.
func NewExternal(ctx context.Context, cfg ExternalConfig) (*External, error) {
	log := cfg.Log
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:          &http.Client{Timeout: jwksTimeout},
		HTTPTimeout:     jwksTimeout,
		RefreshInterval: cfg.RefreshInterval,
		// A token with a key id the set lacks makes it fetched again, at most once per interval;
		// meanwhile such tokens are refused at once rather than queued.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.RefreshInterval), 1),
		RateLimitWaitMax:  jwksTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.ErrorContext(ctx, "fetch external JWK Set", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("external JWK Set %s: %w", cfg.JWKSURL, err)
	}
	return &External{
		keys:       keys,
		scopeClaim: cfg.ScopeClaim,
		parser: jwt.NewParser(
			jwt.WithValidMethods(externalMethods),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithStrictDecoding(),
			jwt.WithJSONNumber(),
		),
	}, nil
}

// verify parses and checks an external token, and returns its claims and when it stops being
// accepted. MapClaims takes exp, nbf and iat only as JSON numbers.
func (e *External) verify(token string) (Claims, time.Time, error) {
	claims := jwt.MapClaims{}
	if _, err := e.parser.ParseWithClaims(token, claims, e.keys.Keyfunc); err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: external: %w", ErrInvalidToken, err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Claims{}, time.Time{}, fmt.Errorf("%w: external: no subject", ErrInvalidToken)
	}
	scopes, err := e.scopes(claims)
	if err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: external: %w", ErrInvalidToken, err)
	}
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	return Claims{ClientID: ExternalPrefix + sub, Scopes: scopes, External: true}, exp.Add(Leeway), nil
}

// scopes reads the granted scopes: a space-separated string (RFC 9068 "scope") or an array of
// strings (the "scp" of several providers).
func (e *External) scopes(claims jwt.MapClaims) ([]string, error) {
	name := e.scopeClaim
	if name == "" {
		name = "scope"
		if _, ok := claims[name]; !ok {
			name = "scp"
		}
	}
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("%s is not a list of strings", name)
			}
			out = append(out, str)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s is neither a string nor a list of strings", name)
	}
}

// headerAlg returns the alg of a token's header, or "" when it cannot be read; it only routes
// a token to its verifier, which checks everything again.
func headerAlg(token string) string {
	header, _, found := strings.Cut(token, ".")
	if !found || len(header) > maxTokenBytes {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}
