package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	eventID = "5f0c6f0e-8d1a-4b8e-9a43-1d2c3b4a5f60"

	snakeEvent = `{"event_id":"` + eventID + `","user_id":"u-1","event_name":"purchase",` +
		`"event_time":"2024-05-01T12:00:00Z","value":19.99,"campaign_id":"c-1"}`
	camelEvent = `{"eventId":"` + eventID + `","userId":"u-1","eventName":"lead","eventTime":1714564800,` +
		`"value":"5","campaignId":"c-1","clickId":"k-9","extra":{"ignored":true}}`

	snakeCanonical = `{"event_id":"` + eventID + `","user_id":"u-1","event_name":"purchase",` +
		`"event_time":"2024-05-01T12:00:00Z","value":19.99,"campaign_id":"c-1"}`
	camelCanonical = `{"event_id":"` + eventID + `","user_id":"u-1","event_name":"lead",` +
		`"event_time":"2024-05-01T12:00:00Z","value":5,"campaign_id":"c-1","click_id":"k-9"}`

	accepted = `{"status":"accepted","event_id":"` + eventID + `"}`
)

func TestPostEvents(t *testing.T) {
	token := validToken(t)
	type give struct {
		authorization string
		contentType   string
		body          string
		publishErr    error
		publishBlocks bool
	}
	type want struct {
		status     int
		body       string
		retryAfter string
		published  []published
	}
	tests := []struct {
		name string
		give give
		want want
	}{
		{
			name: "snake_case event",
			give: give{authorization: "Bearer " + token, contentType: "application/json", body: snakeEvent},
			want: want{status: http.StatusAccepted, body: accepted, published: []published{{Key: eventID, Value: snakeCanonical}}},
		},
		{
			name: "camelCase event is published in canonical form",
			give: give{authorization: "Bearer " + token, contentType: "application/json; charset=utf-8", body: camelEvent},
			want: want{status: http.StatusAccepted, body: accepted, published: []published{{Key: eventID, Value: camelCanonical}}},
		},
		{
			name: "invalid event lists every field",
			give: give{authorization: "Bearer " + token, contentType: "application/json",
				body: `{"event_id":"nope","event_name":"purchase","event_time":"2024-05-01T12:00:00Z","value":1,"campaign_id":"c-1"}`},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_event","fields":[` +
				`{"field":"event_id","reason":"must be a UUID"},{"field":"user_id","reason":"is required"}]}`},
		},
		{
			name: "not an object",
			give: give{authorization: "Bearer " + token, contentType: "application/json", body: `["` + eventID + `"]`},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_event","fields":[` +
				`{"field":"body","reason":"must be a JSON object"}]}`},
		},
		{
			name: "no token",
			give: give{contentType: "application/json", body: snakeEvent},
			want: want{status: http.StatusUnauthorized, body: `{"error":"invalid_token","error_description":"missing bearer token"}`},
		},
		{
			name: "bad token",
			give: give{authorization: "Bearer " + token + "x", contentType: "application/json", body: snakeEvent},
			want: want{status: http.StatusUnauthorized, body: `{"error":"invalid_token","error_description":"token is invalid"}`},
		},
		{
			name: "body too large",
			give: give{authorization: "Bearer " + token, contentType: "application/json",
				body: `{"event_id":"` + eventID + `","padding":"` + strings.Repeat("x", 1024) + `"}`},
			want: want{status: http.StatusRequestEntityTooLarge, body: `{"error":"body_too_large"}`},
		},
		{
			name: "text/plain",
			give: give{authorization: "Bearer " + token, contentType: "text/plain", body: snakeEvent},
			want: want{status: http.StatusUnsupportedMediaType, body: `{"error":"unsupported_media_type"}`},
		},
		{
			name: "no content type",
			give: give{authorization: "Bearer " + token, body: snakeEvent},
			want: want{status: http.StatusUnsupportedMediaType, body: `{"error":"unsupported_media_type"}`},
		},
		{
			name: "publisher fails",
			give: give{authorization: "Bearer " + token, contentType: "application/json", body: snakeEvent,
				publishErr: errors.New("NOT_ENOUGH_REPLICAS")},
			want: want{status: http.StatusServiceUnavailable, body: `{"error":"unavailable"}`, retryAfter: "5",
				published: []published{{Key: eventID, Value: snakeCanonical}}},
		},
		{
			name: "publisher times out",
			give: give{authorization: "Bearer " + token, contentType: "application/json", body: snakeEvent,
				publishBlocks: true},
			want: want{status: http.StatusServiceUnavailable, body: `{"error":"unavailable"}`, retryAfter: "5",
				published: []published{{Key: eventID, Value: snakeCanonical}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{err: tt.give.publishErr, block: tt.give.publishBlocks}
			srv := newTestServer(t, pub, fakeChecker{}, 50*time.Millisecond)

			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events", strings.NewReader(tt.give.body))
			req.Header.Set("Content-Type", tt.give.contentType)
			req.Header.Set("Authorization", tt.give.authorization)
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, req)

			if rec.Code != tt.want.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.want.status)
			}
			if got, want := compactJSON(t, rec.Body.String()), compactJSON(t, tt.want.body); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.want.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.want.retryAfter)
			}
			if got := pub.published(); !slices.Equal(got, tt.want.published) {
				t.Errorf("published %q, want %q", got, tt.want.published)
			}
			if strings.Contains(rec.Body.String(), token[len(token)-16:]) {
				t.Errorf("response %s echoes the token", rec.Body.String())
			}
		})
	}
}

// TestPostEventsNeverHangs checks that a publisher that never answers costs a request no more
// than the produce timeout.
func TestPostEventsNeverHangs(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := newTestServer(t, &fakePublisher{block: true}, fakeChecker{}, timeout)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events", strings.NewReader(snakeEvent))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+validToken(t))
	rec := httptest.NewRecorder()

	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.handler.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(timeout + 2*time.Second):
		t.Fatalf("handler still running %s after the request started; produce timeout is %s", time.Since(start), timeout)
	}
	elapsed := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("got %d with Retry-After %q, want 503 with Retry-After 5", rec.Code, rec.Header().Get("Retry-After"))
	}
	if elapsed < timeout {
		t.Errorf("answered after %s, before the produce timeout %s: the publisher was not waited for", elapsed, timeout)
	}
}

// A body is held in memory as its bytes arrive, not as its Content-Length declares: a client
// declaring a mebibyte and sending ten bytes before it stops costs the ingress ten bytes' worth,
// not a mebibyte per connection. An event's exact length is still read at once.
func TestADeclaredLengthIsNotAllocatedBeforeItsBytesArrive(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	allocated := func(declared int64, body string) uint64 {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
		c.Request.Header.Set("Content-Type", "application/json")
		c.Request.ContentLength = declared
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		readJSONBody(c, 1<<20)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	if got := allocated(1<<20, `{"event_id":`); got > 64<<10 {
		t.Errorf("a body declared 1 MiB that sent 12 bytes allocated %d bytes", got)
	}
	if got := allocated(int64(len(snakeEvent)), snakeEvent); got > 4<<10 {
		t.Errorf("an event of %d bytes allocated %d bytes", len(snakeEvent), got)
	}
}
