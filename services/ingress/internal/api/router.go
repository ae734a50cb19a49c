// Package api is the ingress's HTTP surface: the Gin router, its middleware (request id, access
// log, metrics, recovery, CORS, rate limits) and the handlers for events, batches, tokens,
// health, readiness and the OpenAPI document.
package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// Config is what the router needs.
type Config struct {
	Log       *slog.Logger
	Publisher Publisher
	Clients   *auth.Clients
	Tokens    *auth.Tokens
	// Names are the accepted event_name values.
	Names event.Names
	// ProduceTimeout bounds how long a request waits for Kafka before answering 503.
	ProduceTimeout time.Duration
	MaxBodyBytes   int64
	// EventLimit is a client's event rate limit unless the client has its own.
	EventLimit ratelimit.Limit
	// TokenLimit bounds token requests per IP address and per client id.
	TokenLimit ratelimit.Limit
	// TrustedProxies are the addresses and CIDRs of the proxies whose X-Forwarded-For (or
	// X-Real-IP) names the client; without them the peer's address is the client's.
	TrustedProxies []string
	// CORSOrigins are the browser origins allowed to call the API; none turns CORS off.
	CORSOrigins []string
	// OpenAPI is the API's OpenAPI document, served at GET /openapi.json.
	OpenAPI []byte
	// Registry receives the HTTP metrics; the admin listener serves it (NewAdmin).
	Registry *prometheus.Registry
}

// New returns the ingress's public HTTP handler. Readiness and metrics are on the admin
// listener (NewAdmin); /healthz is on both, for load balancers that probe the public port.
func New(cfg Config) (http.Handler, error) {
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("register http metrics: %w", err)
	}

	// Release mode keeps Gin from printing its debug banner and routes to stdout, which would
	// break the JSON log stream.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// ClientIP believes X-Forwarded-For only from these peers, walking it from the right past
	// the trusted proxies; with none, it is the peer's address.
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("set trusted proxies: %w", err)
	}
	r.Use(requestID(), accessLog(cfg.Log, m), recovery(cfg.Log))
	if len(cfg.CORSOrigins) > 0 {
		r.Use(corsMiddleware(cfg.CORSOrigins))
	}
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, errorBody{Error: "not_found"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed"}) })

	r.GET("/healthz", gin.WrapF(healthz))
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", cfg.OpenAPI) })

	r.POST("/auth/token", auth.TokenHandler(cfg.Log, cfg.Clients, cfg.Tokens, auth.NewGuard(cfg.TokenLimit)))

	limiter := newEventLimiter(cfg.Clients, cfg.EventLimit)
	events := &eventsHandler{
		log:       cfg.Log,
		publisher: cfg.Publisher,
		limiter:   limiter,
		names:     cfg.Names,
		timeout:   cfg.ProduceTimeout,
		maxBody:   cfg.MaxBodyBytes,
	}
	// The rate limit comes after auth.Require, where the client id is known.
	guarded := r.Group("/events", auth.Require(cfg.Tokens, cfg.Clients, auth.ScopeEventsWrite), limiter.middleware())
	guarded.POST("", events.post)
	guarded.POST("/batch", events.postBatch)

	return r, nil
}

// errorBody is the body of the API's own errors.
type errorBody struct {
	Error string `json:"error"`
}
