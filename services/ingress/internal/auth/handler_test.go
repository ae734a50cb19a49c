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
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

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
			// Each source has its own budget per client id: guesses from elsewhere cannot
			// spend the real client's (the global cap on secret checks bounds their total).
			name: "one client, many ips, guessing",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "b"}, {"10.0.0.3", "web", "c"}},
			want: []int{refused, refused, refused},
		},
		{
			name: "right secret gets through others' guesses",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "b"}, {"10.0.0.3", "web", "s3cret-web"}, {"10.0.0.4", "app", "s3cret-app"}},
			want: []int{refused, refused, ok, ok},
		},
		{
			name: "successes spend no failure budget",
			give: []give{{"10.0.0.1", "web", "s3cret-web"}, {"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "s3cret-web"},
				{"10.0.0.2", "web", "b"}, {"10.0.0.2", "web", "c"}},
			want: []int{ok, refused, ok, refused, limited},
		},
		{
			// Once guesses from many addresses spent the id's budget, an address that failed
			// for it lately is refused, one that never did is still checked.
			name: "id under attack: only addresses without failures are checked",
			give: []give{{"10.0.0.1", "web", "a"}, {"10.0.0.2", "web", "b"}, {"10.0.0.1", "web", "c"},
				{"10.0.0.3", "web", "d"}, {"10.0.0.4", "web", "s3cret-web"}},
			want: []int{refused, refused, limited, refused, ok},
		},
		{
			// Unknown ids are budgeted like known ones, so that a 429 tells nothing about
			// whether an id exists.
			name: "unknown and known ids answer alike",
			give: []give{{"10.0.0.1", "nobody1", "a"}, {"10.0.0.2", "nobody2", "b"}, {"10.0.0.3", "nobody3", "c"}, {"10.0.0.4", "web", "d"}},
			want: []int{refused, refused, refused, refused},
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
			name: "secret verified before gets through from another address",
			give: []guardRequest{{"10.0.0.1", "dash", "s3cret-dash"}, {"10.0.0.2", "dash", "a"}, {"10.0.0.2", "dash", "b"},
				{"10.0.0.2", "dash", "s3cret-dash"}, {"10.0.0.4", "dash", "s3cret-dash"}},
			// The first check spent one of the id's two; the third request is a second failure
			// from 10.0.0.2 once the id's budget is spent.
			want: []int{http.StatusOK, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusOK},
		},
		{
			// Guesses from other addresses cannot lock the client out, even before its
			// secret was ever verified (issue 9, item 2).
			name: "secret never verified: others' guesses do not lock it out",
			give: []guardRequest{{"10.0.0.1", "dash2", "a"}, {"10.0.0.1", "dash2", "b"}, {"10.0.0.1", "dash2", "c"},
				{"10.0.0.2", "dash2", "d"}, {"10.0.0.3", "dash2", "s3cret-dash"}},
			want: []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusUnauthorized, http.StatusOK},
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

// fileClients is one file client, dash, whose secret is s3cret-dash (bcrypt).
func fileClients(t *testing.T) *Clients {
	t.Helper()
	clients, err := ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q}]}`, dashHash())))
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// tokenRequest sends one JSON token request from ip and returns the answer.
func sendTokenRequest(t *testing.T, srv http.Handler, ip, id, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/token",
		strings.NewReader(`{"client_id":"`+id+`","client_secret":"`+secret+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// TestTokenHandlerBoundsSecretChecks sends wrong secrets for one client from many addresses at
// once: however many sources there are, only a few secrets are checked at a time, and the rest
// are answered at once instead of queueing for bcrypt (issue 9, item 1: 100 addresses got 1,183
// bcrypt runs for one client id, the failure budget being checked before bcrypt and spent
// after it).
func TestTokenHandlerBoundsSecretChecks(t *testing.T) {
	srv, _ := newGuardedTokenServer(t, fileClients(t), ratelimit.Limit{Rate: 1.0 / 60, Burst: 3})
	const n = 48
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes <- sendTokenRequest(t, srv, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), "dash", "wrong").Code
		})
	}
	wg.Wait()
	close(codes)
	checked := 0
	for code := range codes {
		switch code {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("status %d, want 401, 429 or 503", code)
		}
	}
	// All requests arrive within a bcrypt run or two; a slot may free up once or twice.
	if limit := 3 * defaultMaxVerifying(); checked > limit {
		t.Errorf("%d of %d secrets were checked (401), want at most %d", checked, n, limit)
	}
}

// TestTokenHandlerUnknownIDsTakeAsLong checks that a wrong secret is not refused faster for an
// unknown id than for a file client's id: both run bcrypt. (A lower bound only: a loaded
// machine makes everything slower, never faster.)
func TestTokenHandlerUnknownIDsTakeAsLong(t *testing.T) {
	srv, _ := newGuardedTokenServer(t, fileClients(t), ratelimit.Limit{Rate: 1000, Burst: 1000})
	// The fastest of a few bcrypt runs, and a margin of 4: a refusal without bcrypt takes
	// microseconds, so this tells them apart even on a loaded machine (half failed once).
	bcryptRun := time.Hour
	for range 5 {
		start := time.Now()
		_ = bcrypt.CompareHashAndPassword([]byte(dashHash()), []byte("wrong"))
		bcryptRun = min(bcryptRun, time.Since(start))
	}
	for i, id := range []string{"dash", "nobody", "web"} {
		start := time.Now()
		if rec := sendTokenRequest(t, srv, fmt.Sprintf("10.2.0.%d", i+1), id, "wrong"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", id, rec.Code)
		}
		if took := time.Since(start); took < bcryptRun/4 {
			t.Errorf("a wrong secret for %q is refused in %s; a bcrypt run takes %s", id, took, bcryptRun)
		}
	}
}

// TestTokenHandlerLogsOnlyKnownIDs checks that an unknown client id, which may be a secret sent
// in the wrong field, never reaches the log as it was sent.
func TestTokenHandlerLogsOnlyKnownIDs(t *testing.T) {
	clients, err := ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	r := gin.New()
	// What the handler leaves for the access log (api's), logged as it logs it.
	r.Use(func(c *gin.Context) {
		c.Next()
		if e := c.Errors.Last(); e != nil {
			attrs, _ := e.Meta.([]slog.Attr)
			log.LogAttrs(c.Request.Context(), slog.LevelInfo, e.Error(), attrs...)
		}
	})
	r.POST("/auth/token", TokenHandler(log, clients, newTestTokens(),
		NewGuard(ratelimit.Limit{Rate: 1000, Burst: 1000})))
	swapped := "s3cret-web-pasted-as-the-id"
	for _, id := range []string{"web", swapped, strings.Repeat("x", 5000)} {
		sendTokenRequest(t, r, "10.3.0.1", id, "wrong")
	}
	out := logs.String()
	if !strings.Contains(out, `"client_id":"web"`) {
		t.Errorf("the log does not name the known client web:\n%s", out)
	}
	if strings.Contains(out, swapped) || strings.Contains(out, "xxxxxxxxxxxxxxxx") {
		t.Errorf("the log shows an unknown client id as sent:\n%s", out)
	}
}
