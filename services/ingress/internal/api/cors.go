package api

import (
	"net/http"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// corsMiddleware lets the dashboard's origins call the API from a browser: it answers their
// preflight requests and echoes only a listed origin. A request with an Origin header that is not
// listed gets 403.
func corsMiddleware(origins []string) gin.HandlerFunc {
	return cors.New(cors.Config{
		AllowOrigins: origins,
		AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowHeaders: []string{"Authorization", "Content-Type", requestIDHeader},
		ExposeHeaders: []string{requestIDHeader, "Retry-After",
			"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		MaxAge: 10 * time.Minute,
	})
}
