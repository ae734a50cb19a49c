package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Checker reports whether the service's dependencies answer.
type Checker interface {
	Ready(ctx context.Context) error
}

type statusBody struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: the process is up and serving.
func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, statusBody{Status: "ok"})
}

// readyz serves GET /readyz: 200 while Kafka is reachable, 503 otherwise.
func readyz(log *slog.Logger, checker Checker) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if err := checker.Ready(ctx); err != nil {
			log.WarnContext(ctx, "not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, statusBody{Status: "unavailable"})
			return
		}
		c.JSON(http.StatusOK, statusBody{Status: "ok"})
	}
}
