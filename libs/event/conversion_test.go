package event

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestConversionValueCents(t *testing.T) {
	tests := []struct {
		name string
		give string // value as raw JSON
		want int64
	}{
		{"19.99", `19.99`, 1999},
		{"0.29", `0.29`, 29},
		{"1.005 half up", `1.005`, 101},
		{"numeric string 12.50", `"12.50"`, 1250},
		{"0.005 half up", `0.005`, 1},
		{"0.004 down", `0.004`, 0},
		{"0.0049999 down", `0.0049999`, 0},
		{"0.015 half up", `0.015`, 2},
		{"2.675 half up", `2.675`, 268},
		{"zero", `0`, 0},
		{"whole", `42`, 4200},
		{"exponent", `1.2345e3`, 123450},
		{"negative exponent", `12345e-4`, 123},
		{"float artifact", `0.30000000000000004`, 30},
		{"largest", `92233720368547758.07`, 9223372036854775807},
		{"largest after rounding", `92233720368547758.074`, 9223372036854775807},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(body("value", tt.give)), testNames)
			if err != nil {
				t.Fatalf("value %s: %v", tt.give, err)
			}
			if got := r.Conversion().ValueCents; got != tt.want {
				t.Errorf("value %s: value_cents = %d, want %d", tt.give, got, tt.want)
			}
		})
	}
}

func TestConversion(t *testing.T) {
	tests := []struct {
		name string
		give Raw
		want Conversion
	}{
		{
			"every field",
			raw(func(r *Raw) { r.Source, r.ClickID = "web", "k" }),
			Conversion{ID: testID, User: "u-1", Name: "purchase", TS: 1709208000, ValueCents: 1999, Campaign: "c-1", Source: ConversionSource},
		},
		{
			"ts floored",
			raw(func(r *Raw) { r.EventTime = time.Date(2024, 2, 29, 12, 0, 0, 999999999, time.UTC) }),
			Conversion{ID: testID, User: "u-1", Name: "purchase", TS: 1709208000, ValueCents: 1999, Campaign: "c-1", Source: ConversionSource},
		},
		{
			"ts floored towards -inf before 1970",
			raw(func(r *Raw) { r.EventTime = time.Unix(-2, 5e8) }),
			Conversion{ID: testID, User: "u-1", Name: "purchase", TS: -2, ValueCents: 1999, Campaign: "c-1", Source: ConversionSource},
		},
		{
			"zero value",
			raw(func(r *Raw) { r.Value = decimal.Decimal{} }),
			Conversion{ID: testID, User: "u-1", Name: "purchase", TS: 1709208000, ValueCents: 0, Campaign: "c-1", Source: ConversionSource},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.Conversion(); got != tt.want {
				t.Errorf("Conversion() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConversionJSON(t *testing.T) {
	got, err := json.Marshal(raw(keep).Conversion())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + testID + `","user":"u-1","name":"purchase","ts":1709208000,"value_cents":1999,"campaign":"c-1","source":"internal_martech"}`
	if string(got) != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestMarshalJSON(t *testing.T) {
	prefix := `{"event_id":"` + testID + `","user_id":"u-1","event_name":"purchase",`
	tests := []struct {
		name string
		give string // a body for Decode
		want string
	}{
		{"canonical", body(), prefix + `"event_time":"2024-02-29T12:00:00Z","value":19.99,"campaign_id":"c-1"}`},
		{
			"camelCase, offset, numeric string, optional fields",
			`{"eventId":"` + testID + `","userId":"u-1","eventName":"purchase","eventTime":"2024-02-29T12:00:00.120+05:30",` +
				`"value":"12.50","campaignId":"c-1","source":"web","clickId":"k"}`,
			prefix + `"event_time":"2024-02-29T06:30:00.12Z","value":12.5,"campaign_id":"c-1","source":"web","click_id":"k"}`,
		},
		{"exact decimal", body("value", `1.005`), prefix + `"event_time":"2024-02-29T12:00:00Z","value":1.005,"campaign_id":"c-1"}`},
		{"no exponent form", body("value", `1.5e3`), prefix + `"event_time":"2024-02-29T12:00:00Z","value":1500,"campaign_id":"c-1"}`},
		{"small without exponent", body("value", `1e-7`), prefix + `"event_time":"2024-02-29T12:00:00Z","value":0.0000001,"campaign_id":"c-1"}`},
		{"zero", body("value", `"0.00"`), prefix + `"event_time":"2024-02-29T12:00:00Z","value":0,"campaign_id":"c-1"}`},
		{"epoch milliseconds", body("event_time", `1709208000123`), prefix + `"event_time":"2024-02-29T12:00:00.123Z","value":19.99,"campaign_id":"c-1"}`},
		{"unknown fields dropped", body("extra", `[1]`), prefix + `"event_time":"2024-02-29T12:00:00Z","value":19.99,"campaign_id":"c-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.give), testNames)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

// TestMarshalRoundTrip is a property test: any Raw within the rules survives
// MarshalJSON and Decode unchanged.
func TestMarshalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// No control characters: Decode refuses them.
	alphabet := []rune("aZ09-_ .:/\"\\\u00fc\u7528\u6237\U0001F600\u200d<>&")
	randString := func(min, max int) string {
		var b strings.Builder
		for range min + rng.IntN(max-min+1) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 5000 {
		want := Raw{
			EventID:    fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Int64N(1<<48)),
			UserID:     "u" + randString(0, 40),
			EventName:  DefaultNames[rng.IntN(len(DefaultNames))],
			EventTime:  time.Unix(rng.Int64N(maxTime.Unix()+1), rng.Int64N(1e9)).UTC(),
			Value:      decimal.New(rng.Int64N(1<<53), -rng.Int32N(maxPlaces-16)),
			CampaignID: "c" + randString(0, 40),
			Source:     randString(0, 3),
			ClickID:    randString(0, 3),
		}
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatalf("case %d: Marshal(%+v): %v", i, want, err)
		}
		got, err := Decode(b, testNames)
		if err != nil {
			t.Fatalf("case %d: Decode(%s): %v", i, b, err)
		}
		if !sameRaw(got, want) {
			t.Fatalf("case %d: Decode(%s) = %+v, want %+v", i, b, got, want)
		}
	}
}

// marshalWithEncodingJSON is what MarshalJSON wrote before it appended by hand: the reference
// its bytes must equal.
func marshalWithEncodingJSON(r Raw) ([]byte, error) {
	return json.Marshal(struct {
		EventID    string      `json:"event_id"`
		UserID     string      `json:"user_id"`
		EventName  string      `json:"event_name"`
		EventTime  string      `json:"event_time"`
		Value      json.Number `json:"value"`
		CampaignID string      `json:"campaign_id"`
		Source     string      `json:"source,omitempty"`
		ClickID    string      `json:"click_id,omitempty"`
	}{
		r.EventID, r.UserID, r.EventName, r.EventTime.UTC().Format(time.RFC3339Nano),
		json.Number(r.Value.String()), r.CampaignID, r.Source, r.ClickID,
	})
}

// MarshalJSON writes byte for byte what encoding/json writes, for any strings: every ASCII
// character, control characters, HTML characters, invalid UTF-8, U+2028 and U+2029, and
// multi-byte characters of every length.
func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randString := jsonHardStrings(rng)
	for i := range 20000 {
		r := Raw{
			EventID: randString(40), UserID: randString(40), EventName: randString(8),
			EventTime:  time.Unix(rng.Int64N(maxTime.Unix()+1), rng.Int64N(1e9)).In(time.FixedZone("x", 3600)),
			Value:      decimal.New(rng.Int64N(1<<53)-1<<52, -rng.Int32N(maxPlaces)),
			CampaignID: randString(40), Source: randString(3), ClickID: randString(3),
		}
		got, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := marshalWithEncodingJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d: MarshalJSON(%+q) =\n %s\nencoding/json writes\n %s", i, r, got, want)
		}
	}
}

// jsonHardStrings returns a maker of random strings of up to max pieces, each an ASCII
// character, a multi-byte character, U+2028, U+2029 or invalid UTF-8.
func jsonHardStrings(rng *rand.Rand) func(max int) string {
	var pieces []string
	for c := range 0x80 {
		pieces = append(pieces, string(rune(c)))
	}
	pieces = append(pieces, "\u00fc", "\u7528", "\U0001F600", "\u2028", "\u2029", "\xff", "\xe2\x80", "\xed\xa0\x80", "\u200d")
	return func(max int) string {
		var b strings.Builder
		for range rng.IntN(max + 1) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
}

// The body AdEventsX receives is byte for byte what encoding/json writes for a Conversion.
func TestConversionJSONMatchesEncodingJSON(t *testing.T) {
	type plain Conversion // the same fields and tags, without the MarshalJSON method
	rng := rand.New(rand.NewPCG(5, 6))
	randString := jsonHardStrings(rng)
	for i := range 20000 {
		c := Conversion{ID: randString(40), User: randString(40), Name: randString(8), TS: rng.Int64() - 1<<62,
			ValueCents: rng.Int64() - 1<<62, Campaign: randString(40), Source: randString(3)}
		got, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(plain(c))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d: MarshalJSON(%#v) =\n %s\nencoding/json writes\n %s", i, c, got, want)
		}
	}
}
