package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated when checking exp, nbf and iat.
const Leeway = 30 * time.Second

// ErrInvalidToken is returned (wrapped) for every token that does not verify.
var ErrInvalidToken = errors.New("invalid token")

// Claims is what a verified token says about its bearer.
type Claims struct {
	ClientID string
	Scopes   []string
	// External is set for a token an external provider issued (ClientID is then
	// ExternalPrefix + its subject): no configured client stands behind it.
	External bool
}

// HasScope reports whether the token grants scope.
func (c Claims) HasScope(scope string) bool {
	return slices.Contains(c.Scopes, scope)
}

// tokenClaims are the JWT's claims: the registered ones and scope (RFC 9068 section 2.2.3),
// space-separated.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
}

// UnmarshalJSON reads the claims strictly: exp, nbf and iat must be JSON numbers (golang-jwt
// also takes a string of digits for them).
func (c *tokenClaims) UnmarshalJSON(data []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(data, &dates); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"nbf", dates.Nbf}, {"iat", dates.Iat}} {
		if len(d.raw) > 0 && string(d.raw) != "null" && !isJSONNumber(d.raw) {
			return fmt.Errorf("%s is not a number", d.name)
		}
	}
	type plain tokenClaims // without this method
	return json.Unmarshal(data, (*plain)(c))
}

func isJSONNumber(raw json.RawMessage) bool {
	return raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9')
}

// maxVerifiedTokens bounds the cache of verified tokens; past it the cache starts over.
const maxVerifiedTokens = 10000

// Tokens signs and verifies access tokens: HS256 JWTs with a kid header, carrying iss, aud, sub
// (the client id), iat, nbf, exp, a random jti and scope.
type Tokens struct {
	keys     *Keys
	issuer   string
	audience string
	ttl      time.Duration
	parser   *jwt.Parser
	// external, when set, verifies the tokens of an outside provider (AcceptExternal).
	external *External

	// verified remembers the tokens that passed, until they expire: a client sends the same
	// token with every request for an hour, and parsing and checking it again each time cost
	// as much as the rest of a request. Keys do not change while the process runs.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	claims    Claims
	expiresAt time.Time
}

// NewTokens returns Tokens signing with keys' signing key and verifying with any of keys.
func NewTokens(keys *Keys, issuer, audience string, ttl time.Duration) *Tokens {
	return &Tokens{
		keys:     keys,
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		verified: make(map[string]verifiedToken),
		parser: jwt.NewParser(
			// Pinning the method is what rejects "none" and every asymmetric algorithm, whose
			// public key could otherwise be confused with our HMAC key.
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			// Base64 with stray bits is refused: one token, one spelling.
			jwt.WithStrictDecoding(),
		),
	}
}

// AcceptExternal makes Verify accept the access tokens e verifies besides our own: a token
// signed with another algorithm than our HS256 goes to e. Call it before serving.
func (t *Tokens) AcceptExternal(e *External) { t.external = e }

// TTL is how long an issued token is valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed token for the client, granting its scopes.
func (t *Tokens) Issue(c Client, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("generate token id: %w", err)
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   c.ID,
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        hex.EncodeToString(jti[:]),
		},
		Scope: strings.Join(c.Scopes, " "),
	}
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	token.Header["kid"] = t.keys.SigningKID()
	signed, err := token.SignedString(t.keys.signing())
	if err != nil {
		return "", fmt.Errorf("sign token for client %s: %w", c.ID, err)
	}
	return signed, nil
}

// Verify checks the token's signature, with the key its kid names, and its claims. The error
// wraps ErrInvalidToken and, where it applies, jwt.ErrTokenExpired; it never contains the token.
func (t *Tokens) Verify(token string) (Claims, error) {
	now := time.Now()
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok && now.Before(v.expiresAt) {
		return v.claims, nil
	}

	verify := t.verify
	if t.external != nil && headerAlg(token) != jwt.SigningMethodHS256.Alg() {
		verify = t.external.verify
	}
	claims, expiresAt, err := verify(token)
	if err != nil {
		return Claims{}, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerifiedTokens {
		clear(t.verified)
	}
	t.verified[token] = verifiedToken{claims: claims, expiresAt: expiresAt}
	t.mu.Unlock()
	return claims, nil
}

// verify parses and checks a token, and returns its claims and when it stops being accepted.
func (t *Tokens) verify(token string) (Claims, time.Time, error) {
	var claims tokenClaims
	_, err := t.parser.ParseWithClaims(token, &claims, t.key)
	if err != nil {
		return Claims{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case claims.Subject == "":
		return Claims{}, time.Time{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	case claims.IssuedAt == nil:
		return Claims{}, time.Time{}, fmt.Errorf("%w: no iat", ErrInvalidToken)
	}
	// The parser required exp; it allows the leeway past it.
	return Claims{ClientID: claims.Subject, Scopes: strings.Fields(claims.Scope)}, claims.ExpiresAt.Add(Leeway), nil
}

// key picks the verification key by the token's kid. The method is already pinned by the parser
// when this runs.
func (t *Tokens) key(token *jwt.Token) (any, error) {
	kid := DefaultKID
	if v, present := token.Header["kid"]; present {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("kid is not a string")
		}
		kid = s
	}
	key, ok := t.keys.lookup(kid)
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return key, nil
}
