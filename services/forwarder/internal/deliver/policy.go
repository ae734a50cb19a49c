package deliver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Verdict is what the retry policy makes of one attempt.
type Verdict int

const (
	// Delivered: AdEventsX took the event (2xx).
	Delivered Verdict = iota
	// Retry: a passing failure (429, 5xx, 3xx, 408, timeout, connection error); try again after
	// a pause. A redirect is never followed: it is the destination failing, not the event.
	Retry
	// Reject: AdEventsX refused the event itself (other 4xx); retrying cannot help, unless the
	// health gate finds every event getting the same answer.
	Reject
	// Refused: 401/403 (our key) or 404/405/410 (the endpoint is wrong or gone). The event is
	// fine: a destination-wide problem, so the event waits instead of being rejected.
	Refused
)

func (v Verdict) String() string {
	switch v {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Reject:
		return "reject"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Classify decides what an attempt's HTTP status or transport error means. status is 0 when the
// request got no response (err set).
func Classify(status int, err error) Verdict {
	if err != nil {
		// Timeouts, refused or reset connections, DNS trouble and truncated responses are all
		// passing failures of the network or of the destination.
		return Retry
	}
	switch {
	case status >= 200 && status < 300:
		return Delivered
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound,
		status == http.StatusMethodNotAllowed, status == http.StatusGone:
		return Refused
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500,
		status >= 300 && status < 400, status < 200:
		return Retry
	default:
		return Reject
	}
}

// ErrorClass names the kind of transport failure for metrics and the DLQ's dlq.error line.
func ErrorClass(err error) string {
	var urlErr *url.Error
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connect"
	case errors.As(err, &urlErr):
		return "connection"
	}
	return "other"
}

// RetryAfter reads a Retry-After header, in delta-seconds or as an HTTP-date, and caps it. It
// returns 0 when the header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time, limit time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > int64(limit/time.Second)+1 {
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), limit)
}
