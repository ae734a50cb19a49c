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
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

var testTokens = auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), "eventfwd-ingress", "eventfwd-events", time.Hour)

// published is one call to a fake Publisher.
type published struct {
	Key, Value string
}

// fakePublisher records what it is asked to publish and answers err; with block it waits for
// the context to end instead, like a producer whose broker does not answer.
type fakePublisher struct {
	err   error
	block bool

	mu    sync.Mutex
	calls []published
}

func (p *fakePublisher) Publish(ctx context.Context, key, value []byte) error {
	p.mu.Lock()
	p.calls = append(p.calls, published{Key: string(key), Value: string(value)})
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
	handler  http.Handler
	registry *prometheus.Registry
}

func newTestServer(t *testing.T, pub Publisher, checker Checker, produceTimeout time.Duration) testServer {
	t.Helper()
	clients, err := auth.ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(Config{
		Log:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Publisher:      pub,
		Readiness:      checker,
		Clients:        clients,
		Tokens:         testTokens,
		Names:          event.NewNames(event.DefaultNames...),
		ProduceTimeout: produceTimeout,
		MaxBodyBytes:   1024,
		Registry:       reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return testServer{handler: h, registry: reg}
}

func validToken(t *testing.T) string {
	t.Helper()
	token, err := testTokens.Issue("web", time.Now())
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
