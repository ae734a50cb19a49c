package event

import (
	"encoding/json"
	"testing"
)

func FuzzDecode(f *testing.F) {
	seeds := []string{
		body(),
		body("value", `"12.50"`, "event_time", `1709208000123`, "source", `"web"`, "click_id", `"k"`),
		body("event_time", `"2024-02-29T12:00:00.5+05:30"`, "value", `1.005`),
		body("event_time", `"2024-02-29"`, "value", `0`),
		body("event_time", `"2024-02-29 12:00:00"`, "value", `92233720368547758.07`),
		body("event_time", `"1709208000"`, "value", `1e-64`),
		body("eventId", `"3F2B8C1E-9D4A-4E6B-8F1A-2C3D4E5F6A7B"`),
		body("value", `-1`, "event_time", `-1e300`),
		`{"eventId":"x","userId":"用户-ü","eventName":"lead","eventTime":99999999999,"value":"1e300","campaignId":" "}`,
		`{}`, `[]`, `null`, ``, `{"a":[[[[{}]]]]}`, body() + `x`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data, testNames)
		if err != nil {
			return
		}
		c := r.Conversion()
		if c.ValueCents < 0 || c.TS < 0 || c.ID != r.EventID {
			t.Fatalf("Decode(%q) gave conversion %+v", data, c)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", r, err)
		}
		again, err := Decode(b, testNames)
		if err != nil {
			t.Fatalf("Decode(Marshal(Decode(%q))) = %v; marshalled %s", data, err, b)
		}
		if !sameRaw(again, r) {
			t.Fatalf("round trip of %q: %+v, want %+v", data, again, r)
		}
	})
}
