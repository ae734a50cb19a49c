package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

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

// maxGuardKeys bounds how many IP addresses the Guard tracks at once.
const maxGuardKeys = 10000

// unknownClientKey is the one failure bucket all unknown client ids share, so that made-up ids
// cannot fill the Guard.
const unknownClientKey = "\x00unknown"

// Guard limits token requests per IP address, and failed authentications per client id, so
// that secrets cannot be guessed at speed and bcrypt cannot be made to burn the CPU. Only
// failures spend a client id's budget: otherwise anyone could lock a client out of tokens by
// sending its id with wrong secrets.
type Guard struct {
	byIP, failures *ratelimit.Keyed
}

// NewGuard returns a Guard giving each IP address, and each client id's failures, a bucket of
// shape l.
func NewGuard(l ratelimit.Limit) *Guard {
	limitFor := func(string) ratelimit.Limit { return l }
	return &Guard{
		byIP:     ratelimit.NewKeyed(limitFor, maxGuardKeys),
		failures: ratelimit.NewKeyed(limitFor, maxGuardKeys),
	}
}

// failureKey is the failure bucket of a client id: its own when configured, else the shared one.
func failureKey(clients *Clients, id string) string {
	if _, known := clients.Lookup(id); known {
		return id
	}
	return unknownClientKey
}

// TokenHandler serves POST /auth/token: the OAuth2 client-credentials grant. Credentials come as
// JSON ({"client_id","client_secret"} or camelCase), as a form
// (grant_type=client_credentials&client_id=..&client_secret=..) or with HTTP Basic (then with
// no body at all if need be). Requests beyond the Guard's limits get 429 with Retry-After; past
// a client id's failure limit, only a secret known good without bcrypt is still checked.
func TokenHandler(log *slog.Logger, clients *Clients, tokens *Tokens, guard *Guard) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Tokens must not be cached anywhere (RFC 6749 section 5.1); errors neither.
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")

		now := time.Now()
		if d := guard.byIP.Take(c.ClientIP(), 1, now); !d.Allowed {
			log.InfoContext(c.Request.Context(), "token request limited", "ip", c.ClientIP())
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

		key := failureKey(clients, creds.id)
		authenticate := clients.Authenticate
		d := guard.failures.Peek(key, 1, now)
		if !d.Allowed {
			// Too many failures: only a secret known good without bcrypt gets through.
			authenticate = clients.AuthenticateKnown
		}
		client, ok := authenticate(creds.id, creds.secret)
		if !ok && !d.Allowed {
			log.InfoContext(c.Request.Context(), "token request limited", "client_id", creds.id)
			tooManyRequests(c, d)
			return
		}
		if !ok {
			guard.failures.Take(key, 1, now)
			log.InfoContext(c.Request.Context(), "token refused", "client_id", creds.id)
			if creds.basic {
				c.Header("WWW-Authenticate", `Basic realm="eventfwd"`)
			}
			c.JSON(http.StatusUnauthorized, ErrorResponse{Error: "invalid_client"})
			return
		}

		token, err := tokens.Issue(client, now)
		if err != nil {
			log.ErrorContext(c.Request.Context(), "issue token", "client_id", creds.id, "err", err)
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
