package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxDepth bounds how deeply an event may nest, so a hostile body cannot make anything
	// that walks it recurse without end.
	MaxDepth = 32
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
var fields = [...]field{
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
	for i := range fields {
		f, v := &fields[i], &vals[i]
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
	raw      json.RawMessage // nil when absent or null; a slice of the input, never kept
	conflict string
}

// splitObject checks that data is one JSON object of bounded depth and returns the values of the
// known fields, in the order of fields.
func splitObject(data []byte) ([len(fields)]given, []FieldError) {
	var vals [len(fields)]given
	// The depth check comes first: it is a flat loop, and it names the problem where the
	// standard library would only report its own limit as a syntax error.
	if TooDeep(data, MaxDepth) {
		return vals, bodyError(fmt.Sprintf("must not be nested deeper than %d levels", MaxDepth))
	}
	// Valid checks the whole input, trailing data included, without building anything. Only a
	// broken body pays for Unmarshal, which says where and why.
	if !json.Valid(data) {
		return vals, syntaxError(data)
	}
	// From here data is known to be valid JSON, so the walk below needs no error checks: it
	// only finds where each top-level key and value begins and ends.
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return vals, bodyError("must be a JSON object")
	}
	for i = skipSpace(data, i+1); data[i] != '}'; {
		keyEnd := stringEnd(data, i)
		key := data[i:keyEnd]
		start := skipSpace(data, skipSpace(data, keyEnd)+1) // past the colon
		end := valueEnd(data, start)
		raw := json.RawMessage(data[start:end])
		if i = skipSpace(data, end); data[i] == ',' {
			i = skipSpace(data, i+1)
		}

		k, name := fieldIndex(key)
		if k < 0 || string(raw) == "null" {
			continue // unknown fields are allowed; null is the same as absent
		}
		v := &vals[k]
		if v.raw != nil {
			// Refused at its first repeat, whatever the values: comparing them costs more
			// than the walk, and a body could repeat a key 50,000 times.
			return vals, []FieldError{{fields[k].snake, fmt.Sprintf("given twice as %s and %s", v.key, name)}}
		}
		v.key, v.raw = name, raw
	}
	return vals, nil
}

// syntaxError says where and why data, which json.Valid refused, is not JSON.
func syntaxError(data []byte) []FieldError {
	var whole json.RawMessage
	err := json.Unmarshal(data, &whole)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return bodyError(fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error()))
	case err != nil:
		return bodyError("invalid JSON: " + err.Error())
	}
	return bodyError("invalid JSON") // not reached: Valid and Unmarshal share one scanner
}

// fieldIndex returns the index in fields of the quoted object key, and the key unquoted, or -1
// when the key is none of the accepted spellings.
func fieldIndex(key []byte) (int, string) {
	name := key[1 : len(key)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		var s string
		_ = json.Unmarshal(key, &s) // a key from valid JSON always unquotes
		name = []byte(s)
	}
	// Names with invalid UTF-8 never match: unquoting would turn it into U+FFFD, and every
	// spelling is ASCII.
	for i := range fields {
		switch f := &fields[i]; string(name) {
		case f.snake:
			return i, f.snake
		case f.camel:
			return i, f.camel
		}
	}
	return -1, ""
}

// skipSpace returns the index of the first byte from i on that is not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at data[i].
func stringEnd(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// valueEnd returns the index just past the JSON value that starts at data[i].
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = stringEnd(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(data)
	}
	// A number, true, false or null runs to the next delimiter.
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

func bodyError(reason string) []FieldError {
	return []FieldError{{Field: "body", Reason: reason}}
}

// TooDeep reports whether the JSON in data nests arrays and objects deeper than limit. It is a
// flat loop over the bytes, so it is safe to run before anything that recurses into data, and it
// works on invalid JSON too. Decode refuses an event deeper than MaxDepth.
func TooDeep(data []byte, limit int) bool {
	deep := false
	Walk(data, func(_ int, c byte, depth int) bool {
		deep = (c == '{' || c == '[') && depth > limit
		return !deep
	})
	return deep
}

// Walk calls visit for each byte of data outside JSON strings that opens or closes an object or
// array, or separates values (','), with its nesting depth: for '{' and '[' the depth they open,
// for '}' and ']' the depth they close, for ',' the depth it sits at. visit returns false to stop.
// A flat loop over the bytes: safe on invalid or deeply nested input.
func Walk(data []byte, visit func(i int, c byte, depth int) bool) {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
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
			if !visit(i, c, depth) {
				return
			}
		case c == '}' || c == ']':
			if !visit(i, c, depth) {
				return
			}
			depth--
		case c == ',':
			if !visit(i, c, depth) {
				return
			}
		}
	}
}

// unquote returns the text of the JSON string raw; ok is false when raw is not a string.
func unquote(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// Most strings need no work: no escapes, and valid UTF-8, which Unmarshal would otherwise
	// repair with U+FFFD. Control characters cannot occur unescaped in valid JSON.
	if text := raw[1 : len(raw)-1]; bytes.IndexByte(text, '\\') < 0 && utf8.Valid(text) {
		return string(text), true
	}
	return unquoteSlow(raw)
}

// unquoteSlow is apart from unquote so that only strings that need it pay for the heap
// allocation of s, whose address escapes to Unmarshal.
func unquoteSlow(raw json.RawMessage) (string, bool) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// readString reads a string field whose text passes checkText.
func readString(raw json.RawMessage) (string, string) {
	s, ok := unquote(raw)
	if !ok {
		return "", "must be a string"
	}
	if reason := checkText(raw, s); reason != "" {
		return "", reason
	}
	return s, ""
}

// checkText refuses what has no place in an id and would be forwarded as it is: invalid UTF-8
// and lone surrogates (which decoding would quietly turn into U+FFFD), control characters (C0,
// DEL, C1: NUL, newlines, escape sequences for a terminal), and the bidirectional embeddings,
// overrides and isolates, which make text display in another order than it is stored (an id
// shown as another in a log or a DLQ listing). Zero-width characters and directional marks
// stay allowed: scripts and emoji sequences use them, and ids are compared byte for byte.
// raw is the JSON string, s its text.
func checkText(raw json.RawMessage, s string) string {
	if !utf8.Valid(raw) {
		return "must be valid UTF-8"
	}
	if bytes.Contains(raw, []byte(`\u`)) && loneSurrogate(raw) {
		return `must not contain a lone surrogate (\ud800-\udfff)`
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "must not contain control characters"
		case '\u202a' <= r && r <= '\u202e', '\u2066' <= r && r <= '\u2069':
			return "must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069)"
		}
	}
	return ""
}

// loneSurrogate reports whether the JSON string raw escapes half of a UTF-16 surrogate pair
// without the other half.
func loneSurrogate(raw json.RawMessage) bool {
	pendingHigh := false
	for i := 1; i < len(raw)-1; i++ {
		if raw[i] != '\\' {
			if pendingHigh {
				return true
			}
			continue
		}
		if raw[i+1] != 'u' {
			if pendingHigh {
				return true
			}
			i++ // the escaped byte
			continue
		}
		v, _ := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16) // valid JSON: four hex digits
		i += 5
		switch {
		case 0xd800 <= v && v < 0xdc00:
			if pendingHigh {
				return true
			}
			pendingHigh = true
		case 0xdc00 <= v && v < 0xe000:
			if !pendingHigh {
				return true
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return pendingHigh
}

func readEventID(r *Raw, raw json.RawMessage, _ Names) string {
	s, reason := readString(raw)
	if reason != "" {
		return reason
	}
	if !isUUID(s) {
		return "must be a UUID"
	}
	// In canonical lowercase (RFC 9562: UUIDs are case-insensitive): it is the Kafka key, the
	// dedupe key and the idempotency key, so ABC... and abc... must be one event everywhere.
	r.EventID = strings.ToLower(s)
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
