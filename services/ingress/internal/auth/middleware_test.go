package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

func TestRequire(t *testing.T) {
	tokens := newTestTokens()
	plain, err := ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	// "reader" lost the scope events:write since its tokens were issued.
	file, err := ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"reader","secret_hash":%q,"scopes":[]}]}`, dashHash())))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := Join(plain, file)
	if err != nil {
		t.Fatal(err)
	}
	valid := mustIssue(t, tokens, time.Now())
	expired := mustIssue(t, tokens, time.Now().Add(-2*time.Hour))
	hs384 := sign(t, jwt.SigningMethodHS384, testKey, claims())
	noScope := sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Scope = "" }))
	otherScope := sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Scope = "events:read" }))
	scopeRemoved := sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Subject = "reader" }))
	removed := sign(t, jwt.SigningMethodHS256, testKey, withClaims(func(c *tokenClaims) { c.Subject = "gone" }))

	type want struct {
		status      int
		body        string
		authHeader  string
		reachedNext bool
	}
	forbidden := want{
		status:     http.StatusForbidden,
		body:       `{"error":"insufficient_scope","error_description":"token lacks scope events:write"}`,
		authHeader: `Bearer error="insufficient_scope", scope="events:write"`,
	}
	refused := func(description string) want {
		return want{
			status:     http.StatusUnauthorized,
			body:       `{"error":"invalid_token","error_description":"` + description + `"}`,
			authHeader: `Bearer error="invalid_token"`,
		}
	}
	tests := []struct {
		name string
		give string // Authorization header
		want want
	}{
		{name: "valid", give: "Bearer " + valid, want: want{status: http.StatusOK, body: `{"client_id":"web"}`, reachedNext: true}},
		{name: "scheme in lower case", give: "bearer " + valid, want: want{status: http.StatusOK, body: `{"client_id":"web"}`, reachedNext: true}},
		{name: "missing", give: "", want: refused("missing bearer token")},
		{name: "basic scheme", give: "Basic d2ViOnMzY3JldC13ZWI=", want: refused("missing bearer token")},
		{name: "bearer without token", give: "Bearer ", want: refused("missing bearer token")},
		{name: "expired", give: "Bearer " + expired, want: refused("token is expired")},
		{name: "wrong alg", give: "Bearer " + hs384, want: refused("token is invalid")},
		{name: "tampered", give: "Bearer " + tamper(valid), want: refused("token is invalid")},
		{name: "no scope", give: "Bearer " + noScope, want: forbidden},
		{name: "another scope", give: "Bearer " + otherScope, want: forbidden},
		{name: "scope no longer configured for the client", give: "Bearer " + scopeRemoved, want: forbidden},
		{name: "client no longer configured", give: "Bearer " + removed, want: refused("token is invalid")},
		{name: "far longer than any token", give: "Bearer " + strings.Repeat("a", maxTokenBytes+1), want: refused("token is too long")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			r := gin.New()
			r.POST("/events", Require(tokens, clients, ScopeEventsWrite), func(c *gin.Context) {
				reached = true
				c.JSON(http.StatusOK, gin.H{"client_id": ClientID(c)})
			})
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events", nil)
			req.Header.Set("Authorization", tt.give)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			got := want{
				status:      rec.Code,
				body:        compactJSON(t, rec.Body.String()),
				authHeader:  rec.Header().Get("WWW-Authenticate"),
				reachedNext: reached,
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if token := strings.TrimPrefix(tt.give, "Bearer "); len(token) > 20 && strings.Contains(rec.Body.String(), token[len(token)-20:]) {
				t.Errorf("response %s echoes the token", rec.Body.String())
			}
		})
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q is not JSON: %v", s, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
