package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// maxTokenRequestBytes bounds the body of a token request; a credentials document is tiny.
const maxTokenRequestBytes = 64 << 10

const grantClientCredentials = "client_credentials"

// TokenResponse is the body of a successful POST /auth/token (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// ErrorResponse is the body of every failed auth request (RFC 6749 section 5.2, RFC 6750).
type ErrorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// requestError is a token request we refuse with 400.
type requestError struct {
	code        string // invalid_request or unsupported_grant_type
	description string
}

func (e *requestError) Error() string { return e.code + ": " + e.description }

func invalidRequest(format string, args ...any) *requestError {
	return &requestError{code: "invalid_request", description: fmt.Sprintf(format, args...)}
}

// credentials is what a token request carries, whichever way it was sent.
type credentials struct {
	id, secret string
	basic      bool // sent with HTTP Basic; a 401 then says so in WWW-Authenticate
}

// maxGuardKeys bounds how many addresses, and how many (client id, address) pairs, the Guard
// tracks; past it the least recently used is forgotten.
const maxGuardKeys = 100_000

// maxKeyedIDBytes is the longest client id kept whole in a budget key; a longer one (at most a
// request's 64 KiB) is kept as its SHA-256, so the Guard's memory stays bounded.
const maxKeyedIDBytes = 64

// Guard bounds the token endpoint's work, whatever the number of sources:
//   - every address has a budget of token requests;
//   - every (client id, address) pair has a budget of secret checks, spent before a check runs
//     and only when it must run (a secret already known good costs no bcrypt): guesses from
//     elsewhere never spend a real client's budget, so they cannot lock it out, and unknown ids
//     are budgeted exactly like known ones, so a 429 tells nothing about whether an id exists;
//   - every client id has a budget of secret checks too; once guesses from many addresses have
//     spent it, an address that failed for that id within the last minute is refused at once,
//     while one that did not (such as the real client's) is still checked;
//   - at most a few secrets are checked at once, the rest answered 503 at once, so a flood of
//     guesses from many addresses costs a bounded share of the CPU. A 503 counts no failure.
type Guard struct {
	byAddr, checks, idChecks *ratelimit.Keyed
	// failed is when each (client id, address) pair last failed a check.
	failed *failures
	// verifying holds a slot per secret check under way.
	verifying chan struct{}
}

// failurePenalty is how long an address that failed a check for a client id under attack is
// refused further checks for it.
const failurePenalty = time.Minute

// NewGuard returns a Guard giving each address, each (client id, address) pair and each client
// id a bucket of shape l.
func NewGuard(l ratelimit.Limit) *Guard {
	limitFor := func(string) ratelimit.Limit { return l }
	return &Guard{
		byAddr:    ratelimit.NewKeyed(limitFor, maxGuardKeys),
		checks:    ratelimit.NewKeyed(limitFor, maxGuardKeys),
		idChecks:  ratelimit.NewKeyed(limitFor, maxGuardKeys),
		failed:    newFailures(maxGuardKeys),
		verifying: make(chan struct{}, defaultMaxVerifying()),
	}
}

// reserveCheck takes the budgets a secret check of id from source spends, before it runs, or
// returns the refusal to answer.
func (g *Guard) reserveCheck(source, id string, now time.Time) (ratelimit.Decision, bool) {
	pair := checkKey(source, id)
	d := g.checks.Take(pair, 1, now)
	if !d.Allowed {
		return d, false
	}
	perID := g.idChecks.Take(checkKey("", id), 1, now)
	if since := g.failed.since(pair, now); !perID.Allowed && since < failurePenalty {
		perID.RetryAfter = max(perID.RetryAfter, failurePenalty-since)
		return perID, false
	}
	return d, true
}

// failures remembers when each key last failed; the least recently failed is forgotten first.
type failures struct {
	mu   sync.Mutex
	last *simplelru.LRU[string, time.Time]
}

func newFailures(size int) *failures {
	last, err := simplelru.NewLRU[string, time.Time](size, nil)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &failures{last: last}
}

func (f *failures) mark(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last.Add(key, now)
}

// since is how long ago key last failed; forever when it never did.
func (f *failures) since(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.last.Peek(key); ok {
		return now.Sub(t)
	}
	return math.MaxInt64
}

// checkKey is the budget key of secret checks for a client id from a source.
func checkKey(source, id string) string {
	if len(id) > maxKeyedIDBytes {
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return source + " " + id
}

// noteRefusal leaves why a token request was refused, and about whom, on the request: the
// access log's line for it carries them, sampled, so that a flood of guesses does not write a
// line each.
func noteRefusal(c *gin.Context, reason string, attrs ...slog.Attr) {
	_ = c.Error(errors.New(reason)).SetMeta(attrs)
}

// TokenHandler serves POST /auth/token: the OAuth2 client-credentials grant. Credentials come as
// JSON ({"client_id","client_secret"} or camelCase), as a form
// (grant_type=client_credentials&client_id=..&client_secret=..) or with HTTP Basic (then with
// no body at all if need be). Requests beyond the Guard's budgets get 429 with Retry-After, and
// 503 with Retry-After when its secret-check slots are all busy.
func TokenHandler(log *slog.Logger, clients *Clients, tokens *Tokens, guard *Guard) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		// Tokens must not be cached anywhere (RFC 6749 section 5.1); errors neither.
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")

		now := time.Now()
		source := ratelimit.SourceKey(c.ClientIP())
		if d := guard.byAddr.Take(source, 1, now); !d.Allowed {
			noteRefusal(c, "token request limited")
			tooManyRequests(c, d)
			return
		}

		creds, err := readCredentials(c)
		if err != nil {
			var reqErr *requestError
			if !errors.As(err, &reqErr) {
				reqErr = invalidRequest("unreadable request")
			}
			c.JSON(http.StatusBadRequest, ErrorResponse{Error: reqErr.code, Description: reqErr.description})
			return
		}

		// A secret known good costs a hash, not bcrypt: no budget is spent on it.
		client, ok := clients.AuthenticateKnown(creds.id, creds.secret)
		if !ok {
			// The budget is taken before the check runs, so concurrent requests cannot all
			// pass a check made before bcrypt and spend it after.
			if d, ok := guard.reserveCheck(source, creds.id, now); !ok {
				noteRefusal(c, "token request limited", clients.LogAttr(creds.id))
				tooManyRequests(c, d)
				return
			}
			select {
			case guard.verifying <- struct{}{}:
			default:
				noteRefusal(c, "token request refused: secret checks busy", clients.LogAttr(creds.id))
				c.Header("Retry-After", "1")
				c.JSON(http.StatusServiceUnavailable, ErrorResponse{Error: "temporarily_unavailable", Description: "too many token requests are being checked; retry later"})
				return
			}
			client, ok = clients.Authenticate(creds.id, creds.secret)
			<-guard.verifying
		}
		if !ok {
			guard.failed.mark(checkKey(source, creds.id), now)
			noteRefusal(c, "token refused", clients.LogAttr(creds.id))
			if creds.basic {
				c.Header("WWW-Authenticate", `Basic realm="eventfwd"`)
			}
			c.JSON(http.StatusUnauthorized, ErrorResponse{Error: "invalid_client"})
			return
		}

		token, err := tokens.Issue(client, now)
		if err != nil {
			log.ErrorContext(ctx, "issue token", "client_id", client.ID, "err", err)
			c.JSON(http.StatusInternalServerError, ErrorResponse{Error: "server_error"})
			return
		}
		c.JSON(http.StatusOK, TokenResponse{
			AccessToken: token,
			TokenType:   "Bearer",
			ExpiresIn:   int64(tokens.TTL() / time.Second),
		})
	}
}

func tooManyRequests(c *gin.Context, d ratelimit.Decision) {
	d.SetHeaders(c.Writer.Header())
	c.JSON(http.StatusTooManyRequests, ErrorResponse{Error: "rate_limited", Description: "too many token requests; retry later"})
}

// tokenRequest is the JSON form of a token request. grant_type is optional in JSON (the contract
// documents the two credential fields only) but must be client_credentials when present.
type tokenRequest struct {
	GrantType         string `json:"grant_type"`
	ClientID          string `json:"client_id"`
	ClientSecret      string `json:"client_secret"`
	ClientIDCamel     string `json:"clientId"`
	ClientSecretCamel string `json:"clientSecret"`
}

func readCredentials(c *gin.Context) (credentials, error) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxTokenRequestBytes)

	var (
		grant, id, secret string
		grantRequired     bool
	)
	mediaType := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return credentials{}, invalidRequest("unreadable Content-Type")
		}
		mediaType = mt
	}
	switch mediaType {
	case "application/json":
		var req tokenRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return credentials{}, invalidRequest("body is not a JSON object")
		}
		grant = req.GrantType
		id = firstNonEmpty(req.ClientID, req.ClientIDCamel)
		secret = firstNonEmpty(req.ClientSecret, req.ClientSecretCamel)
	case "":
		// What a Basic-only request looks like (curl -u id:secret -X POST): no body, so no
		// grant_type either; client_credentials is the only grant there is.
		var b [1]byte
		if n, _ := io.ReadFull(r.Body, b[:]); n > 0 {
			return credentials{}, invalidRequest("a body needs Content-Type application/json or application/x-www-form-urlencoded")
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return credentials{}, invalidRequest("unreadable form body")
		}
		grant = r.PostForm.Get("grant_type")
		id = r.PostForm.Get("client_id")
		secret = r.PostForm.Get("client_secret")
		grantRequired = true // RFC 6749 section 4.4.2
	default:
		return credentials{}, invalidRequest("Content-Type must be application/json or application/x-www-form-urlencoded")
	}

	switch {
	case grant == "" && grantRequired:
		return credentials{}, invalidRequest("grant_type is required")
	case grant != "" && grant != grantClientCredentials:
		return credentials{}, &requestError{
			code:        "unsupported_grant_type",
			description: "only client_credentials is supported",
		}
	}

	basicID, basicSecret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 section 2.3: one authentication method per request.
		if id != "" || secret != "" {
			return credentials{}, invalidRequest("send the client credentials either with HTTP Basic or in the body, not both")
		}
		// Taken as sent: curl -u and most clients do not form-encode them first.
		id, secret = basicID, basicSecret
	}
	switch {
	case id == "":
		return credentials{}, invalidRequest("client_id is required")
	case secret == "":
		return credentials{}, invalidRequest("client_secret is required")
	}
	return credentials{id: id, secret: secret, basic: basic}, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// defaultMaxVerifying is how many secrets are checked at once: half the cores, so that bcrypt
// under a flood of guesses leaves the other half to events and probes.
func defaultMaxVerifying() int { return max(1, runtime.GOMAXPROCS(0)/2) }
