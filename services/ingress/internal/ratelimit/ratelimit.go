// Package ratelimit holds the token buckets the ingress keeps per key (a client id, an IP
// address) and turns a bucket's state into the RateLimit-* and Retry-After headers of
// draft-ietf-httpapi-ratelimit-headers.
package ratelimit

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
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
// past that it forgets the least recently used one, whose key starts over with a full bucket if
// it comes back. Made-up keys therefore cannot grow it, nor keep newcomers out: a key in use
// stays, a key that was quiet longest goes.
type Keyed struct {
	limitFor func(key string) Limit

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *rate.Limiter]
}

// NewKeyed returns buckets shaped by limitFor, at most size of them (at least one).
func NewKeyed(limitFor func(key string) Limit, size int) *Keyed {
	buckets, err := simplelru.NewLRU[string, *rate.Limiter](max(1, size), nil)
	if err != nil {
		panic(err) // only for a size below 1, ruled out above
	}
	return &Keyed{limitFor: limitFor, buckets: buckets}
}

// Take takes n tokens from key's bucket if it holds them, and takes nothing otherwise.
func (k *Keyed) Take(key string, n int, now time.Time) Decision {
	k.mu.Lock()
	defer k.mu.Unlock()

	lim, ok := k.buckets.Get(key)
	if !ok {
		l := k.limitFor(key)
		lim = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
		k.buckets.Add(key, lim)
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

// seconds is how long r needs to refill tokens.
func seconds(tokens float64, r rate.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(tokens / float64(r) * float64(time.Second))
}

// SetHeaders writes RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, and Retry-After
// when the take was refused. Seconds are rounded up, so a client that waits them is served.
// The keys are written in their canonical form, as Set would store them, and the three values
// share one allocation: this runs for every request.
func (d Decision) SetHeaders(h http.Header) {
	v := make([]string, 3)
	v[0], v[1], v[2] = strconv.Itoa(d.Limit), strconv.Itoa(d.Remaining), strconv.FormatInt(ceilSeconds(d.Reset), 10)
	h["Ratelimit-Limit"], h["Ratelimit-Remaining"], h["Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// SourceKey is the bucket key of a client address: an IPv4 address as it is, an IPv6 address
// by its /64, the block one subscriber usually gets (one host can pick any of its 2^64
// addresses). Anything unparsable is its own key.
func SourceKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, _ := addr.WithZone("").Prefix(64) // cannot fail for an IPv6 address without zone
	return prefix.String()
}
