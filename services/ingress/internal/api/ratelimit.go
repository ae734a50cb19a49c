package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// bytesPerEvent is the body size an event pays for: a body costs one event per 4 KiB started
// (a valid event, its fields at their longest, is under 3 KiB). So the rate limit bounds the CPU
// a client can spend, whatever its bodies: a worst-case 1 MiB body, which takes about a thousand
// times a normal event to read and check, is charged 256 events, valid or not.
const bytesPerEvent = 4 << 10

// maxExternalBuckets bounds the buckets of users an external provider's tokens name.
const maxExternalBuckets = 100_000

// sizeCost is what a body of n bytes costs, in events.
func sizeCost(n int) int { return max(1, (n+bytesPerEvent-1)/bytesPerEvent) }

// chargeSize charges a request for its body of n bytes beyond the one event it paid to come in,
// answering 429 itself when the client cannot pay; paid is what the request has paid in all.
func (l *eventLimiter) chargeSize(c *gin.Context, n int) (paid int, ok bool) {
	paid = sizeCost(n)
	return paid, paid == 1 || l.take(c, paid-1)
}

// eventLimiter is each client's token bucket, counted in events: POST /events costs one, a
// batch one per item, and a large body one per 4 KiB (bytesPerEvent) if that is more. Every answer on the event routes carries the RateLimit-* headers; a 429
// also carries Retry-After.
type eventLimiter struct {
	buckets *ratelimit.Keyed
}

func newEventLimiter(clients *auth.Clients, def ratelimit.Limit) *eventLimiter {
	limitFor := func(id string) ratelimit.Limit {
		if c, ok := clients.Lookup(id); ok && c.Limit != nil {
			return *c.Limit
		}
		return def
	}
	// Configured clients, and the users of an external provider, least recently seen first out.
	return &eventLimiter{buckets: ratelimit.NewKeyed(limitFor, len(clients.IDs())+maxExternalBuckets)}
}

// take takes n events from the client's bucket, or answers 429 and reports false.
func (l *eventLimiter) take(c *gin.Context, n int) bool {
	d := l.buckets.Take(auth.ClientID(c), n, time.Now())
	d.SetHeaders(c.Writer.Header())
	if !d.Allowed {
		c.AbortWithStatusJSON(http.StatusTooManyRequests, errorBody{Error: "rate_limited"})
		return false
	}
	return true
}

// middleware charges every request one event before its body is read.
func (l *eventLimiter) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if l.take(c, 1) {
			c.Next()
		}
	}
}
