package sim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/event"
)

// MaxBodyBytes bounds a POST /v1/conversions body; a conversion is a few hundred bytes.
const MaxBodyBytes = 64 << 10

// statusHold is the injected "status" that holds a request like a timeout.
const statusHold = 0

var (
	tagDown     = []string{"down"}
	tagFailNext = []string{"fail_next"}
	tagStopping = []string{"stopping"}
)

// conversions serves POST /v1/conversions; see the package comment for the order of decisions.
func (h *Handler) conversions(w http.ResponseWriter, r *http.Request) {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	st := h.stats.Load()
	st.requests.Add(1)
	st.count(h.answerConversion(w, r))
}

// answerConversion answers and returns the status to count.
func (h *Handler) answerConversion(w http.ResponseWriter, r *http.Request) int {
	set := h.settings.Load()
	if !h.authorized(r.Header) {
		return h.reply(w, r, set, http.StatusUnauthorized, errorBody(http.StatusUnauthorized), nil)
	}
	if set.Down {
		return h.inject(w, r, set, set.DownStatus, tagDown)
	}
	if fn := h.failNext.Load(); fn.take() {
		return h.inject(w, r, set, fn.status, tagFailNext)
	}
	if set.shareSum > 0 {
		if inj, ok := set.pick(h.rand.Float64()); ok {
			return h.inject(w, r, set, inj.status, inj.tag)
		}
	}

	conv, status, detail := decodeConversion(w, r)
	if status != 0 {
		b, _ := json.Marshal(errorView{Error: errorName(status), Detail: detail})
		return h.reply(w, r, set, status, append(b, '\n'), nil)
	}

	if status := h.wait(r.Context(), h.delay(set)); status != 0 {
		return h.interrupted(w, status)
	}
	now := time.Now()
	h.store.Load().add(&conv, now.UnixNano())
	buf := make([]byte, 0, 80)
	buf = append(buf, `{"status":"accepted","received_at":"`...)
	buf = now.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, "\"}\n"...)
	writeRaw(w, http.StatusAccepted, buf, nil)
	return http.StatusAccepted
}

func (h *Handler) authorized(hdr http.Header) bool {
	v := hdr["X-Api-Key"]
	return len(v) == 1 && subtle.ConstantTimeCompare([]byte(v[0]), h.apiKey) == 1
}

// inject answers with an injected failure; status 0 holds the request.
func (h *Handler) inject(w http.ResponseWriter, r *http.Request, set *active, status int, tag []string) int {
	if status != statusHold {
		return h.reply(w, r, set, status, errorBody(status), tag)
	}
	// net/http notices a client hanging up only once the body was read to its end.
	drain(r)
	switch got := h.wait(r.Context(), set.TimeoutHold); got {
	case 0:
		writeRaw(w, http.StatusGatewayTimeout, errorBody(http.StatusGatewayTimeout), tag)
		return http.StatusGatewayTimeout
	default:
		return h.interrupted(w, got)
	}
}

// reply waits the configured latency, then answers.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request, set *active, status int, body []byte, tag []string) int {
	if d := h.delay(set); d > 0 {
		drain(r)
		if got := h.wait(r.Context(), d); got != 0 {
			return h.interrupted(w, got)
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header()["Retry-After"] = set.retryAfter
	}
	writeRaw(w, status, body, tag)
	return status
}

// interrupted answers a request whose wait ended early: 503 when the simulator stops; when the
// client went away the answer goes nowhere, but net/http must not default to a 200.
func (h *Handler) interrupted(w http.ResponseWriter, status int) int {
	if status == http.StatusServiceUnavailable {
		writeRaw(w, status, errorBody(status), tagStopping)
		return status
	}
	writeRaw(w, http.StatusGatewayTimeout, errorBody(http.StatusGatewayTimeout), nil)
	return status
}

func (h *Handler) delay(set *active) time.Duration {
	d := set.Latency
	if set.LatencyJitter > 0 {
		d += time.Duration(h.rand.Int64N(int64(set.LatencyJitter) + 1))
	}
	return d
}

// wait returns 0 after d, statusClientClosed when the client went away first, or 503 when
// the simulator stops first.
func (h *Handler) wait(ctx context.Context, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-ctx.Done():
		return statusClientClosed
	case <-h.stopping:
		return http.StatusServiceUnavailable
	}
}

func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodyBytes))
}

func errorName(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	return "invalid_payload"
}

// wireConversion has pointers to tell a missing or null field from a zero one.
type wireConversion struct {
	ID         *string `json:"id"`
	User       *string `json:"user"`
	Name       *string `json:"name"`
	TS         *int64  `json:"ts"`
	ValueCents *int64  `json:"value_cents"`
	Campaign   *string `json:"campaign"`
	Source     *string `json:"source"`
}

// decodeConversion checks the content type, the body and the Idempotency-Key. A non-zero
// status (400, 413 or 415) comes with a one-line detail.
func decodeConversion(w http.ResponseWriter, r *http.Request) (event.Conversion, int, string) {
	if !isJSON(r.Header) {
		return event.Conversion{}, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
	}
	var wc wireConversion
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&wc)
	if err == nil {
		err = noTrailingData(dec)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return event.Conversion{}, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", mbe.Limit)
		}
		return event.Conversion{}, http.StatusBadRequest, decodeDetail(err)
	}

	var problems, missing []string
	str := func(name string, p *string) string {
		switch {
		case p == nil:
			missing = append(missing, name)
			return ""
		case *p == "":
			problems = append(problems, name+": must not be empty")
		}
		return *p
	}
	num := func(name string, p *int64) int64 {
		if p == nil {
			missing = append(missing, name)
			return 0
		}
		return *p
	}
	c := event.Conversion{
		ID:         str("id", wc.ID),
		User:       str("user", wc.User),
		Name:       str("name", wc.Name),
		TS:         num("ts", wc.TS),
		ValueCents: num("value_cents", wc.ValueCents),
		Campaign:   str("campaign", wc.Campaign),
		Source:     str("source", wc.Source),
	}
	if wc.TS != nil && c.TS <= 0 {
		problems = append(problems, fmt.Sprintf("ts: %d must be a positive epoch second", c.TS))
	}
	if wc.ValueCents != nil && c.ValueCents < 0 {
		problems = append(problems, fmt.Sprintf("value_cents: %d must not be negative", c.ValueCents))
	}
	if wc.Source != nil && c.Source != event.ConversionSource {
		problems = append(problems, fmt.Sprintf("source: must be %q, got %q", event.ConversionSource, c.Source))
	}
	switch key := r.Header["Idempotency-Key"]; {
	case len(key) == 0 || key[0] == "":
		problems = append(problems, "Idempotency-Key header: is required")
	case len(key) > 1:
		problems = append(problems, "Idempotency-Key header: must be sent once")
	case wc.ID != nil && key[0] != c.ID:
		problems = append(problems, fmt.Sprintf("Idempotency-Key header: %q must equal id %q", key[0], c.ID))
	}
	if len(missing) > 0 {
		problems = append([]string{"missing or null: " + strings.Join(missing, ", ")}, problems...)
	}
	if len(problems) > 0 {
		return event.Conversion{}, http.StatusBadRequest, strings.Join(problems, "; ")
	}
	return c, 0, ""
}

func isJSON(hdr http.Header) bool {
	v := hdr["Content-Type"]
	if len(v) == 0 {
		return false
	}
	ct, _, _ := strings.Cut(v[0], ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

func noTrailingData(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("body has data after the JSON object")
	}
	return nil
}

// decodeDetail turns a decoding error into one line naming the field.
func decodeDetail(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		want := "a string"
		if typeErr.Field == "ts" || typeErr.Field == "value_cents" {
			want = "an integer"
		}
		return fmt.Sprintf("%s: must be %s, got %s", typeErr.Field, want, typeErr.Value)
	case errors.As(err, &typeErr):
		return "body must be a JSON object, got " + typeErr.Value
	case errors.As(err, &syntaxErr):
		return "body is not valid JSON: " + syntaxErr.Error()
	case errors.Is(err, io.EOF):
		return "body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body is truncated JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ") // e.g. unknown field "x"
}
