package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/martech/eventfwd/services/ingress/internal/auth"
)

const (
	requestIDHeader = "X-Request-Id"
	requestIDKey    = "api.request_id"
	// maxRequestIDLen bounds a caller's request id before we log and echo it.
	maxRequestIDLen = 128
)

// unmatchedRoute labels requests no route matched, so that scanners cannot blow up the metrics'
// cardinality with made-up paths.
const unmatchedRoute = "unmatched"

// requestID takes the caller's X-Request-Id when it is sane, or makes one, and echoes it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Header(requestIDHeader, id)
		c.Next()
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e { // printable ASCII, no spaces
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Access log sampling: refusals and errors are logged, each class (4xx, 5xx) at most logBurst
// lines at once and logLinesPerSecond after that; a flood of refusals or a broker outage under
// load must not write a line per request. Every request is counted in the metrics either way.
const (
	logLinesPerSecond = 10
	logBurst          = 100
)

// accessLog counts every request in the HTTP metrics and logs the ones that did not succeed: a
// refusal (4xx) at info, an error (5xx) at error, sampled per class (logBurst), with the
// client's address and what the handler left in c.Errors (its error, and attributes as a
// []slog.Attr in its Meta). Successes and
// probes are logged only at debug: a line per accepted event is a cost per request and, at
// thousands a second, an operator's disk problem.
func accessLog(log *slog.Logger, m *httpMetrics) gin.HandlerFunc {
	refusals := newLogSampler(m.unlogged.WithLabelValues("refusal"))
	errs := newLogSampler(m.unlogged.WithLabelValues("error"))
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)

		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		status := c.Writer.Status()
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route).Observe(elapsed.Seconds())

		level, sampler := slog.LevelDebug, (*logSampler)(nil)
		switch {
		case status >= 500:
			level, sampler = slog.LevelError, errs
		case status >= 400:
			level, sampler = slog.LevelInfo, refusals
		}
		ctx := c.Request.Context()
		if !log.Enabled(ctx, level) {
			return
		}
		var unlogged int64
		if sampler != nil {
			var ok bool
			if unlogged, ok = sampler.take(); !ok {
				return
			}
		}
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", c.GetString(requestIDKey)),
		)
		if clientID := auth.ClientID(c); clientID != "" {
			attrs = append(attrs, slog.String("client_id", clientID))
		}
		if sampler != nil {
			attrs = append(attrs, slog.String("ip", c.ClientIP()))
		}
		if err := c.Errors.Last(); err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
			if more, ok := err.Meta.([]slog.Attr); ok {
				attrs = append(attrs, more...)
			}
		}
		if unlogged > 0 {
			attrs = append(attrs, slog.Int64("unlogged_before", unlogged))
		}
		log.LogAttrs(ctx, level, "http request", attrs...)
	}
}

// logSampler lets through logBurst lines, then logLinesPerSecond, and counts the others.
type logSampler struct {
	limit    *rate.Limiter
	unlogged prometheus.Counter
	// skipped are the lines left out since the last one logged.
	skipped atomic.Int64
}

func newLogSampler(unlogged prometheus.Counter) *logSampler {
	return &logSampler{limit: rate.NewLimiter(logLinesPerSecond, logBurst), unlogged: unlogged}
}

// take reports whether a line may be logged and, if so, how many were left out before it.
func (s *logSampler) take() (skipped int64, ok bool) {
	if !s.limit.Allow() {
		s.skipped.Add(1)
		s.unlogged.Inc()
		return 0, false
	}
	return s.skipped.Swap(0), true
}

// recovery turns a panic in a handler into a logged error and a bare 500: no stack trace in the
// response.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(rec) // net/http's own signal to drop the connection quietly
			}
			log.ErrorContext(c.Request.Context(), "handler panic",
				"route", c.FullPath(),
				"request_id", c.GetString(requestIDKey),
				"panic", fmt.Sprint(rec),
				"stack", string(debug.Stack()),
			)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: "internal_error"})
		}()
		c.Next()
	}
}
