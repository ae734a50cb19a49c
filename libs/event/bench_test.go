package event

import "testing"

// BenchmarkDecode measures a typical event as producers send it.
func BenchmarkDecode(b *testing.B) {
	data := []byte(`{"event_id":"3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b","user_id":"u-1","event_name":"purchase",` +
		`"event_time":"2026-11-24T10:00:00Z","value":"19.99","campaign_id":"c-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, testNames); err != nil {
			b.Fatal(err)
		}
	}
}
