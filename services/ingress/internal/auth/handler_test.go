package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

func newTokenServer(t *testing.T) (http.Handler, *Tokens) {
	t.Helper()
	clients, err := ParseClients("web:s3cret-web,app:s3cret-app")
	if err != nil {
		t.Fatal(err)
	}
	return newGuardedTokenServer(t, clients, ratelimit.Limit{Rate: 1000, Burst: 1000})
}

func newGuardedTokenServer(t *testing.T, clients *Clients, limit ratelimit.Limit) (http.Handler, *Tokens) {
	t.Helper()
	tokens := newTestTokens()
	r := gin.New()
	r.POST("/auth/token", TokenHandler(slog.New(slog.NewTextHandler(io.Discard, nil)), clients, tokens, NewGuard(limit)))
	return r, tokens
}

func TestTokenHandler(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	type give struct {
		contentType string
		body        string
		basicID     string // sent with HTTP Basic when not ""
		basicSecret string
	}
	type want struct {
		status    int
		error     string
		tokenType string
		expiresIn int64
		sub       string // the subject the returned access token verifies to
		basicAuth string // WWW-Authenticate
	}
	ok := func(sub string) want {
		return want{status: http.StatusOK, tokenType: "Bearer", expiresIn: 3600, sub: sub}
	}
	tests := []struct {
		name string
		give give
		want want
	}{
		{
			name: "json snake_case",
			give: give{contentType: "application/json", body: `{"client_id":"web","client_secret":"s3cret-web"}`},
			want: ok("web"),
		},
		{
			name: "json camelCase with charset",
			give: give{contentType: "application/json; charset=utf-8", body: `{"clientId":"app","clientSecret":"s3cret-app"}`},
			want: ok("app"),
		},
		{
			name: "json with grant_type",
			give: give{contentType: "application/json", body: `{"grant_type":"client_credentials","client_id":"web","client_secret":"s3cret-web"}`},
			want: ok("web"),
		},
		{
			name: "form",
			give: give{contentType: form, body: "grant_type=client_credentials&client_id=web&client_secret=s3cret-web"},
			want: ok("web"),
		},
		{
			name: "basic with form grant_type",
			give: give{contentType: form, body: "grant_type=client_credentials", basicID: "app", basicSecret: "s3cret-app"},
			want: ok("app"),
		},
		{
			name: "basic with json body",
			give: give{contentType: "application/json", body: `{}`, basicID: "app", basicSecret: "s3cret-app"},
			want: ok("app"),
		},
		{
			name: "basic with no body and no Content-Type",
			give: give{basicID: "app", basicSecret: "s3cret-app"},
			want: ok("app"),
		},
		{
			name: "no body, no Content-Type, no basic",
			give: give{},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "basic with a body but no Content-Type",
			give: give{body: "grant_type=client_credentials", basicID: "app", basicSecret: "s3cret-app"},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "basic with an empty form still needs grant_type",
			give: give{contentType: form, basicID: "app", basicSecret: "s3cret-app"},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "wrong secret",
			give: give{contentType: "application/json", body: `{"client_id":"web","client_secret":"s3cret-app"}`},
			want: want{status: http.StatusUnauthorized, error: "invalid_client"},
		},
		{
			name: "unknown client",
			give: give{contentType: form, body: "grant_type=client_credentials&client_id=nobody&client_secret=s3cret-web"},
			want: want{status: http.StatusUnauthorized, error: "invalid_client"},
		},
		{
			name: "basic with wrong secret",
			give: give{contentType: form, body: "grant_type=client_credentials", basicID: "app", basicSecret: "nope"},
			want: want{status: http.StatusUnauthorized, error: "invalid_client", basicAuth: `Basic realm="eventfwd"`},
		},
		{
			name: "malformed json",
			give: give{contentType: "application/json", body: `{"client_id":"web",`},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "json array",
			give: give{contentType: "application/json", body: `["web","s3cret-web"]`},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "missing secret",
			give: give{contentType: "application/json", body: `{"client_id":"web"}`},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "missing client id",
			give: give{contentType: "application/json", body: `{"client_secret":"s3cret-web"}`},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "form without grant_type",
			give: give{contentType: form, body: "client_id=web&client_secret=s3cret-web"},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "form with password grant",
			give: give{contentType: form, body: "grant_type=password&client_id=web&client_secret=s3cret-web"},
			want: want{status: http.StatusBadRequest, error: "unsupported_grant_type"},
		},
		{
			name: "json with another grant",
			give: give{contentType: "application/json", body: `{"grant_type":"authorization_code","client_id":"web","client_secret":"s3cret-web"}`},
			want: want{status: http.StatusBadRequest, error: "unsupported_grant_type"},
		},
		{
			name: "basic and body credentials",
			give: give{contentType: form, body: "grant_type=client_credentials&client_id=web&client_secret=s3cret-web", basicID: "web", basicSecret: "s3cret-web"},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "text body",
			give: give{contentType: "text/plain", body: "web:s3cret-web"},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
		{
			name: "body too large",
			give: give{contentType: "application/json", body: `{"client_id":"web","client_secret":"` + strings.Repeat("x", maxTokenRequestBytes) + `"}`},
			want: want{status: http.StatusBadRequest, error: "invalid_request"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, tokens := newTokenServer(t)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/token", strings.NewReader(tt.give.body))
			req.Header.Set("Content-Type", tt.give.contentType)
			if tt.give.basicID != "" {
				req.SetBasicAuth(tt.give.basicID, tt.give.basicSecret)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)

			var body struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int64  `json:"expires_in"`
				Error       string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("response %q is not JSON: %v", rec.Body.String(), err)
			}
			claims, _ := tokens.Verify(body.AccessToken)
			got := want{
				status:    rec.Code,
				error:     body.Error,
				tokenType: body.TokenType,
				expiresIn: body.ExpiresIn,
				sub:       claims.ClientID,
				basicAuth: rec.Header().Get("WWW-Authenticate"),
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v (body %s)", got, tt.want, rec.Body.String())
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// TestTokenHandlerGuard checks that token requests are limited per IP address and failed
// authentications per client id, with 429 and Retry-After, and that guesses cannot lock a
// client with the right secret out.
func TestTokenHandlerGuard(t *testing.T) {
	type give = guardRequest
	const (
		ok      = http.StatusOK
		refused = http.StatusUnauthorized
		limited = http.StatusTooManyRequests
	)
	tests := []struct {
		name string
		give []give
		want []int // status of each request
	}{
		{
			name: "one ip, guessing",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.1", "web", "b"}, {"10.0.0.1", "web", "s3cret-web"}},
			want: []int{refused, refused, limited},
		},
		{
			name: "one ip, other clients",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.1", "app", "b"}, {"10.0.0.1", "nobody", "c"}},
			want: []int{refused, refused, limited},
		},
		{
			name: "one client, many ips, guessing",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "b"}, {"10.0.0.3", "web", "c"}},
			want: []int{refused, refused, limited},
		},
		{
			name: "right secret gets through a spent failure budget",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "b"}, {"10.0.0.3", "web", "s3cret-web"}, {"10.0.0.4", "app", "s3cret-app"}},
			want: []int{refused, refused, ok, ok},
		},
		{
			name: "successes spend no failure budget",
			give: []give{{"10.0.0.1", "web", "s3cret-web"}, {"10.0.0.2", "web", "s3cret-web"}, {"10.0.0.3", "web", "s3cret-web"},
				{"10.0.0.4", "web", "a"}, {"10.0.0.5", "web", "b"}, {"10.0.0.6", "web", "c"}},
			want: []int{ok, ok, ok, refused, refused, limited},
		},
		{
			name: "unknown ids share one failure budget",
			give: []give{{"10.0.0.1", "nobody1", "a"}, {"10.0.0.2", "nobody2", "b"}, {"10.0.0.3", "nobody3", "c"}, {"10.0.0.4", "web", "d"}},
			want: []int{refused, refused, limited, refused},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clients, err := ParseClients("web:s3cret-web,app:s3cret-app")
			if err != nil {
				t.Fatal(err)
			}
			if got := guardStatuses(t, clients, tt.give); !slices.Equal(got, tt.want) {
				t.Errorf("statuses = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTokenHandlerGuardFileClient checks that, past a file client's failure budget, only the
// secret bcrypt accepted before gets a token, and bcrypt is not run.
func TestTokenHandlerGuardFileClient(t *testing.T) {
	// Parsed once, bcrypt being slow; each case has its own id, so their caches stay apart.
	clients, err := ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%[1]q},{"id":"dash2","secret_hash":%[1]q}]}`, dashHash())))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give []guardRequest
		want []int
	}{
		{
			name: "secret verified before gets through a spent budget",
			give: []guardRequest{{"10.0.0.1", "dash", "s3cret-dash"}, {"10.0.0.2", "dash", "a"}, {"10.0.0.3", "dash", "b"},
				{"10.0.0.4", "dash", "s3cret-dash"}, {"10.0.0.5", "dash", "c"}},
			want: []int{http.StatusOK, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusOK, http.StatusTooManyRequests},
		},
		{
			name: "secret never verified: refused past the budget",
			give: []guardRequest{{"10.0.0.1", "dash2", "a"}, {"10.0.0.2", "dash2", "b"}, {"10.0.0.3", "dash2", "s3cret-dash"}},
			want: []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guardStatuses(t, clients, tt.give); !slices.Equal(got, tt.want) {
				t.Errorf("statuses = %v, want %v", got, tt.want)
			}
		})
	}
}

type guardRequest struct {
	ip, id, secret string
}

// guardStatuses sends the requests to a token endpoint allowing 2 requests per IP and 2
// failures per client id, and returns their statuses.
func guardStatuses(t *testing.T, clients *Clients, reqs []guardRequest) []int {
	t.Helper()
	srv, _ := newGuardedTokenServer(t, clients, ratelimit.Limit{Rate: 1.0 / 60, Burst: 2})
	var got []int
	for _, g := range reqs {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/token",
			strings.NewReader(`{"client_id":"`+g.id+`","client_secret":"`+g.secret+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = g.ip + ":40000"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		got = append(got, rec.Code)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	return got
}
