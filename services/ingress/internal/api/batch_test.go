package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

const otherID = "9b2e7c1a-3f4d-4e5a-8b6c-7d8e9f0a1b2c"

var otherEvent = strings.Replace(snakeEvent, eventID, otherID, 1)

// repeatEvents is a JSON array of n copies of ev.
func repeatEvents(n int, ev string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(ev+",", n), ",") + "]"
}

func TestPostBatch(t *testing.T) {
	token := validToken(t)
	type give struct {
		contentType   string
		body          string
		publishErr    error
		publishBlocks bool
	}
	type want struct {
		status     int
		body       string // compared as JSON; "" skips the comparison
		retryAfter string
		published  []published
		batches    int
	}
	invalidUser := `{"event_id":"` + otherID + `","event_name":"purchase","event_time":"2024-05-01T12:00:00Z","value":1,"campaign_id":"c-1"}`
	otherCanonical := strings.Replace(snakeCanonical, eventID, otherID, 1)
	tests := []struct {
		name string
		give give
		want want
	}{
		{
			name: "array, accepted and invalid",
			give: give{contentType: "application/json", body: "[" + snakeEvent + "," + invalidUser + "," + camelEvent + "]"},
			want: want{
				status: http.StatusOK,
				body: `{"accepted":2,"invalid":1,"items":[` +
					`{"index":0,"status":"accepted","event_id":"` + eventID + `"},` +
					`{"index":1,"status":"invalid","fields":[{"field":"user_id","reason":"is required"}]},` +
					`{"index":2,"status":"accepted","event_id":"` + eventID + `"}]}`,
				published: []published{{Key: eventID, Value: snakeCanonical}, {Key: eventID, Value: camelCanonical}},
				batches:   1,
			},
		},
		{
			name: "envelope with other keys",
			give: give{contentType: "application/json", body: `{"source":"x","events":[` + otherEvent + `]}`},
			want: want{
				status:    http.StatusOK,
				body:      `{"accepted":1,"invalid":0,"items":[{"index":0,"status":"accepted","event_id":"` + otherID + `"}]}`,
				published: []published{{Key: otherID, Value: otherCanonical}},
				batches:   1,
			},
		},
		{
			name: "nothing valid is still answered item by item",
			give: give{contentType: "application/json", body: `[` + invalidUser + `, 5]`},
			want: want{
				status: http.StatusOK,
				body: `{"accepted":0,"invalid":2,"items":[` +
					`{"index":0,"status":"invalid","fields":[{"field":"user_id","reason":"is required"}]},` +
					`{"index":1,"status":"invalid","fields":[{"field":"body","reason":"must be a JSON object"}]}]}`,
			},
		},
		{
			name: "most events",
			give: give{contentType: "application/json", body: repeatEvents(MaxBatchEvents, snakeEvent)},
			want: want{status: http.StatusOK, published: slices.Repeat([]published{{Key: eventID, Value: snakeCanonical}}, MaxBatchEvents), batches: 1},
		},
		{
			name: "too many events",
			give: give{contentType: "application/json", body: repeatEvents(MaxBatchEvents+1, "{}")},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"events","reason":"must hold at most 500 events, holds 501"}]}`},
		},
		{
			name: "empty array",
			give: give{contentType: "application/json", body: ` [ ] `},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"events","reason":"must hold at least 1 event"}]}`},
		},
		{
			name: "events not an array",
			give: give{contentType: "application/json", body: `{"events":{"event_id":"x"}}`},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"events","reason":"must be an array of events"}]}`},
		},
		{
			name: "envelope without events",
			give: give{contentType: "application/json", body: `{"event":[]}`},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"events","reason":"is required"}]}`},
		},
		{
			name: "a string",
			give: give{contentType: "application/json", body: `"events"`},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"body","reason":"must be a JSON array of events or an object {\"events\": [...]}"}]}`},
		},
		{
			name: "malformed, place named",
			give: give{contentType: "application/json", body: "[\n  {\"a\":1},\n  {\"b\" 2}\n]"},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"body",` +
				`"reason":"invalid JSON at line 3, column 8 (byte 21): invalid character '2' after object key"}]}`},
		},
		{
			name: "too deep",
			give: give{contentType: "application/json", body: strings.Repeat("[", 35) + strings.Repeat("]", 35)},
			want: want{status: http.StatusBadRequest, body: `{"error":"invalid_batch","fields":[{"field":"body","reason":"must not be nested deeper than 34 levels"}]}`},
		},
		{
			name: "not json",
			give: give{contentType: "text/csv", body: snakeEvent},
			want: want{status: http.StatusUnsupportedMediaType, body: `{"error":"unsupported_media_type"}`},
		},
		{
			name: "too large",
			give: give{contentType: "application/json", body: `[{"x":"` + strings.Repeat("x", MaxBatchBytes) + `"}]`},
			want: want{status: http.StatusRequestEntityTooLarge, body: `{"error":"body_too_large"}`},
		},
		{
			name: "kafka fails: nothing is reported accepted",
			give: give{contentType: "application/json", body: "[" + snakeEvent + "," + invalidUser + "]", publishErr: errors.New("NOT_ENOUGH_REPLICAS")},
			want: want{status: http.StatusServiceUnavailable, body: `{"error":"unavailable"}`, retryAfter: "5",
				published: []published{{Key: eventID, Value: snakeCanonical}}, batches: 1},
		},
		{
			name: "kafka does not answer",
			give: give{contentType: "application/json", body: "[" + snakeEvent + "]", publishBlocks: true},
			want: want{status: http.StatusServiceUnavailable, body: `{"error":"unavailable"}`, retryAfter: "5",
				published: []published{{Key: eventID, Value: snakeCanonical}}, batches: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{err: tt.give.publishErr, block: tt.give.publishBlocks}
			srv := newTestServer(t, pub, fakeChecker{}, 50*time.Millisecond)

			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events/batch", strings.NewReader(tt.give.body))
			req.Header.Set("Content-Type", tt.give.contentType)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, req)

			if rec.Code != tt.want.status {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.want.status, rec.Body.String())
			}
			if tt.want.body != "" {
				if got, want := compactJSON(t, rec.Body.String()), compactJSON(t, tt.want.body); got != want {
					t.Errorf("body = %s\nwant   %s", got, want)
				}
			}
			if got := rec.Header().Get("Retry-After"); got != tt.want.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.want.retryAfter)
			}
			if got := pub.published(); !slices.Equal(got, tt.want.published) {
				t.Errorf("published %d records %.300q, want %d", len(got), got, len(tt.want.published))
			}
			if pub.batches != tt.want.batches {
				t.Errorf("published in %d calls, want %d", pub.batches, tt.want.batches)
			}
		})
	}
}

func TestPostBatchNeedsToken(t *testing.T) {
	pub := &fakePublisher{}
	srv := newTestServer(t, pub, fakeChecker{}, time.Second)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/events/batch", strings.NewReader("["+snakeEvent+"]"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || len(pub.published()) != 0 {
		t.Errorf("got %d and %d records published, want 401 and none", rec.Code, len(pub.published()))
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		give string
		want []string
	}{
		{give: `[1]`, want: []string{"1"}},
		{give: `[ {"a":[1,2]} , "x,]" ,[3,{}] ]`, want: []string{`{"a":[1,2]}`, `"x,]"`, `[3,{}]`}},
		{give: `["\"],["]`, want: []string{`"\"],["`}},
		{give: `[]`, want: nil},
		{give: "[\n]", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			var got []string
			for _, item := range splitArray([]byte(tt.give)) {
				got = append(got, string(item))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitArray(%s) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
