package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/publish"
	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

var testTokens = func() *auth.Tokens {
	keys, err := auth.NewKeys(map[string][]byte{"k1": []byte("0123456789abcdef0123456789abcdef")}, "k1")
	if err != nil {
		panic(err)
	}
	return auth.NewTokens(keys, "eventfwd-ingress", "eventfwd-events", time.Hour)
}()

// testLimit is the event rate limit of the test servers unless a test sets its own.
var testLimit = ratelimit.Limit{Rate: 1e6, Burst: 1e6}

// published is one call to a fake Publisher.
type published struct {
	Key, Value string
}

// fakePublisher records what it is asked to publish and answers err; with block it waits for
// the context to end instead, like a producer whose broker does not answer.
type fakePublisher struct {
	err   error
	block bool

	mu      sync.Mutex
	calls   []published
	batches int
}

func (p *fakePublisher) Publish(ctx context.Context, key, value []byte) error {
	return p.PublishBatch(ctx, []publish.Record{{Key: key, Value: value}})
}

func (p *fakePublisher) PublishBatch(ctx context.Context, records []publish.Record) error {
	p.mu.Lock()
	for _, r := range records {
		p.calls = append(p.calls, published{Key: string(r.Key), Value: string(r.Value)})
	}
	p.batches++
	p.mu.Unlock()
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.err
}

func (p *fakePublisher) published() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]published(nil), p.calls...)
}

type fakeChecker struct{ err error }

func (c fakeChecker) Ready(context.Context) error { return c.err }

type testServer struct {
	handler  http.Handler // the public port
	admin    http.Handler // the admin listener
	registry *prometheus.Registry
}

func newTestServer(t testing.TB, pub Publisher, checker Checker, produceTimeout time.Duration) testServer {
	t.Helper()
	return newTestServerWith(t, pub, checker, produceTimeout, func(*Config) {})
}

// newTestServerWith lets a test change the configuration before the router is built.
func newTestServerWith(t testing.TB, pub Publisher, checker Checker, produceTimeout time.Duration, edit func(*Config)) testServer {
	t.Helper()
	clients, err := auth.ParseClients("web:s3cret-web,app:s3cret-app")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Log:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Publisher:      pub,
		Clients:        clients,
		Tokens:         testTokens,
		Names:          event.NewNames(event.DefaultNames...),
		ProduceTimeout: produceTimeout,
		MaxBodyBytes:   1024,
		EventLimit:     testLimit,
		TokenLimit:     ratelimit.Limit{Rate: 1, Burst: 10},
		OpenAPI:        []byte(`{"openapi":"3.0.3"}`),
		Registry:       reg,
	}
	edit(&cfg)
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testServer{handler: h, admin: NewAdmin(cfg.Log, checker, reg), registry: reg}
}

func validToken(t testing.TB) string {
	t.Helper()
	return tokenFor(t, "web")
}

func tokenFor(t testing.TB, clientID string) string {
	t.Helper()
	token, err := testTokens.Issue(auth.Client{ID: clientID, Scopes: []string{auth.ScopeEventsWrite}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// compactJSON normalises a JSON document (key order, spacing) for comparison.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q is not JSON: %v", s, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
