package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "eventfwd-ingress"
	testAudience = "eventfwd-events"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newTestTokens() *Tokens {
	return NewTokens(testKey, testIssuer, testAudience, time.Hour)
}

// claims are valid claims for client "web", issued now.
func claims() jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{
		Issuer:    testIssuer,
		Subject:   "web",
		Audience:  jwt.ClaimStrings{testAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		ID:        "test",
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign test token: %v", err)
	}
	return s
}

func withClaims(edit func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
	c := claims()
	edit(&c)
	return c
}

// tamper flips one character of the signature.
func tamper(token string) string {
	last := token[len(token)-2]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return token[:len(token)-2] + string(repl) + token[len(token)-1:]
}

func TestTokensIssueVerify(t *testing.T) {
	tokens := newTestTokens()
	token, err := tokens.Issue("web", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tokens.Verify(token)
	if err != nil || sub != "web" {
		t.Fatalf("Verify(issued) = %q, %v; want web, nil", sub, err)
	}

	parsed, _, err := jwt.NewParser().ParseUnverified(token, &jwt.RegisteredClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(*jwt.RegisteredClaims)
	if parsed.Method.Alg() != "HS256" || c.Issuer != testIssuer || !slicesEqual(c.Audience, []string{testAudience}) ||
		c.ID == "" || c.IssuedAt == nil || c.ExpiresAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
		t.Errorf("issued token has alg %s and claims %+v", parsed.Method.Alg(), c)
	}

	other, err := tokens.Issue("web", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if other == token {
		t.Error("two tokens issued in a row are equal; jti should differ")
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestTokensVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tokens := newTestTokens()
	valid := sign(t, jwt.SigningMethodHS256, testKey, claims())

	tests := []struct {
		name        string
		give        string
		wantSub     string
		wantExpired bool
		wantErr     bool
	}{
		{name: "valid", give: valid, wantSub: "web"},
		{name: "issued by Issue long ago, within ttl", give: mustIssue(t, tokens, time.Now().Add(-59*time.Minute)), wantSub: "web"},
		{name: "alg none", give: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()), wantErr: true},
		{name: "HS384 with the right key", give: sign(t, jwt.SigningMethodHS384, testKey, claims()), wantErr: true},
		{name: "HS512 with the right key", give: sign(t, jwt.SigningMethodHS512, testKey, claims()), wantErr: true},
		{name: "RS256", give: sign(t, jwt.SigningMethodRS256, rsaKey, claims()), wantErr: true},
		{name: "HS256 with another key", give: sign(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), claims()), wantErr: true},
		{name: "tampered signature", give: tamper(valid), wantErr: true},
		{name: "tampered claims", give: swapClaims(valid, sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Subject = "admin" }))), wantErr: true},
		{name: "wrong issuer", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Issuer = "someone-else" })), wantErr: true},
		{name: "no issuer", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Issuer = "" })), wantErr: true},
		{name: "wrong audience", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} })), wantErr: true},
		{name: "no audience", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Audience = nil })), wantErr: true},
		{name: "expired", give: mustIssue(t, tokens, time.Now().Add(-2*time.Hour)), wantExpired: true, wantErr: true},
		{name: "expired within leeway", give: mustIssue(t, tokens, time.Now().Add(-time.Hour-Leeway/2)), wantSub: "web"},
		{name: "missing exp", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), wantErr: true},
		{name: "issued in the future", give: mustIssue(t, tokens, time.Now().Add(5*time.Minute)), wantErr: true},
		{name: "no subject", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *jwt.RegisteredClaims) { c.Subject = "" })), wantErr: true},
		{name: "garbage", give: "not.a.token", wantErr: true},
		{name: "empty", give: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := tokens.Verify(tt.give)
			if sub != tt.wantSub {
				t.Errorf("Verify() sub = %q, want %q", sub, tt.wantSub)
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Verify() error = %v, want error: %v", err, tt.wantErr)
			}
			if gotInvalid := errors.Is(err, ErrInvalidToken); gotInvalid != tt.wantErr {
				t.Errorf("errors.Is(%v, ErrInvalidToken) = %v, want %v", err, gotInvalid, tt.wantErr)
			}
			if gotExpired := errors.Is(err, jwt.ErrTokenExpired); gotExpired != tt.wantExpired {
				t.Errorf("errors.Is(%v, jwt.ErrTokenExpired) = %v, want %v", err, gotExpired, tt.wantExpired)
			}
		})
	}
}

func mustIssue(t *testing.T, tokens *Tokens, at time.Time) string {
	t.Helper()
	s, err := tokens.Issue("web", at)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// swapClaims returns token's header and signature around other's claims.
func swapClaims(token, other string) string {
	a := strings.Split(token, ".")
	b := strings.Split(other, ".")
	return a[0] + "." + b[1] + "." + a[2]
}
