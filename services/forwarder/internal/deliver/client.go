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
	Detail     string // the start of a non-2xx answer's body, on one line, our key masked
}

// maxDetail is how much of a refusal's body an Attempt keeps: enough for the API's reason.
const maxDetail = 300

// Client posts one conversion per request to $ADEVENTSX_URL/v1/conversions.
type Client struct {
	http          *http.Client
	endpoint      string
	apiKey        string
	timeout       time.Duration
	retryAfterCap time.Duration
}

// ClientConfig says where and how the Client sends.
type ClientConfig struct {
	BaseURL        string // ADEVENTSX_URL; requests go to BaseURL/v1/conversions
	APIKey         string // sent as X-Api-Key
	AttemptTimeout time.Duration
	RetryAfterCap  time.Duration // longest Retry-After honoured
	MaxConns       int           // concurrent requests the connection pool is sized for
}

// NewClient returns a Client with a connection pool sized for cfg.MaxConns concurrent requests.
func NewClient(cfg ClientConfig) *Client {
	maxConns := cfg.MaxConns
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
		http: &http.Client{
			Transport: tr,
			// Never follow a redirect: a POST followed as a GET that is answered 2xx would count
			// as delivered an event AdEventsX never got, and X-Api-Key would go to whatever host
			// the Location names. The 3xx itself comes back, a failure of the destination.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		endpoint:      strings.TrimRight(cfg.BaseURL, "/") + "/v1/conversions",
		apiKey:        cfg.APIKey,
		timeout:       cfg.AttemptTimeout,
		retryAfterCap: cfg.RetryAfterCap,
	}
}

// send makes one attempt with its own timeout. ctx should not be the caller's stop signal: an
// attempt is let finish so that we know whether AdEventsX got the event.
func (c *Client) send(ctx context.Context, eventID string, body []byte) Attempt {
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
	var detail string
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Why AdEventsX refused, for dlq.error; we act on the status alone.
		// Masked before cut: a key across the cut would otherwise leave its first part.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(maxDetail+len(c.apiKey))))
		detail = c.oneLine(b)
		if len(detail) > maxDetail {
			detail = strings.ToValidUTF8(detail[:maxDetail], "") + "..."
		}
	}
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return Attempt{
		Status:     resp.StatusCode,
		RetryAfter: RetryAfter(resp.Header, time.Now(), c.retryAfterCap),
		Verdict:    Classify(resp.StatusCode, nil),
		Took:       time.Since(start),
		Detail:     detail,
	}
}

// oneLine makes b printable on one line, with our API key masked should the API echo it.
func (c *Client) oneLine(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if c.apiKey != "" {
		s = strings.ReplaceAll(s, c.apiKey, "[api key]")
	}
	return s
}

// CloseIdle closes idle connections at shutdown.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }
