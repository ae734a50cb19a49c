package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/ingress/internal/publish"
)

const (
	// MaxBatchEvents is the most events one POST /events/batch may carry.
	MaxBatchEvents = 500
	// MaxBatchBytes is the largest body POST /events/batch accepts.
	MaxBatchBytes = 1 << 20
	// maxBatchDepth bounds the nesting of a whole batch: the envelope's two levels around events
	// that event.Decode bounds to event.MaxDepth each.
	maxBatchDepth = event.MaxDepth + 2
)

// Item statuses in a batch answer.
const (
	statusAccepted = "accepted"
	statusInvalid  = "invalid"
)

// batchItem is one event's result in the answer to a batch, in the order sent.
type batchItem struct {
	Index   int                `json:"index"`
	Status  string             `json:"status"`
	EventID string             `json:"event_id,omitempty"`
	Fields  []event.FieldError `json:"fields,omitempty"`
}

// batchBody is the 200 answer to a well-formed batch: every item's result and the counts.
type batchBody struct {
	Accepted int         `json:"accepted"`
	Invalid  int         `json:"invalid"`
	Items    []batchItem `json:"items"`
}

// postBatch serves POST /events/batch: a JSON array of events, or {"events":[...]}. A
// well-formed batch is answered 200 with one result per item, accepted or invalid with its field
// errors, and only after Kafka acknowledged every accepted item; when Kafka does not in time the
// whole batch is answered 503, and no item counts as accepted.
func (h *eventsHandler) postBatch(c *gin.Context) {
	ctx := c.Request.Context()

	body, ok := readJSONBody(c, MaxBatchBytes)
	if !ok {
		return
	}
	// Its size is paid before it is checked, its items beyond that once they are counted.
	paid, ok := h.limiter.chargeSize(c, len(body))
	if !ok {
		return
	}
	items, problem := splitBatch(body)
	if problem != nil {
		c.JSON(http.StatusBadRequest, invalidEventBody{Error: "invalid_batch", Fields: []event.FieldError{*problem}})
		return
	}
	if len(items) > paid && !h.limiter.take(c, len(items)-paid) {
		return
	}

	answer := batchBody{Items: make([]batchItem, len(items))}
	records := make([]publish.Record, 0, len(items))
	for i, item := range items {
		answer.Items[i].Index = i
		rec, id, invalid := h.decodeRecord(item)
		if invalid != nil {
			answer.Items[i].Status, answer.Items[i].Fields = statusInvalid, invalid
			answer.Invalid++
			continue
		}
		records = append(records, rec)
		answer.Items[i].Status, answer.Items[i].EventID = statusAccepted, id
		answer.Accepted++
	}

	if len(records) > 0 {
		pctx, cancel := h.publishContext(ctx)
		defer cancel()
		if err := h.publisher.PublishBatch(pctx, records); err != nil {
			// The access log's line for this 503 carries the error, sampled with the other errors.
			_ = c.Error(fmt.Errorf("publish batch of %d events: %w", len(records), err))
			unavailable(c)
			return
		}
	}
	c.JSON(http.StatusOK, answer)
}

// splitBatch returns the items of a batch body, each the raw bytes of one array element, or
// the problem with the body as a whole.
func splitBatch(data []byte) ([]json.RawMessage, *event.FieldError) {
	// Depth first, with a flat loop: nothing below recurses into an unbounded document.
	if event.TooDeep(data, maxBatchDepth) {
		return nil, &event.FieldError{Field: "body", Reason: fmt.Sprintf("must not be nested deeper than %d levels", maxBatchDepth)}
	}
	if !json.Valid(data) {
		return nil, &event.FieldError{Field: "body", Reason: syntaxProblem(data)}
	}
	data = bytes.TrimSpace(data)
	var array []byte
	switch data[0] {
	case '[':
		array = data
	case '{':
		var envelope struct {
			Events json.RawMessage `json:"events"`
		}
		// Valid JSON with an object at the top: Unmarshal cannot fail. Other keys are ignored.
		_ = json.Unmarshal(data, &envelope)
		events := bytes.TrimSpace(envelope.Events)
		switch {
		case len(events) == 0 || string(events) == "null":
			return nil, &event.FieldError{Field: "events", Reason: "is required"}
		case events[0] != '[':
			return nil, &event.FieldError{Field: "events", Reason: "must be an array of events"}
		}
		array = events
	default:
		return nil, &event.FieldError{Field: "body", Reason: `must be a JSON array of events or an object {"events": [...]}`}
	}
	items := splitArray(array)
	switch {
	case len(items) == 0:
		return nil, &event.FieldError{Field: "events", Reason: "must hold at least 1 event"}
	case len(items) > MaxBatchEvents:
		return nil, &event.FieldError{Field: "events", Reason: fmt.Sprintf("must hold at most %d events, holds %d", MaxBatchEvents, len(items))}
	}
	return items, nil
}

// splitArray returns the elements of a valid JSON array, as slices of it.
func splitArray(array []byte) []json.RawMessage {
	var items []json.RawMessage
	start := 1
	event.Walk(array, func(i int, c byte, depth int) bool {
		if depth != 1 {
			return true
		}
		switch c {
		case '}', ']': // the array's own closing bracket
			if item := bytes.TrimSpace(array[start:i]); len(item) > 0 {
				items = append(items, item)
			}
		case ',':
			items = append(items, bytes.TrimSpace(array[start:i]))
			start = i + 1
		}
		return true
	})
	return items
}

// syntaxProblem says where and why data is not JSON, by line and column (both from 1).
func syntaxProblem(data []byte) string {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		return "invalid JSON"
	}
	offset := min(int(syn.Offset), len(data))
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	// Offset counts the offending byte, so it is that byte's column on a line of its own.
	column := max(1, offset-bytes.LastIndexByte(data[:offset], '\n')-1)
	return fmt.Sprintf("invalid JSON at line %d, column %d (byte %d): %s", line, column, offset, syn.Error())
}
