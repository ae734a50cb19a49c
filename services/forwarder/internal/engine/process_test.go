package engine

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/event"
)

func TestDecodeNamesWhatIsWrongWithARecord(t *testing.T) {
	const id = "0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	good := `{"event_id":"` + id + `","user_id":"u","event_name":"lead","event_time":"2026-01-01","value":1,"campaign_id":"c"}`
	e := &Engine{cfg: Config{MaxRecordBytes: 256, Names: event.NewNames("lead")}}
	tests := []struct {
		name    string
		key     []byte
		value   string
		wantErr string // "" for a valid event
	}{
		{"valid", []byte(id), good, ""},
		{"not JSON", []byte(id), "hello", "invalid JSON"},
		{"wrong fields", []byte(id), `{"event_id":"` + id + `","value":-2}`, "user_id: is required"},
		{"NUL in a field", []byte(id), strings.Replace(good, `"u"`, `"u\u0000"`, 1), "user_id: must not contain control characters"},
		{"field given twice", []byte(id), strings.Replace(good, `"value":1`, `"value":1,"value":1`, 1), "value: given twice"},
		{"null key", nil, good, "no key"},
		{"key is not the event_id", []byte("other"), good, `record key "other" is not the event_id`},
		{"oversized", []byte(id), good + strings.Repeat(" ", 300), "over the 256-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.decode(&kgo.Record{Key: tt.key, Value: []byte(tt.value)})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Fatalf("decode error = %q, want one containing %q", got, tt.wantErr)
			}
		})
	}
}
