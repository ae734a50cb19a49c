package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "eventfwd-ingress"
	testAudience = "eventfwd-events"
)

var (
	testKey    = []byte("0123456789abcdef0123456789abcdef")
	oldTestKey = []byte("an-older-key-an-older-key-older!")
	webClient  = Client{ID: "web", Scopes: []string{ScopeEventsWrite}}
)

// newTestTokens signs with kid "k2" (testKey) and still verifies "k1" (oldTestKey).
func newTestTokens() *Tokens {
	keys, err := NewKeys(map[string][]byte{"k1": oldTestKey, "k2": testKey}, "k2")
	if err != nil {
		panic(err)
	}
	return NewTokens(keys, testIssuer, testAudience, time.Hour)
}

// claims are valid claims for client "web", issued now.
func claims() tokenClaims {
	now := time.Now()
	return tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "web",
			Audience:  jwt.ClaimStrings{testAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			ID:        "test",
		},
		Scope: ScopeEventsWrite,
	}
}

// sign signs c with key under kid "k2", the signing key's id.
func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	return signKID(t, method, key, "k2", c)
}

// signKID signs c with key; kid "" leaves the header out.
func signKID(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, c)
	if kid != "" {
		token.Header["kid"] = kid
	}
	s, err := token.SignedString(key)
	if err != nil {
		t.Fatalf("sign test token: %v", err)
	}
	return s
}

func withClaims(edit func(*tokenClaims)) tokenClaims {
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
	token, err := tokens.Issue(webClient, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.Verify(token)
	if err != nil || got.ClientID != "web" || !got.HasScope(ScopeEventsWrite) {
		t.Fatalf("Verify(issued) = %+v, %v; want web with events:write, nil", got, err)
	}

	parsed, _, err := jwt.NewParser().ParseUnverified(token, &tokenClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(*tokenClaims)
	if parsed.Method.Alg() != "HS256" || parsed.Header["kid"] != "k2" || c.Issuer != testIssuer ||
		!slicesEqual(c.Audience, []string{testAudience}) || c.Scope != ScopeEventsWrite || c.ID == "" ||
		c.IssuedAt == nil || c.NotBefore == nil || c.ExpiresAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
		t.Errorf("issued token has header %v and claims %+v", parsed.Header, c)
	}

	other, err := tokens.Issue(webClient, time.Now())
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
		{name: "old key still listed", give: signKID(t, jwt.SigningMethodHS256, oldTestKey, "k1", claims()), wantSub: "web"},
		{name: "old key under the new kid", give: signKID(t, jwt.SigningMethodHS256, oldTestKey, "k2", claims()), wantErr: true},
		{name: "unknown kid", give: signKID(t, jwt.SigningMethodHS256, testKey, "k3", claims()), wantErr: true},
		{name: "no kid and no default key", give: signKID(t, jwt.SigningMethodHS256, testKey, "", claims()), wantErr: true},
		{name: "kid not a string", give: signKIDValue(t, 2, claims()), wantErr: true},
		{name: "issued by Issue long ago, within ttl", give: mustIssue(t, tokens, time.Now().Add(-59*time.Minute)), wantSub: "web"},
		{name: "alg none", give: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()), wantErr: true},
		{name: "HS384 with the right key", give: sign(t, jwt.SigningMethodHS384, testKey, claims()), wantErr: true},
		{name: "HS512 with the right key", give: sign(t, jwt.SigningMethodHS512, testKey, claims()), wantErr: true},
		{name: "RS256", give: sign(t, jwt.SigningMethodRS256, rsaKey, claims()), wantErr: true},
		{name: "HS256 with another key", give: sign(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), claims()), wantErr: true},
		{name: "tampered signature", give: tamper(valid), wantErr: true},
		{name: "tampered claims", give: swapClaims(valid, sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Subject = "admin" }))), wantErr: true},
		{name: "wrong issuer", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Issuer = "someone-else" })), wantErr: true},
		{name: "no issuer", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Issuer = "" })), wantErr: true},
		{name: "wrong audience", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Audience = jwt.ClaimStrings{"other"} })), wantErr: true},
		{name: "no audience", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Audience = nil })), wantErr: true},
		{name: "expired", give: mustIssue(t, tokens, time.Now().Add(-2*time.Hour)), wantExpired: true, wantErr: true},
		{name: "expired within leeway", give: mustIssue(t, tokens, time.Now().Add(-time.Hour-Leeway/2)), wantSub: "web"},
		{name: "missing exp", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.ExpiresAt = nil })), wantErr: true},
		{name: "issued in the future", give: mustIssue(t, tokens, time.Now().Add(5*time.Minute)), wantErr: true},
		{name: "not valid yet", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(5 * time.Minute)) })), wantErr: true},
		{name: "nbf within leeway", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(Leeway / 2)) })), wantSub: "web"},
		{name: "missing nbf", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.NotBefore = nil })), wantErr: true},
		{name: "missing iat", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.IssuedAt = nil })), wantErr: true},
		{name: "no subject", give: sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Subject = "" })), wantErr: true},
		{name: "exp a string", give: signMap(t, map[string]any{"exp": fmt.Sprint(time.Now().Add(time.Hour).Unix())}), wantErr: true},
		{name: "nbf a string", give: signMap(t, map[string]any{"nbf": fmt.Sprint(time.Now().Unix())}), wantErr: true},
		{name: "iat a string", give: signMap(t, map[string]any{"iat": fmt.Sprint(time.Now().Unix())}), wantErr: true},
		{name: "numbers as numbers", give: signMap(t, nil), wantSub: "web"},
		{name: "signature with stray trailing bits", give: strayBits(valid), wantErr: true},
		{name: "garbage", give: "not.a.token", wantErr: true},
		{name: "empty", give: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := tokens.Verify(tt.give)
			if sub := claims.ClientID; sub != tt.wantSub {
				t.Errorf("Verify() client = %q, want %q", sub, tt.wantSub)
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

// signMap signs valid claims for "web" as a map, with the entries of edit put over them.
func signMap(t *testing.T, edit map[string]any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": testIssuer, "sub": "web", "aud": testAudience, "scope": ScopeEventsWrite,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	maps.Copy(c, edit)
	return sign(t, jwt.SigningMethodHS256, testKey, c)
}

// strayBits sets the unused low bits of the signature's last base64 character: the same bytes
// to a lenient decoder, a different token to a strict one.
func strayBits(token string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	return token[:len(token)-1] + string(alphabet[last|1])
}

func mustIssue(t *testing.T, tokens *Tokens, at time.Time) string {
	t.Helper()
	s, err := tokens.Issue(webClient, at)
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

// signKIDValue signs valid claims with a kid header that is not a string.
func signKIDValue(t *testing.T, kid any, c jwt.Claims) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	token.Header["kid"] = kid
	s, err := token.SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTokensDefaultKID checks the migration path from JWT_SECRET alone: a token without a kid is
// checked against the "default" key.
func TestTokensDefaultKID(t *testing.T) {
	keys, err := NewKeys(map[string][]byte{DefaultKID: testKey, "next": oldTestKey}, "next")
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens(keys, testIssuer, testAudience, time.Hour)
	tests := []struct {
		name    string
		give    string
		wantErr bool
	}{
		{name: "no kid, default key", give: signKID(t, jwt.SigningMethodHS256, testKey, "", claims())},
		{name: "no kid, other key", give: signKID(t, jwt.SigningMethodHS256, oldTestKey, "", claims()), wantErr: true},
		{name: "issued now", give: mustIssue(t, tokens, time.Now())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokens.Verify(tt.give); (err != nil) != tt.wantErr {
				t.Errorf("Verify() error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewKeys(t *testing.T) {
	tests := []struct {
		name    string
		give    string // JWT_KEYS
		signing string
		wantErr string
	}{
		{name: "two keys", give: "a:" + string(testKey) + ",b:" + string(oldTestKey), signing: "b"},
		{name: "short key", give: "a:hunter2", signing: "a", wantErr: `key "a" must be at least 32 bytes, is 7`},
		{name: "signing key missing", give: "a:" + string(testKey), signing: "b", wantErr: `the signing key "b" is not among the keys (a)`},
		{name: "not kid:secret", give: "hunter2", signing: "a", wantErr: "entry 1 is not kid:secret"},
		{name: "kid with a space", give: "a b:" + string(testKey), signing: "a b", wantErr: "entry 1: the key id must be"},
		{name: "duplicate", give: "a:" + string(testKey) + ",a:" + string(testKey), signing: "a", wantErr: `key "a" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.give)
			if err == nil {
				_, err = NewKeys(keys, tt.signing)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if strings.Contains(gotErr, "hunter") || strings.Contains(gotErr, string(testKey)) {
				t.Errorf("error %q shows a secret", gotErr)
			}
		})
	}
}

// TestTokensVerifyCache checks that a token verified once is still refused once expired, and
// that the cache is bounded.
func TestTokensVerifyCache(t *testing.T) {
	tokens := newTestTokens()
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock: the token expires (past its leeway) 1.5 s from now.
		shortLived := sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-Leeway + 1500*time.Millisecond))
		}))
		for _, what := range []string{"fresh", "fresh, cached"} {
			if _, err := tokens.Verify(shortLived); err != nil {
				t.Fatalf("Verify(%s) = %v", what, err)
			}
		}
		time.Sleep(2 * time.Second)
		if _, err := tokens.Verify(shortLived); !errors.Is(err, jwt.ErrTokenExpired) {
			t.Fatalf("a cached token is still accepted past its exp and leeway (error %v)", err)
		}
	})

	for range maxVerifiedTokens + 10 {
		if _, err := tokens.Verify(mustIssue(t, tokens, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	tokens.mu.RLock()
	n := len(tokens.verified)
	tokens.mu.RUnlock()
	if n > maxVerifiedTokens {
		t.Errorf("cache holds %d tokens, more than %d", n, maxVerifiedTokens)
	}
}
