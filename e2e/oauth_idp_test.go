package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// tokenIssuer is a minimal OAuth2 authorization server for the secured broker's OAUTHBEARER: the
// client-credentials grant (client id = the principal's name, secret = secret(id)) answered with
// an RS256 JWT (sub, aud "kafka", exp) signed by a key whose JWKS the broker reads from a file.
type tokenIssuer struct {
	*httptest.Server
	key      *rsa.PrivateKey
	jwksFile string
	salt     string
	issued   atomic.Int64
	ttl      atomic.Int64 // of the tokens issued, in ns; 10 minutes unless a test shortens it
}

func newTokenIssuer(dir string) (*tokenIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ti := &tokenIssuer{key: key, jwksFile: filepath.Join(dir, "jwks.json"), salt: randomHex(8)}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "e2e", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err := os.WriteFile(ti.jwksFile, jwks, 0o600); err != nil {
		return nil, err
	}
	ti.ttl.Store(int64(10 * time.Minute))
	ti.Server = httptest.NewServer(http.HandlerFunc(ti.token))
	return ti, nil
}

func (ti *tokenIssuer) secret(id string) string { return "oauth-" + id + "-" + ti.salt }

func (ti *tokenIssuer) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.FormValue("client_id"), r.FormValue("client_secret")
	}
	if r.URL.Path != "/token" || r.FormValue("grant_type") != "client_credentials" || id == "" || secret != ti.secret(id) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	ttl := time.Duration(ti.ttl.Load())
	now := time.Now()
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "e2e"})
	claims, _ := json.Marshal(map[string]any{"sub": id, "aud": "kafka", "iss": ti.URL, "iat": now.Unix(),
		"exp": now.Add(ttl).Unix(), "scope": "kafka"})
	signing := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ti.key, crypto.SHA256, sum[:])
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ti.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": signing + "." + b64(sig), "token_type": "Bearer",
		"expires_in": int(ttl.Seconds())})
}
