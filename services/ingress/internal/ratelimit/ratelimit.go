// Package ratelimit holds the token buckets the ingress keeps per key (a client id, an IP
// address) and turns a bucket's state into the RateLimit-* and Retry-After headers of
// draft-ietf-httpapi-ratelimit-headers.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is one bucket's shape: it refills at Rate tokens per second up to Burst.
type Limit struct {
	Rate  float64
	Burst int
}

// Decision is the outcome of one Take, with what the headers report.
type Decision struct {
	Allowed bool
	// Limit is the bucket's size, Remaining the whole tokens left after this take.
	Limit, Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is how long until the refused take could succeed; zero when allowed.
	RetryAfter time.Duration
}

// Keyed is a set of buckets, one per key, created on first use. It holds at most max buckets:
// when full it forgets the buckets that have refilled (a full bucket is the same as a new one),
// and refuses new keys while none has, so that made-up keys cannot grow it without end.
type Keyed struct {
	limitFor func(key string) Limit
	max      int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewKeyed returns buckets shaped by limitFor, at most max of them.
func NewKeyed(limitFor func(key string) Limit, max int) *Keyed {
	return &Keyed{limitFor: limitFor, max: max, buckets: make(map[string]*rate.Limiter)}
}

// Take takes n tokens from key's bucket if it holds them, and takes nothing otherwise.
func (k *Keyed) Take(key string, n int, now time.Time) Decision {
	k.mu.Lock()
	defer k.mu.Unlock()

	lim, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= k.max {
			k.forgetFull(now)
		}
		l := k.limitFor(key)
		if len(k.buckets) >= k.max {
			// Every known key is busy: refuse the newcomer rather than grow.
			return Decision{Limit: l.Burst, RetryAfter: time.Second, Reset: time.Second}
		}
		lim = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
		k.buckets[key] = lim
	}

	allowed := lim.AllowN(now, n)
	tokens := lim.TokensAt(now)
	d := Decision{
		Allowed:   allowed,
		Limit:     lim.Burst(),
		Remaining: max(0, int(math.Floor(tokens))),
		Reset:     seconds(float64(lim.Burst())-tokens, lim.Limit()),
	}
	if !allowed {
		if n > lim.Burst() {
			// Never possible; the caller's configuration keeps it from happening.
			d.RetryAfter = d.Reset
		} else {
			d.RetryAfter = seconds(float64(n)-tokens, lim.Limit())
		}
	}
	return d
}

// Peek reports what Take(key, n, now) would decide, and takes nothing. A key without a bucket
// has a full one, and Peek does not create it.
func (k *Keyed) Peek(key string, n int, now time.Time) Decision {
	k.mu.Lock()
	defer k.mu.Unlock()

	lim, ok := k.buckets[key]
	if !ok {
		l := k.limitFor(key)
		return Decision{Allowed: n <= l.Burst, Limit: l.Burst, Remaining: l.Burst}
	}
	tokens := lim.TokensAt(now)
	d := Decision{
		Allowed:   float64(n) <= tokens,
		Limit:     lim.Burst(),
		Remaining: max(0, int(math.Floor(tokens))),
		Reset:     seconds(float64(lim.Burst())-tokens, lim.Limit()),
	}
	if !d.Allowed {
		d.RetryAfter = seconds(float64(n)-tokens, lim.Limit())
	}
	return d
}

func (k *Keyed) forgetFull(now time.Time) {
	for key, lim := range k.buckets {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(k.buckets, key)
		}
	}
}

// seconds is how long r needs to refill tokens.
func seconds(tokens float64, r rate.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(tokens / float64(r) * float64(time.Second))
}

// SetHeaders writes RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, and Retry-After
// when the take was refused. Seconds are rounded up, so a client that waits them is served.
func (d Decision) SetHeaders(h http.Header) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.Reset), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}
