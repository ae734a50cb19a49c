package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

const (
	// maxDepth bounds how deeply a document may nest, so a hostile body cannot make anything
	// that walks it recurse without end.
	maxDepth = 32
	// maxIDBytes bounds the free-form string fields; ids longer than this are garbage, not ids.
	maxIDBytes = 256
)

// field is one field of the event: its two accepted spellings and how to read it into a Raw.
type field struct {
	snake, camel string
	required     bool
	read         func(r *Raw, raw json.RawMessage, names Names) string // returns a reason, "" if fine
}

// fields is in CONTRACT.md order, which is also the order errors are reported in.
var fields = []field{
	{"event_id", "eventId", true, readEventID},
	{"user_id", "userId", true, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.UserID, reason = readID(raw)
		return reason
	}},
	{"event_name", "eventName", true, readEventName},
	{"event_time", "eventTime", true, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.EventTime, reason = readTime(raw)
		return reason
	}},
	{"value", "value", true, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.Value, reason = readValue(raw)
		return reason
	}},
	{"campaign_id", "campaignId", true, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.CampaignID, reason = readID(raw)
		return reason
	}},
	{"source", "source", false, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.Source, reason = readOptional(raw)
		return reason
	}},
	{"click_id", "clickId", false, func(r *Raw, raw json.RawMessage, _ Names) (reason string) {
		r.ClickID, reason = readOptional(raw)
		return reason
	}},
}

// Decode parses one JSON object and checks it against every rule of CONTRACT.md. On any problem
// it returns a *ValidationError naming every broken rule, not just the first.
//
// Beyond the contract's wording: a JSON null counts as absent; a field given twice (in both
// spellings, or twice in one) must carry the same value both times; a string that is a plain
// JSON number is accepted for event_time as epoch seconds or milliseconds, like a number.
func Decode(data []byte, names Names) (Raw, error) {
	vals, errs := splitObject(data)
	if len(errs) > 0 {
		return Raw{}, &ValidationError{Fields: errs}
	}
	var r Raw
	for i, f := range fields {
		v := vals[i]
		switch {
		case v.conflict != "":
			errs = append(errs, FieldError{f.snake, v.conflict})
		case v.raw == nil && f.required:
			errs = append(errs, FieldError{f.snake, "is required"})
		case v.raw != nil:
			if reason := f.read(&r, v.raw, names); reason != "" {
				errs = append(errs, FieldError{f.snake, reason})
			}
		}
	}
	if len(errs) > 0 {
		return Raw{}, &ValidationError{Fields: errs}
	}
	return r, nil
}

// given is what the document holds for one field: the first spelling seen and its value, or why
// it cannot be used.
type given struct {
	key      string
	raw      json.RawMessage // nil when absent or null
	conflict string
}

// splitObject checks that data is one JSON object of bounded depth and returns the values of the
// known fields, in the order of fields.
func splitObject(data []byte) ([]given, []FieldError) {
	// The depth check comes first: it is a flat loop, and it names the problem where the
	// standard library would only report its own limit as a syntax error.
	if tooDeep(data, maxDepth) {
		return nil, bodyError(fmt.Sprintf("must not be nested deeper than %d levels", maxDepth))
	}
	// Unmarshal validates the whole input (including trailing data) before copying it.
	var whole json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, bodyError(fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error()))
		}
		return nil, bodyError("invalid JSON: " + err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(whole))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bodyError("must be a JSON object")
	}
	vals := make([]given, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bodyError("invalid JSON: " + err.Error())
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bodyError("invalid JSON: " + err.Error())
		}
		raw = bytes.TrimSpace(raw)
		i := slices.IndexFunc(fields, func(f field) bool { return key == f.snake || key == f.camel })
		if i < 0 || string(raw) == "null" {
			continue // unknown fields are allowed; null is the same as absent
		}
		v := &vals[i]
		switch {
		case v.raw == nil:
			v.key, v.raw = key, raw
		case v.conflict == "" && !sameJSON(v.raw, raw):
			v.conflict = fmt.Sprintf("given twice as %s and %s", v.key, key)
		}
	}
	return vals, nil
}

func bodyError(reason string) []FieldError {
	return []FieldError{{Field: "body", Reason: reason}}
}

// tooDeep reports whether JSON nests arrays and objects deeper than limit.
func tooDeep(data []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// sameJSON compares two values by meaning, so "a" and "\u0061" agree. Depth is already bounded.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	return da.Decode(&va) == nil && db.Decode(&vb) == nil && reflect.DeepEqual(va, vb)
}

func readString(raw json.RawMessage) (string, string) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", "must be a string"
	}
	return s, ""
}

func readEventID(r *Raw, raw json.RawMessage, _ Names) string {
	s, reason := readString(raw)
	if reason != "" {
		return reason
	}
	if !isUUID(s) {
		return "must be a UUID"
	}
	// Kept exactly as sent: it is the Kafka key and the idempotency key.
	r.EventID = s
	return ""
}

// isUUID checks the canonical 8-4-4-4-12 hex form, either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// readID reads a required id: a string that is not blank, kept as sent.
func readID(raw json.RawMessage) (string, string) {
	s, reason := readOptional(raw)
	if reason == "" && strings.TrimSpace(s) == "" {
		return "", "must not be empty"
	}
	return s, reason
}

func readOptional(raw json.RawMessage) (string, string) {
	s, reason := readString(raw)
	if reason == "" && len(s) > maxIDBytes {
		return "", fmt.Sprintf("must be at most %d bytes", maxIDBytes)
	}
	return s, reason
}

func readEventName(r *Raw, raw json.RawMessage, names Names) string {
	s, reason := readString(raw)
	if reason != "" {
		return reason
	}
	if _, ok := names[s]; !ok {
		all := make([]string, 0, len(names))
		for n := range names {
			all = append(all, n)
		}
		slices.Sort(all)
		return "must be one of " + strings.Join(all, ", ")
	}
	r.EventName = s
	return ""
}
