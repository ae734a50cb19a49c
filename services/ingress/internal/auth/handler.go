package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// maxGuardKeys bounds how many IP addresses and client ids the Guard tracks at once.
const maxGuardKeys = 10000

// Guard limits token requests per IP address and per client id, so that secrets cannot be
// guessed at speed and bcrypt cannot be made to burn the CPU. Every request counts, granted or
// not: a client needs a token about once per TOKEN_TTL.
type Guard struct {
	byIP, byClient *ratelimit.Keyed
}

// NewGuard returns a Guard giving each IP address and each client id a bucket of shape l.
func NewGuard(l ratelimit.Limit) *Guard {
	limitFor := func(string) ratelimit.Limit { return l }
	return &Guard{
		byIP:     ratelimit.NewKeyed(limitFor, maxGuardKeys),
		byClient: ratelimit.NewKeyed(limitFor, maxGuardKeys),
	}
}

// clientKey keeps a made-up, huge client id from taking that much memory in the Guard.
func clientKey(id string) string {
	if len(id) <= 128 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TokenHandler serves POST /auth/token: the OAuth2 client-credentials grant. Credentials come as
// JSON ({"client_id","client_secret"} or camelCase), as a form
// (grant_type=client_credentials&client_id=..&client_secret=..) or with HTTP Basic. Requests
// beyond the Guard's limits get 429 with Retry-After before any secret is checked.
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

		if d := guard.byClient.Take(clientKey(creds.id), 1, now); !d.Allowed {
			log.InfoContext(c.Request.Context(), "token request limited", "client_id", creds.id)
			tooManyRequests(c, d)
			return
		}

		client, ok := clients.Authenticate(creds.id, creds.secret)
		if !ok {
			log.InfoContext(c.Request.Context(), "token refused", "client_id", creds.id)
			if creds.basic {
				c.Header("WWW-Authenticate", `Basic realm="eventfwd"`)
			}
			c.JSON(http.StatusUnauthorized, ErrorResponse{Error: "invalid_client"})
			return
		}

		token, err := tokens.Issue(client, now)
		if err != nil {
			log.ErrorContext(c.Request.Context(), "issue token", "client_id", creds.id, "error", err)
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
	case "application/x-www-form-urlencoded", "":
		// An empty Content-Type is read as a form too: that is what a Basic-only request with
		// no body looks like.
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
