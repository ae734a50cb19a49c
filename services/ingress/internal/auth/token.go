package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated when checking exp and iat.
const Leeway = 30 * time.Second

// ErrInvalidToken is returned (wrapped) for every token that does not verify.
var ErrInvalidToken = errors.New("invalid token")

// Tokens signs and verifies access tokens: HS256 JWTs carrying iss, aud, sub (the client id),
// iat, exp and a random jti.
type Tokens struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	parser   *jwt.Parser
}

// NewTokens returns Tokens signing with key. The key must be at least 32 bytes; the
// configuration checks that before.
func NewTokens(key []byte, issuer, audience string, ttl time.Duration) *Tokens {
	return &Tokens{
		key:      key,
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		parser: jwt.NewParser(
			// Pinning the method is what rejects "none" and every asymmetric algorithm, whose
			// public key could otherwise be confused with our HMAC key.
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		),
	}
}

// TTL is how long an issued token is valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed token for the client.
func (t *Tokens) Issue(clientID string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("generate token id: %w", err)
	}
	claims := jwt.RegisteredClaims{
		Issuer:    t.issuer,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{t.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		ID:        hex.EncodeToString(jti[:]),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("sign token for client %s: %w", clientID, err)
	}
	return signed, nil
}

// Verify checks the token's signature and claims and returns the client id it was issued to.
// The error wraps ErrInvalidToken and, where it applies, jwt.ErrTokenExpired; it never contains
// the token.
func (t *Tokens) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return claims.Subject, nil
}
