// Package deliver sends conversions to AdEventsX: one HTTP attempt (Client.Send), the retry
// policy that classifies an attempt (Classify, RetryAfter), and the retry loop (Deliverer) that
// waits with exponential backoff and asks the destination's health gate before each attempt.
package deliver

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Attempt is the result of one HTTP request.
type Attempt struct {
	Status     int   // 0 when there was no response
	Err        error // transport error, nil when there was a response
	RetryAfter time.Duration
	Verdict    Verdict
	Took       time.Duration
}

// Client posts one conversion per request to $ADEVENTSX_URL/v1/conversions.
type Client struct {
	http          *http.Client
	endpoint      string
	apiKey        string
	timeout       time.Duration
	retryAfterCap time.Duration
}

// NewClient returns a Client with a connection pool sized for maxConns concurrent requests.
func NewClient(baseURL, apiKey string, attemptTimeout, retryAfterCap time.Duration, maxConns int) *Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{
		http:          &http.Client{Transport: tr},
		endpoint:      strings.TrimRight(baseURL, "/") + "/v1/conversions",
		apiKey:        apiKey,
		timeout:       attemptTimeout,
		retryAfterCap: retryAfterCap,
	}
}

// Send makes one attempt with its own timeout. ctx should not be the caller's stop signal: an
// attempt is let finish so that we know whether AdEventsX got the event.
func (c *Client) Send(ctx context.Context, eventID string, body []byte) Attempt {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: err, Verdict: Reject}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", c.apiKey)
	req.Header.Set("Idempotency-Key", eventID)
	resp, err := c.http.Do(req)
	if err != nil {
		return Attempt{Err: err, Verdict: Classify(0, err), Took: time.Since(start)}
	}
	// Drain a little so the connection can be reused; the body itself tells us nothing we act on.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return Attempt{
		Status:     resp.StatusCode,
		RetryAfter: RetryAfter(resp.Header, time.Now(), c.retryAfterCap),
		Verdict:    Classify(resp.StatusCode, nil),
		Took:       time.Since(start),
	}
}

// CloseIdle closes idle connections at shutdown.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }
