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
	// The request paid one event to come in; a large body pays for its size before it is read
	// any further.
	if extra := sizeCost(len(body)) - 1; extra > 0 && !h.limiter.take(c, extra) {
		return
	}

	raw, err := event.Decode(body, h.names)
	if err != nil {
		var invalid *event.ValidationError
		if !errors.As(err, &invalid) {
			h.log.ErrorContext(ctx, "decode event", "err", err)
			c.JSON(http.StatusInternalServerError, errorBody{Error: "internal_error"})
			return
		}
		c.JSON(http.StatusBadRequest, invalidEventBody{Error: "invalid_event", Fields: invalid.Fields})
		return
	}

	value, err := raw.MarshalJSON()
	if err != nil {
		h.log.ErrorContext(ctx, "encode event", "event_id", raw.EventID, "err", err)
		c.JSON(http.StatusInternalServerError, errorBody{Error: "internal_error"})
		return
	}

	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := h.publisher.Publish(pctx, []byte(raw.EventID), value); err != nil {
		// The access log's line for this 503 carries the error, sampled with the other errors.
		_ = c.Error(fmt.Errorf("publish event %s: %w", raw.EventID, err))
		unavailable(c)
		return
	}
	writeAccepted(c, raw.EventID)
}

// readJSONBody checks the Content-Type and reads the body up to limit bytes, answering 415, 413
// or 400 itself when it cannot.
func readJSONBody(c *gin.Context, limit int64) ([]byte, bool) {
	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mediaType != "application/json" {
		c.JSON(http.StatusUnsupportedMediaType, errorBody{Error: "unsupported_media_type"})
		return nil, false
	}
	if c.Request.ContentLength > limit {
		// Refused before reading a byte of it.
		c.Header("Connection", "close")
		c.JSON(http.StatusRequestEntityTooLarge, errorBody{Error: "body_too_large"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
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

// unavailable answers 503: Kafka did not take the write in time.
func unavailable(c *gin.Context) {
	c.Header("Retry-After", retryAfterSeconds)
	c.JSON(http.StatusServiceUnavailable, errorBody{Error: "unavailable"})
}
