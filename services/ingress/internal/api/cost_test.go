package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// worstBodies are 1 MiB bodies built to cost the most CPU to refuse or accept.
var worstBodies = func() map[string]string {
	const size = 1 << 20
	pad := func(prefix, unit, suffix string) string {
		n := (size - len(prefix) - len(suffix)) / len(unit)
		return prefix + strings.TrimSuffix(strings.Repeat(unit, n), ",") + suffix
	}
	return map[string]string{
		"duplicate keys":      pad("{", `"user_id":"\u0075",`, "}"),
		"unknown keys":        pad("{", `"a":1,`, "}"),
		"escaped string":      pad(`{"x":"`, `\u00e9`, `"}`),
		"long user_id":        pad(`{"user_id":"`, "x", `"}`),
		"nested arrays":       pad(`{"x":[`, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]],", `]}`),
		"numbers":             pad(`{"x":[`, "1e-999999999999,", `]}`),
		"valid event + pad":   pad(snakeEvent[:len(snakeEvent)-1]+`,"pad":"`, "x", `"}`),
		"invalid JSON at end": pad(`{"x":"`, "x", `"`),
	}
}()

// BenchmarkEventCost measures a normal event against the worst 1 MiB bodies, through the whole
// handler (auth, rate limit, read, decode, publish to a fake). Issue 9, item 6: a 1 MiB body of
// duplicate keys cost 500x a normal event.
func BenchmarkEventCost(b *testing.B) {
	srv := newTestServerWith(b, &fakePublisher{}, fakeChecker{}, time.Second, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	token := validToken(b)
	run := func(b *testing.B, body string) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, req)
		}
	}
	b.Run("normal event", func(b *testing.B) { run(b, snakeEvent) })
	for name, body := range worstBodies {
		b.Run(name, func(b *testing.B) { run(b, body) })
	}
}

func TestWorstBodiesAreAMebibyte(t *testing.T) {
	for name, body := range worstBodies {
		if n := len(body); n > 1<<20 || n < 1<<20-64 {
			t.Errorf("%s: %d bytes, want about 1 MiB", name, n)
		}
	}
}
