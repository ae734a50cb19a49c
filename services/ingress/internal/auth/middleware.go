package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes is the longest bearer token parsed; ours are under 1 KB, an identity provider's
// a few (Entra ID's with group claims near 8).
const maxTokenBytes = 12 << 10

// clientIDKey is where Require leaves the authenticated client id in the Gin context.
const clientIDKey = "auth.client_id"

// Require is the Gin middleware that lets a request through only with a valid
// "Authorization: Bearer <token>" that grants scope, issued to a client that is still configured
// with that scope (removing a client or its scope from the configuration revokes its tokens). It answers 401 invalid_token or
// 403 insufficient_scope (RFC 6750 section 3.1) otherwise, and never echoes the token back.
func Require(tokens *Tokens, clients *Clients, scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			refuse(c, "missing bearer token")
			return
		}
		if len(token) > maxTokenBytes {
			refuse(c, "token is too long")
			return
		}
		claims, err := tokens.Verify(token)
		if err != nil {
			description := "token is invalid"
			if errors.Is(err, jwt.ErrTokenExpired) {
				description = "token is expired"
			}
			refuse(c, description)
			return
		}
		granted := claims.HasScope(scope)
		if !claims.External {
			client, known := clients.Lookup(claims.ClientID)
			if !known {
				refuse(c, "token is invalid")
				return
			}
			// The client must still be granted the scope: taking it away revokes older tokens too.
			granted = granted && slices.Contains(client.Scopes, scope)
		}
		if !granted {
			c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
			c.AbortWithStatusJSON(http.StatusForbidden, ErrorResponse{
				Error:       "insufficient_scope",
				Description: "token lacks scope " + scope,
			})
			return
		}
		c.Set(clientIDKey, claims.ClientID)
		c.Next()
	}
}

// ClientID returns the client id Require authenticated, or "" on a route it does not guard.
func ClientID(c *gin.Context) string {
	return c.GetString(clientIDKey)
}

func bearerToken(header string) (string, bool) {
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func refuse(c *gin.Context, description string) {
	c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
	c.AbortWithStatusJSON(http.StatusUnauthorized, ErrorResponse{Error: "invalid_token", Description: description})
}
