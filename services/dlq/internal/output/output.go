// Package output writes what the commands found: a table or text for people, JSON for programs.
// JSON is one object per line (NDJSON) for record listings, so `dlq list --output json | jq`
// streams, and one object for a report (stats, a replay's summary).
package output

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

// Format is table (or text) for people, json for programs.
type Format string

const (
	Table Format = "table"
	JSON  Format = "json"
)

// ParseFormat checks an --output value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, "text":
		return Table, nil
	case JSON:
		return JSON, nil
	}
	return "", fmt.Errorf("--output: %q is not table or json", s)
}

// Record is a record as JSON: key and value as strings (value_base64 instead when the value is
// not UTF-8), headers as an object (the last of a repeated name wins).
type Record struct {
	Topic          string            `json:"topic"`
	Partition      int32             `json:"partition"`
	Offset         int64             `json:"offset"`
	Timestamp      time.Time         `json:"timestamp,omitzero"`
	Key            *string           `json:"key"`
	Value          *string           `json:"value"`
	ValueBase64    string            `json:"value_base64,omitempty"`
	Headers        map[string]string `json:"headers"`
	Decision       string            `json:"decision,omitempty"`        // dry run: send, capped, held-invalid, held-old
	Conversion     *event.Conversion `json:"conversion,omitempty"`      // what AdEventsX would receive
	TransformError string            `json:"transform_error,omitempty"` // why the forwarder would dead-letter it as invalid
}

// NewRecord is r as JSON, without a preview.
func NewRecord(r *kgo.Record) Record {
	out := Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(),
		Headers: make(map[string]string, len(r.Headers)),
	}
	if r.Key != nil {
		k := string(r.Key)
		out.Key = &k
	}
	if utf8.Valid(r.Value) {
		v := string(r.Value)
		out.Value = &v
	} else {
		out.ValueBase64 = base64.StdEncoding.EncodeToString(r.Value)
	}
	for _, h := range r.Headers {
		out.Headers[h.Key] = string(h.Value)
	}
	return out
}

// WithPreview adds what the forwarder would make of the record: the body AdEventsX would
// receive, or why the record is not an event.
func (r Record) WithPreview(raw event.Raw, invalid error) Record {
	if invalid != nil {
		r.TransformError = invalid.Error()
		return r
	}
	c := raw.Conversion()
	r.Conversion = &c
	return r
}

// Lines writes JSON objects one per line through a buffer; call Flush at the end.
type Lines struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewLines writes to w.
func NewLines(w io.Writer) *Lines {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Lines{w: bw, enc: enc}
}

// Write writes v as one line.
func (l *Lines) Write(v any) error { return l.enc.Encode(v) }

// Flush writes what is buffered.
func (l *Lines) Flush() error { return l.w.Flush() }

// ListHeader is the first line of a list table. Columns have fixed widths so that a table of a
// million rows streams without being held in memory to be aligned.
const ListHeader = "PART  OFFSET      FAILED_AT             REASON     STATUS  TRIES  REPLAYS  EVENT_ID                              ERROR\n"

// ListRow is one line of a list table.
func ListRow(r *kgo.Record) string {
	f := dlqrecord.Read(r)
	status := "none" // as --status and stats call it
	if f.HTTPStatus != 0 {
		status = strconv.Itoa(f.HTTPStatus)
	}
	reason := f.Reason
	if reason == "" {
		reason = "-"
	}
	errText, _ := deadletter.Header(r.Headers, deadletter.HeaderError)
	return fmt.Sprintf("%-5d %-11d %-21s %-10s %-7s %-6d %-8d %-37s %s\n",
		r.Partition, r.Offset, f.FailedAt.UTC().Format("2006-01-02T15:04:05Z"), reason, status,
		f.Attempts, f.ReplayCount, clip(printable(r.Key), 36), clip(errText, 100))
}

// Show writes one record in full, as text: where it is, its key, every header, its value, and
// when preview is set what the forwarder would make of it.
func Show(w io.Writer, r *kgo.Record, raw event.Raw, invalid error, preview bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  (written %s)\n", dlqrecord.Where(r), r.Timestamp.UTC().Format(time.RFC3339Nano))
	if r.Key == nil {
		b.WriteString("  key:       (none)\n")
	} else {
		fmt.Fprintf(&b, "  key:       %s\n", printable(r.Key))
	}
	b.WriteString("  headers:\n")
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "    %s: %s\n", h.Key, printable(h.Value))
	}
	omitted, wasOmitted := deadletter.Header(r.Headers, deadletter.HeaderOmitted)
	if wasOmitted {
		fmt.Fprintf(&b, "  value:     (left out when dead-lettered: %s)\n", omitted)
	} else {
		fmt.Fprintf(&b, "  value:     %s\n", printable(r.Value))
	}
	if preview {
		if wasOmitted {
			fmt.Fprintf(&b, "  transform: none: %s\n", invalid)
		} else if invalid != nil {
			fmt.Fprintf(&b, "  transform: not an event, the forwarder would dead-letter it as invalid: %s\n", invalid)
		} else {
			body, _ := json.Marshal(raw.Conversion())
			fmt.Fprintf(&b, "  transform: %s\n", body)
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// printable shows bytes as text, quoting them when they are not plain UTF-8 without control
// characters, so a garbage record cannot mess up a terminal.
func printable(b []byte) string {
	s := string(b)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	return strconv.Quote(s)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-3]) + "..."
}

// sortedByCount orders a count map largest first, then by name.
func sortedByCount(m map[string]int64) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}
