package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/ingress/internal/publish"
)

// Publisher writes event records and returns once they are durably stored, or an error when
// they are not (including when ctx ends first).
type Publisher interface {
	Publish(ctx context.Context, key, value []byte) error
	PublishBatch(ctx context.Context, records []publish.Record) error
}

// retryAfterSeconds is what a 503 tells the client to wait.
const retryAfterSeconds = "5"

// writeAccepted writes the 202 body {"status":"accepted","event_id":...} without reflection, the
// busiest answer of all. event.Decode let only a UUID through: nothing in it needs escaping.
func writeAccepted(c *gin.Context, eventID string) {
	body := make([]byte, 0, 64)
	body = append(body, `{"status":"accepted","event_id":"`...)
	body = append(body, eventID...)
	body = append(body, `"}`...)
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", body)
}

// invalidEventBody is the body of a 400 for an event that breaks the rules.
type invalidEventBody struct {
	Error  string             `json:"error"`
	Fields []event.FieldError `json:"fields"`
}

type eventsHandler struct {
	log       *slog.Logger
	publisher Publisher
	limiter   *eventLimiter
	names     event.Names
	timeout   time.Duration
	maxBody   int64
}

// post serves POST /events: one event, answered 202 only after Kafka acknowledged it.
func (h *eventsHandler) post(c *gin.Context) {
	ctx := c.Request.Context()

	body, ok := readJSONBody(c, h.maxBody)
	if !ok {
		return
	}
	// A large body pays for its size before it is read any further.
	if _, ok := h.limiter.chargeSize(c, len(body)); !ok {
		return
	}
	rec, id, invalid := h.decodeRecord(body)
	if invalid != nil {
		c.JSON(http.StatusBadRequest, invalidEventBody{Error: "invalid_event", Fields: invalid})
		return
	}

	pctx, cancel := h.publishContext(ctx)
	defer cancel()
	if err := h.publisher.Publish(pctx, rec.Key, rec.Value); err != nil {
		// The access log's line for this 503 carries the error, sampled with the other errors.
		_ = c.Error(fmt.Errorf("publish event %s: %w", id, err))
		unavailable(c)
		return
	}
	writeAccepted(c, id)
}

// decodeRecord checks one event and returns its record for Kafka (the canonical JSON, keyed by
// event_id) and its id, or every rule it broke.
func (h *eventsHandler) decodeRecord(data []byte) (publish.Record, string, []event.FieldError) {
	raw, err := event.Decode(data, h.names)
	if err != nil {
		var invalid *event.ValidationError
		if errors.As(err, &invalid) {
			return publish.Record{}, "", invalid.Fields
		}
		return publish.Record{}, "", []event.FieldError{{Field: "body", Reason: err.Error()}} // Decode returns no other error
	}
	// The canonical form is about as long as what came in: one allocation, most of the time.
	return publish.Record{Key: []byte(raw.EventID), Value: raw.AppendJSON(make([]byte, 0, len(data)+64))}, raw.EventID, nil
}

// publishContext bounds a write to Kafka by the produce timeout alone, keeping ctx's values (the
// trace). It is not cut short when the client goes away: an event handed to Kafka is finished
// either way (a client that left got no 202 and may send it again; dedupe absorbs the copy), and
// not linking it to the request's cancellation spares every request that link's cost.
func (h *eventsHandler) publishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
}

// readJSONBody checks the Content-Type and reads the body up to limit bytes, answering 415, 413
// or 400 itself when it cannot.
func readJSONBody(c *gin.Context, limit int64) ([]byte, bool) {
	if !isJSON(c.Request.Header["Content-Type"]) {
		c.JSON(http.StatusUnsupportedMediaType, errorBody{Error: "unsupported_media_type"})
		return nil, false
	}
	if c.Request.ContentLength > limit {
		// Refused before reading a byte of it.
		c.Header("Connection", "close")
		c.JSON(http.StatusRequestEntityTooLarge, errorBody{Error: "body_too_large"})
		return nil, false
	}
	var body []byte
	var err error
	if n := c.Request.ContentLength; n >= 0 && n <= exactReadBytes {
		// A small known length: read exactly that much (the body ends there).
		body = make([]byte, n)
		_, err = io.ReadFull(c.Request.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.JSON(http.StatusRequestEntityTooLarge, errorBody{Error: "body_too_large"})
			return nil, false
		}
		// The client went away or sent a broken body; nobody is likely to read this answer.
		c.JSON(http.StatusBadRequest, errorBody{Error: "invalid_request"})
		return nil, false
	}
	return body, true
}

// exactReadBytes is the largest declared body read into a buffer of its size at once (an event
// is a few hundred bytes). A larger one grows as its bytes arrive: a client declaring a mebibyte
// and sending nothing must not hold a mebibyte per connection.
const exactReadBytes = 4 << 10

// isJSON reports whether a request's Content-Type values say application/json. The plain value,
// what nearly every client sends, is told without parsing.
func isJSON(values []string) bool {
	if len(values) == 0 {
		return false
	}
	if values[0] == "application/json" {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(values[0])
	return err == nil && mediaType == "application/json"
}

// unavailable answers 503: Kafka did not take the write in time.
func unavailable(c *gin.Context) {
	c.Header("Retry-After", retryAfterSeconds)
	c.JSON(http.StatusServiceUnavailable, errorBody{Error: "unavailable"})
}
