package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
)

// Publisher writes one event record and returns once it is durably stored, or an error when it
// is not (including when ctx ends first).
type Publisher interface {
	Publish(ctx context.Context, key, value []byte) error
}

// retryAfterSeconds is what a 503 tells the client to wait.
const retryAfterSeconds = "5"

// acceptedBody is the body of a 202.
type acceptedBody struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
}

// invalidEventBody is the body of a 400 for an event that breaks the rules.
type invalidEventBody struct {
	Error  string             `json:"error"`
	Fields []event.FieldError `json:"fields"`
}

type eventsHandler struct {
	log       *slog.Logger
	publisher Publisher
	names     event.Names
	timeout   time.Duration
	maxBody   int64
}

// post serves POST /events: one event, answered 202 only after Kafka acknowledged it.
func (h *eventsHandler) post(c *gin.Context) {
	ctx := c.Request.Context()

	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mediaType != "application/json" {
		c.JSON(http.StatusUnsupportedMediaType, errorBody{Error: "unsupported_media_type"})
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.JSON(http.StatusRequestEntityTooLarge, errorBody{Error: "body_too_large"})
			return
		}
		// The client went away or sent a broken body; nobody is likely to read this answer.
		c.JSON(http.StatusBadRequest, errorBody{Error: "invalid_request"})
		return
	}

	raw, err := event.Decode(body, h.names)
	if err != nil {
		var invalid *event.ValidationError
		if !errors.As(err, &invalid) {
			h.log.ErrorContext(ctx, "decode event", "error", err)
			c.JSON(http.StatusInternalServerError, errorBody{Error: "internal_error"})
			return
		}
		c.JSON(http.StatusBadRequest, invalidEventBody{Error: "invalid_event", Fields: invalid.Fields})
		return
	}

	value, err := raw.MarshalJSON()
	if err != nil {
		h.log.ErrorContext(ctx, "encode event", "event_id", raw.EventID, "error", err)
		c.JSON(http.StatusInternalServerError, errorBody{Error: "internal_error"})
		return
	}

	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := h.publisher.Publish(pctx, []byte(raw.EventID), value); err != nil {
		h.log.WarnContext(ctx, "publish event", "event_id", raw.EventID, "client_id", auth.ClientID(c), "error", err)
		c.Header("Retry-After", retryAfterSeconds)
		c.JSON(http.StatusServiceUnavailable, errorBody{Error: "unavailable"})
		return
	}
	c.JSON(http.StatusAccepted, acceptedBody{Status: "accepted", EventID: raw.EventID})
}
