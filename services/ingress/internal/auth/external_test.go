package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

const (
	idpIssuer   = "https://idp.example.com/"
	idpAudience = "eventfwd-dashboard"
)

// idpKey is one signing key of the test identity provider.
type idpKey struct {
	kid    string
	method jwt.SigningMethod
	alg    jwkset.ALG
	key    crypto.Signer
}

var rsaIdPKey = sync.OnceValue(func() crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newIdPKey(t *testing.T, kid string, method jwt.SigningMethod) idpKey {
	t.Helper()
	k := idpKey{kid: kid, method: method}
	switch method {
	case jwt.SigningMethodRS256:
		k.alg, k.key = jwkset.AlgRS256, rsaIdPKey()
	case jwt.SigningMethodES256:
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.alg, k.key = jwkset.AlgES256, ec
	case jwt.SigningMethodEdDSA:
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.alg, k.key = jwkset.AlgEdDSA, ed
	}
	return k
}

// sign signs the claims of a token the provider would issue to alice, with edit's entries put
// over them (a nil value removes the claim).
func (k idpKey) sign(t *testing.T, edit jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "sub": "alice", "scope": "openid " + ScopeEventsWrite,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for name, v := range edit {
		if v == nil {
			delete(c, name)
			continue
		}
		c[name] = v
	}
	token := jwt.NewWithClaims(k.method, c)
	token.Header["kid"] = k.kid
	s, err := token.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idp serves a JWK Set whose keys a test can replace, and counts how often it was fetched.
type idp struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	keys    []idpKey
}

func newIdP(t *testing.T, keys ...idpKey) *idp {
	t.Helper()
	p := &idp{keys: keys}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		store := jwkset.NewMemoryStorage()
		p.mu.Lock()
		for _, k := range p.keys {
			jwk, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig}})
			if err != nil {
				panic(err)
			}
			_ = store.KeyWrite(r.Context(), jwk)
		}
		p.mu.Unlock()
		b, err := store.JSONPublic(r.Context())
		if err != nil {
			panic(err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) rotate(keys ...idpKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// externalTokens returns our test Tokens accepting the provider's tokens too.
func externalTokens(t *testing.T, p *idp, scopeClaim string, interval time.Duration) *Tokens {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ext, err := NewExternal(ctx, ExternalConfig{
		JWKSURL: p.URL, Issuer: idpIssuer, Audience: idpAudience, ScopeClaim: scopeClaim,
		RefreshInterval: interval, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := newTestTokens()
	tokens.AcceptExternal(ext)
	return tokens
}

func TestExternalTokens(t *testing.T) {
	rs, es, ed := newIdPKey(t, "rs", jwt.SigningMethodRS256), newIdPKey(t, "es", jwt.SigningMethodES256), newIdPKey(t, "ed", jwt.SigningMethodEdDSA)
	p := newIdP(t, rs, es, ed)
	tokens := externalTokens(t, p, "", time.Hour)
	rs384 := idpKey{kid: "rs", method: jwt.SigningMethodRS384, key: rsaIdPKey()}
	// Algorithm confusion: the RSA public key's bytes as an HMAC secret.
	confused := idpKey{kid: "rs", method: jwt.SigningMethodHS256}

	tests := []struct {
		name       string
		give       string
		wantClient string
		wantScopes []string
	}{
		{name: "RS256", give: rs.sign(t, nil), wantClient: "external:alice", wantScopes: []string{"openid", ScopeEventsWrite}},
		{name: "ES256 with scp as a list", give: es.sign(t, jwt.MapClaims{"scope": nil, "scp": []string{ScopeEventsWrite}}), wantClient: "external:alice", wantScopes: []string{ScopeEventsWrite}},
		{name: "EdDSA without scope", give: ed.sign(t, jwt.MapClaims{"scope": nil}), wantClient: "external:alice", wantScopes: []string{}},
		{name: "our own tokens still work", give: mustIssue(t, tokens, time.Now()), wantClient: "web", wantScopes: []string{ScopeEventsWrite}},
		{name: "RS384", give: rs384.sign(t, nil)},
		{name: "HS256 with the public key", give: signConfused(t, confused)},
		{name: "wrong issuer", give: rs.sign(t, jwt.MapClaims{"iss": "https://evil.example.com/"})},
		{name: "wrong audience", give: es.sign(t, jwt.MapClaims{"aud": "someone-else"})},
		{name: "expired", give: es.sign(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})},
		{name: "no exp", give: es.sign(t, jwt.MapClaims{"exp": nil})},
		{name: "exp a string", give: es.sign(t, jwt.MapClaims{"exp": "99999999999"})},
		{name: "not valid yet", give: es.sign(t, jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})},
		{name: "no subject", give: es.sign(t, jwt.MapClaims{"sub": nil})},
		{name: "scope not a string", give: es.sign(t, jwt.MapClaims{"scope": 7})},
		{name: "tampered", give: tamper(es.sign(t, nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := tokens.Verify(tt.give)
			if tt.wantClient == "" {
				if err == nil {
					t.Fatalf("Verify() = %+v, want an error", claims)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify() error: %v", err)
			}
			if claims.ClientID != tt.wantClient || !slices.Equal(claims.Scopes, tt.wantScopes) || claims.External != (tt.wantClient != "web") {
				t.Errorf("Verify() = %+v, want client %q with scopes %q", claims, tt.wantClient, tt.wantScopes)
			}
		})
	}
}

// signConfused signs valid claims with HS256, keyed with the RSA public key's DER bytes.
func signConfused(t *testing.T, k idpKey) string {
	t.Helper()
	pub := rsaIdPKey().Public().(*rsa.PublicKey)
	token := jwt.NewWithClaims(k.method, jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "sub": "alice",
		"scope": ScopeEventsWrite, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	token.Header["kid"] = k.kid
	s, err := token.SignedString(pub.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExternalKeyRotation rotates the provider's keys mid-test: a token signed with a new key id
// makes the set fetched again at once, but tokens with key ids still unknown after that cause no
// further fetch within the refresh interval (a flood of made-up kids cannot hammer the IdP).
func TestExternalKeyRotation(t *testing.T) {
	k1, k2, k3 := newIdPKey(t, "k1", jwt.SigningMethodES256), newIdPKey(t, "k2", jwt.SigningMethodES256), newIdPKey(t, "k3", jwt.SigningMethodES256)
	p := newIdP(t, k1)
	tokens := externalTokens(t, p, "", time.Hour)

	if _, err := tokens.Verify(k1.sign(t, nil)); err != nil {
		t.Fatalf("a token of the first key: %v", err)
	}
	start := p.fetches.Load()
	p.rotate(k2)
	if _, err := tokens.Verify(k2.sign(t, nil)); err != nil {
		t.Fatalf("a token of the key rotated in: %v", err)
	}
	if got := p.fetches.Load() - start; got != 1 {
		t.Errorf("the new key id made %d fetches, want 1", got)
	}

	p.rotate(k2, k3)
	for range 20 {
		begin := time.Now()
		if _, err := tokens.Verify(k3.sign(t, nil)); err == nil {
			t.Fatalf("a token of a key id unknown within the refresh interval was accepted")
		}
		if took := time.Since(begin); took > time.Second {
			t.Fatalf("refusing an unknown key id took %s, want it at once", took)
		}
	}
	if got := p.fetches.Load() - start; got != 1 {
		t.Errorf("fetches after 20 unknown key ids = %d, want still 1", got)
	}
	if _, err := tokens.Verify(k2.sign(t, nil)); err != nil {
		t.Errorf("a token of the current key: %v", err)
	}
}

// TestRequireExternal checks the event routes' middleware with external tokens: the scope comes
// from the token alone (no configured client stands behind it).
func TestRequireExternal(t *testing.T) {
	k := newIdPKey(t, "es", jwt.SigningMethodES256)
	tokens := externalTokens(t, newIdP(t, k), "scp", time.Hour)
	clients, err := ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give string
		want int
	}{
		{name: "scp grants the scope", give: k.sign(t, jwt.MapClaims{"scp": ScopeEventsWrite}), want: http.StatusOK},
		{name: "scope claim not the configured one", give: k.sign(t, nil), want: http.StatusForbidden},
		{name: "another scope", give: k.sign(t, jwt.MapClaims{"scp": []string{"events:read"}}), want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gin.New()
			r.POST("/events", Require(tokens, clients, ScopeEventsWrite), func(c *gin.Context) { c.Status(http.StatusOK) })
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events", nil)
			req.Header.Set("Authorization", "Bearer "+tt.give)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.want, rec.Body.String())
			}
		})
	}
}
