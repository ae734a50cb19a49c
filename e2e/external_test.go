package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A dashboard user signed in at the company's identity provider sends events with the IdP's
// access token: the ingress takes the key from the IdP's JWK Set, checks iss, aud and scope, and
// the event lands in Kafka. A token of another issuer is refused.
func TestIngressAcceptsAnExternalProvidersTokens(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"idp-1","alg":"ES256","use":"sig","x":%q,"y":%q}]}`,
		b64(key.X.FillBytes(make([]byte, 32))), b64(key.Y.FillBytes(make([]byte, 32))))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks))
	}))
	t.Cleanup(idp.Close)
	const issuer, audience = "https://idp.example.com/", "eventfwd-dashboard"
	sign := func(iss string) string {
		token := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": iss, "aud": audience, "sub": "alice@example.com",
			"scp": []string{"events:write"}, "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()})
		token.Header["kid"] = "idp-1"
		s, err := token.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	n := newNames(t)
	in := startIngress(t, n, "JWT_JWKS_URL="+idp.URL, "JWT_EXTERNAL_ISSUER="+issuer, "JWT_EXTERNAL_AUDIENCE="+audience)
	id := newUUID()
	r := ingDo(t, http.MethodPost, in.url+"/events", ingEventJSON(id), "Content-Type: application/json", "Authorization: Bearer "+sign(issuer))
	if r.code != http.StatusAccepted {
		t.Fatalf("POST /events with the IdP's token = %d %s, want 202", r.code, r.body)
	}
	if r := ingDo(t, http.MethodPost, in.url+"/events", ingEventJSON(newUUID()), "Content-Type: application/json",
		"Authorization: Bearer "+sign("https://evil.example.com/")); r.code != http.StatusUnauthorized {
		t.Errorf("POST /events with a token of another issuer = %d %s, want 401", r.code, r.body)
	}
	found := false
	for _, rec := range readAll(t, n.events) {
		found = found || string(rec.Key) == id
	}
	if !found {
		t.Fatalf("event %s accepted with the IdP's token is not in %s", id, n.events)
	}
}
