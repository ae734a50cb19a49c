package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/martech/eventfwd/libs/event"
)

// FuzzDecodeBatch feeds the batch envelope and the per-item decoding arbitrary bodies. It must
// never panic, must name a problem for every body it refuses, and must split an accepted body
// into the same elements encoding/json finds. More seeds are in testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	for _, seed := range []string{
		"[" + snakeEvent + "," + camelEvent + "]",
		`{"events":[` + snakeEvent + `],"other":[1,{"a":"]"}]}`,
		`[{"event_id":"x\"],["}, 1, "s", null, [[]]]`,
		`[]`,
		`{"events":5}`,
		"[\n  {\"a\":1},\n  {\"b\" 2}\n]",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		"",
	} {
		f.Add([]byte(seed))
	}
	names := event.NewNames(event.DefaultNames...)
	f.Fuzz(func(t *testing.T, body []byte) {
		items, problem := splitBatch(body)
		if problem != nil {
			if problem.Field == "" || problem.Reason == "" {
				t.Errorf("splitBatch(%q) refused it without saying why: %+v", body, problem)
			}
			return
		}
		if len(items) < 1 || len(items) > MaxBatchEvents {
			t.Fatalf("splitBatch(%q) accepted %d items", body, len(items))
		}
		var array []json.RawMessage
		if err := json.Unmarshal(body, &array); err != nil {
			var envelope struct{ Events []json.RawMessage }
			if err := json.Unmarshal(body, &envelope); err != nil {
				t.Fatalf("splitBatch(%q) accepted what encoding/json cannot read: %v", body, err)
			}
			array = envelope.Events
		}
		if len(array) != len(items) {
			t.Fatalf("splitBatch(%q) found %d items, encoding/json %d", body, len(items), len(array))
		}
		for i, item := range items {
			if !json.Valid(item) {
				t.Fatalf("item %d %q is not JSON", i, item)
			}
			_, err := event.Decode(item, names)
			var invalid *event.ValidationError
			if err != nil && !errors.As(err, &invalid) {
				t.Fatalf("event.Decode(item %d %q) = %v, not a ValidationError", i, item, err)
			}
		}
	})
}
