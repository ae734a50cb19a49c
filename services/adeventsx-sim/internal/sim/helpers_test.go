package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testKey = "test-key"

// newSim starts a simulator behind httptest with default settings unless opts says otherwise.
func newSim(t *testing.T, opts Options) (*Handler, *httptest.Server) {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	if opts.Settings == (Settings{}) {
		opts.Settings = DefaultSettings()
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Stop) // runs first, so that Close does not wait for held requests
	return h, srv
}

func validBody(id string) string {
	return fmt.Sprintf(`{"id":%q,"user":"u-1","name":"purchase","ts":1700000000,"value_cents":1999,"campaign":"c-9","source":"internal_martech"}`, id)
}

// conversionRequest builds a POST /v1/conversions with the right headers for body's id.
func conversionRequest(ctx context.Context, t *testing.T, srv *httptest.Server, id, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/conversions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Idempotency-Key", id)
	return req
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, srv *httptest.Server, req *http.Request) result {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

type statusOrError struct {
	status int
	err    error
}

// post is do for other goroutines than the test's, which must not call t.Fatal.
func post(srv *httptest.Server, req *http.Request) statusOrError {
	resp, err := srv.Client().Do(req)
	if err != nil {
		return statusOrError{err: err}
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return statusOrError{status: resp.StatusCode, err: err}
}

func send(t *testing.T, srv *httptest.Server, id string) result {
	t.Helper()
	return do(t, srv, conversionRequest(t.Context(), t, srv, id, validBody(id)))
}

func control(t *testing.T, srv *httptest.Server, patch string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/_sim/control", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, srv, req)
}

func mustControl(t *testing.T, srv *httptest.Server, patch string) {
	t.Helper()
	if got := control(t, srv, patch); got.status != http.StatusOK {
		t.Fatalf("control %s: %d %s", patch, got.status, got.body)
	}
}

func get(t *testing.T, srv *httptest.Server, path string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, srv, req)
}

func getJSON(t *testing.T, srv *httptest.Server, path string, v any) {
	t.Helper()
	got := get(t, srv, path)
	if got.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, got.status, got.body)
	}
	if err := json.Unmarshal(got.body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, got.body)
	}
}

// receivedJSON mirrors GET /_sim/received as an outside test would decode it.
type receivedJSON struct {
	Count      int64 `json:"count"`
	Total      int64 `json:"total"`
	Duplicates int64 `json:"duplicates"`
	Events     []struct {
		ID                      string          `json:"id"`
		Times                   int64           `json:"times"`
		FirstReceivedAtUnixNano int64           `json:"first_received_at_unix_nano"`
		IdempotencyKey          string          `json:"idempotency_key"`
		Body                    json.RawMessage `json:"body"`
	} `json:"events"`
}

type statsJSON struct {
	Requests  int64            `json:"requests"`
	InFlight  int64            `json:"in_flight"`
	Responses map[string]int64 `json:"responses"`
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func errorField(t *testing.T, body []byte) errorView {
	t.Helper()
	var v errorView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return v
}
