package event

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

const testID = "3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b"

var testNames = NewNames(DefaultNames...)

// baseFields is a valid event, as raw JSON per field.
var baseFields = [][2]string{
	{"event_id", `"` + testID + `"`},
	{"user_id", `"u-1"`},
	{"event_name", `"purchase"`},
	{"event_time", `"2024-02-29T12:00:00Z"`},
	{"value", `19.99`},
	{"campaign_id", `"c-1"`},
}

// body returns the valid event with the given key/raw-JSON pairs applied: a key of the base is
// replaced in place (removed when the raw JSON is ""), any other key is appended.
func body(kv ...string) string {
	fs := slices.Clone(baseFields)
	for i := 0; i < len(kv); i += 2 {
		j := slices.IndexFunc(fs, func(f [2]string) bool { return f[0] == kv[i] })
		switch {
		case j >= 0 && kv[i+1] == "":
			fs = slices.Delete(fs, j, j+1)
		case j >= 0:
			fs[j][1] = kv[i+1]
		default:
			fs = append(fs, [2]string{kv[i], kv[i+1]})
		}
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%q:%s", f[0], f[1])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// raw returns the Raw of the valid event, changed by edit.
func raw(edit func(r *Raw)) Raw {
	r := Raw{
		EventID:    testID,
		UserID:     "u-1",
		EventName:  "purchase",
		EventTime:  time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		Value:      decimal.RequireFromString("19.99"),
		CampaignID: "c-1",
	}
	edit(&r)
	return r
}

func keep(*Raw) {}

// sameRaw compares by meaning: Value and EventTime hold pointers and locations.
func sameRaw(a, b Raw) bool {
	return a.EventID == b.EventID && a.UserID == b.UserID && a.EventName == b.EventName &&
		a.EventTime.Equal(b.EventTime) && a.EventTime.Location() == time.UTC &&
		b.EventTime.Location() == time.UTC && a.Value.Equal(b.Value) &&
		a.CampaignID == b.CampaignID && a.Source == b.Source && a.ClickID == b.ClickID
}

func TestDecodeAccepts(t *testing.T) {
	camelID := "A3F2B8C1-9D4A-4E6B-8F1A-2C3D4E5F6A7B"
	tests := []struct {
		name string
		give string
		want Raw
	}{
		{"snake_case", body(), raw(keep)},
		{
			"camelCase",
			`{"eventId":"` + camelID + `","userId":"u-1","eventName":"lead","eventTime":"2024-02-29T12:00:00Z",` +
				`"value":19.99,"campaignId":"c-1","source":"web","clickId":"k-9"}`,
			raw(func(r *Raw) {
				r.EventID, r.EventName, r.Source, r.ClickID = strings.ToLower(camelID), "lead", "web", "k-9"
			}),
		},
		{"escaped text", body("user_id", `"\u0075-1"`), raw(keep)},
		{"upper-case UUID in lowercase", body("event_id", `"`+camelID+`"`), raw(func(r *Raw) { r.EventID = strings.ToLower(camelID) })},
		{"unicode ids", body("user_id", `"用户-ü"`, "campaign_id", `"кампания"`), raw(func(r *Raw) { r.UserID, r.CampaignID = "用户-ü", "кампания" })},
		{"ids kept with spaces", body("user_id", `" u 1 "`), raw(func(r *Raw) { r.UserID = " u 1 " })},
		{"user_id of 256 bytes", body("user_id", `"`+strings.Repeat("x", 256)+`"`), raw(func(r *Raw) { r.UserID = strings.Repeat("x", 256) })},
		{"optional fields", body("source", `"newsletter"`, "click_id", `"c"`), raw(func(r *Raw) { r.Source, r.ClickID = "newsletter", "c" })},
		{"optional fields empty", body("source", `""`, "click_id", `""`), raw(keep)},
		{"null is absent", body("source", `null`, "clickId", `null`), raw(keep)},
		{"null beside the other spelling", body("eventId", `null`), raw(keep)},
		{"unknown fields ignored", body("extra", `{"a":[1,2,{"b":null}]}`, "EventId", `7`), raw(keep)},
		{"whitespace around", " \n\t" + body() + "\n ", raw(keep)},
		{"numeric string value", body("value", `"12.50"`), raw(func(r *Raw) { r.Value = decimal.RequireFromString("12.5") })},
		{"zero value", body("value", `0`), raw(func(r *Raw) { r.Value = decimal.Zero })},
		{"negative zero value", body("value", `-0.0`), raw(func(r *Raw) { r.Value = decimal.Zero })},
		{"exponent value", body("value", `1.5e2`), raw(func(r *Raw) { r.Value = decimal.NewFromInt(150) })},
		{"largest value", body("value", `92233720368547758.07`), raw(func(r *Raw) { r.Value = decimal.RequireFromString("92233720368547758.07") })},
		{"value rounding to the largest cents", body("value", `92233720368547758.074`), raw(func(r *Raw) { r.Value = decimal.RequireFromString("92233720368547758.074") })},
		{"64 decimal places", body("value", `"1e-64"`), raw(func(r *Raw) { r.Value = decimal.New(1, -64) })},
		{"event_name lead", body("event_name", `"lead"`), raw(func(r *Raw) { r.EventName = "lead" })},
		{"surrogate pair", body("user_id", `"\ud83d\ude00"`), raw(func(r *Raw) { r.UserID = "\U0001F600" })},
		{"zero-width joiner and marks", body("user_id", `"a\u200db\u200fc\u200bd"`), raw(func(r *Raw) { r.UserID = "a\u200db\u200fc\u200bd" })},
		{"a literal replacement character", body("user_id", `"a\ufffd"`), raw(func(r *Raw) { r.UserID = "a\ufffd" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.give), testNames)
			if err != nil {
				t.Fatalf("Decode(%s) error: %v", tt.give, err)
			}
			if !sameRaw(got, tt.want) {
				t.Errorf("Decode(%s) = %+v, want %+v", tt.give, got, tt.want)
			}
		})
	}
}

func TestDecodeEventTime(t *testing.T) {
	tests := []struct {
		name   string
		give   string
		want   time.Time
		wantTS int64
	}{
		{"RFC 3339 Z, leap day", `"2024-02-29T12:00:00Z"`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"offset converted to UTC", `"2024-02-29T12:00:00+05:30"`, time.Date(2024, 2, 29, 6, 30, 0, 0, time.UTC), 1709188200},
		{"negative offset over midnight", `"2024-02-29T23:30:00-02:00"`, time.Date(2024, 3, 1, 1, 30, 0, 0, time.UTC), 1709256600},
		{"basic offset", `"2024-02-29T12:00:00+0530"`, time.Date(2024, 2, 29, 6, 30, 0, 0, time.UTC), 1709188200},
		{"fractional seconds floored in ts", `"2024-02-29T12:00:00.999999999Z"`, time.Date(2024, 2, 29, 12, 0, 0, 999999999, time.UTC), 1709208000},
		{"fractional milliseconds", `"2024-02-29T12:00:00.5+01:00"`, time.Date(2024, 2, 29, 11, 0, 0, 5e8, time.UTC), 1709204400},
		{"no offset is UTC", `"2024-02-29T12:00:00"`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"no offset, fractional", `"2024-02-29T12:00:00.25"`, time.Date(2024, 2, 29, 12, 0, 0, 25e7, time.UTC), 1709208000},
		{"space instead of T", `"2024-02-29 12:00:00Z"`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"lowercase t and z (RFC 3339 5.6)", `"2024-02-29t12:00:00z"`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"lowercase t with offset", `"2024-02-29t12:00:00.5+05:30"`, time.Date(2024, 2, 29, 6, 30, 0, 5e8, time.UTC), 1709188200},
		{"leap second is the next second", `"2016-12-31T23:59:60Z"`, time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), 1483228800},
		{"leap second, fractional", `"2016-12-31T23:59:60.25Z"`, time.Date(2017, 1, 1, 0, 0, 0, 25e7, time.UTC), 1483228800},
		{"leap second in a local offset", `"2016-12-31T15:59:60-08:00"`, time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), 1483228800},
		{"leap second, lowercase, no offset", `"2016-12-31t23:59:60"`, time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), 1483228800},
		{"date only is UTC midnight", `"2024-02-29"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), 1709164800},
		{"the epoch", `"1970-01-01T00:00:00Z"`, time.Unix(0, 0).UTC(), 0},
		{"last instant", `"9999-12-31T23:59:59.999999999Z"`, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), 253402300799},
		{"epoch seconds", `1709208000`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"epoch seconds, fractional", `1709208000.75`, time.Date(2024, 2, 29, 12, 0, 0, 75e7, time.UTC), 1709208000},
		{"epoch seconds with exponent", `1.709208e9`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"epoch zero", `0`, time.Unix(0, 0).UTC(), 0},
		{"largest seconds", `99999999999`, time.Unix(99999999999, 0).UTC(), 99999999999},
		{"smallest milliseconds", `100000000000`, time.Unix(100000000, 0).UTC(), 100000000},
		{"epoch milliseconds", `1709208000123`, time.Date(2024, 2, 29, 12, 0, 0, 123e6, time.UTC), 1709208000},
		{"epoch milliseconds, fractional", `1709208000123.4567`, time.Date(2024, 2, 29, 12, 0, 0, 123456700, time.UTC), 1709208000},
		{"sub-nanosecond digits dropped", `1709208000.1234567899`, time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC), 1709208000},
		{"numeric string seconds", `"1709208000"`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), 1709208000},
		{"numeric string milliseconds", `"1709208000123"`, time.Date(2024, 2, 29, 12, 0, 0, 123e6, time.UTC), 1709208000},
		{"largest milliseconds", `253402300799999`, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), 253402300799},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(body("event_time", tt.give)), testNames)
			if err != nil {
				t.Fatalf("event_time %s: %v", tt.give, err)
			}
			if !got.EventTime.Equal(tt.want) || got.EventTime.Location() != time.UTC {
				t.Errorf("event_time %s = %v, want %v", tt.give, got.EventTime, tt.want)
			}
			if ts := got.Conversion().TS; ts != tt.wantTS {
				t.Errorf("event_time %s: ts = %d, want %d", tt.give, ts, tt.wantTS)
			}
		})
	}
}

// The reasons a string field's text is refused for.
const (
	textControl   = "must not contain control characters"
	textUTF8      = "must be valid UTF-8"
	textSurrogate = "must not contain a lone surrogate (\\ud800-\\udfff)"
	textBidi      = "must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069)"
)

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []FieldError
	}{
		{"empty body", ``, []FieldError{{"body", "invalid JSON at byte 0: unexpected end of JSON input"}}},
		{"not JSON", `event_id=1`, []FieldError{{"body", "invalid JSON at byte 1: invalid character 'e' looking for beginning of value"}}},
		{"truncated", `{"event_id":`, []FieldError{{"body", "invalid JSON at byte 12: unexpected end of JSON input"}}},
		{"trailing garbage", body() + `x`, []FieldError{{"body", fmt.Sprintf("invalid JSON at byte %d: invalid character 'x' after top-level value", len(body())+1)}}},
		{"two objects", `{}{}`, []FieldError{{"body", "invalid JSON at byte 3: invalid character '{' after top-level value"}}},
		{"array", `[` + body() + `]`, []FieldError{{"body", "must be a JSON object"}}},
		{"string", `"x"`, []FieldError{{"body", "must be a JSON object"}}},
		{"null", `null`, []FieldError{{"body", "must be a JSON object"}}},
		{"number", `12`, []FieldError{{"body", "must be a JSON object"}}},
		{"nested 33 deep", body("extra", strings.Repeat("[", 32)+strings.Repeat("]", 32)), []FieldError{{"body", "must not be nested deeper than 32 levels"}}},
		{"nested 100000 deep", `{"a":` + strings.Repeat(`{"a":`, 100000) + `1` + strings.Repeat("}", 100001), []FieldError{{"body", "must not be nested deeper than 32 levels"}}},
		{
			"missing everything",
			`{}`,
			[]FieldError{
				{"event_id", "is required"}, {"user_id", "is required"}, {"event_name", "is required"},
				{"event_time", "is required"}, {"value", "is required"}, {"campaign_id", "is required"},
			},
		},
		{
			"wrong types everywhere",
			`{"event_id":1,"user_id":true,"event_name":["lead"],"event_time":{},"value":false,"campaign_id":2,"source":3,"click_id":{}}`,
			[]FieldError{
				{"event_id", "must be a string"}, {"user_id", "must be a string"}, {"event_name", "must be a string"},
				{"event_time", "must be a string or a number"}, {"value", "must be a number or numeric string"},
				{"campaign_id", "must be a string"}, {"source", "must be a string"}, {"click_id", "must be a string"},
			},
		},
		{"null required", body("event_id", `null`), []FieldError{{"event_id", "is required"}}},
		{"both spellings, same value", body("userId", `"u-1"`), []FieldError{{"user_id", "given twice as user_id and userId"}}},
		{"same key twice, same value", strings.Replace(body(), `"value":19.99`, `"value":19.99,"value":19.99`, 1), []FieldError{{"value", "given twice as value and value"}}},
		{"refused at the first repeat", `{"user_id":"a","user_id":"\u0061","user_id":"b"}`, []FieldError{{"user_id", "given twice as user_id and user_id"}}},
		{"NUL", body("user_id", `"a\u0000b"`), []FieldError{{"user_id", textControl}}},
		{"newline", body("campaign_id", `"c\n1"`), []FieldError{{"campaign_id", textControl}}},
		{"DEL", body("source", "\"a\x7f\""), []FieldError{{"source", textControl}}},
		{"C1 control", body("click_id", `"a\u0085"`), []FieldError{{"click_id", textControl}}},
		{"invalid UTF-8", body("user_id", "\"a\xffb\""), []FieldError{{"user_id", textUTF8}}},
		{"invalid UTF-8 beside an escape", body("user_id", "\"\\u0061\xc3\""), []FieldError{{"user_id", textUTF8}}},
		{"lone high surrogate", body("user_id", `"a\ud800"`), []FieldError{{"user_id", textSurrogate}}},
		{"lone low surrogate", body("user_id", `"\udc00a"`), []FieldError{{"user_id", textSurrogate}}},
		{"high surrogate then a letter", body("user_id", `"\ud83dx"`), []FieldError{{"user_id", textSurrogate}}},
		{"bidi override", body("user_id", `"u-1\u202e"`), []FieldError{{"user_id", textBidi}}},
		{"bidi isolate", body("campaign_id", `"\u2067c"`), []FieldError{{"campaign_id", textBidi}}},
		{"both spellings differ", body("eventId", `"6f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b"`), []FieldError{{"event_id", "given twice as event_id and eventId"}}},
		{"both spellings differ, camel first", `{"userId":"a","user_id":"b"}`, []FieldError{{"user_id", "given twice as userId and user_id"}}},
		{"same key twice differs", strings.Replace(body(), `"value":19.99`, `"value":1,"value":2`, 1), []FieldError{{"value", "given twice as value and value"}}},
		{"spellings differ in type", body("campaignId", `1`), []FieldError{{"campaign_id", "given twice as campaign_id and campaignId"}}},
		{"event_id not a UUID", body("event_id", `"abc"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"event_id without hyphens", body("event_id", `"3f2b8c1e9d4a4e6b8f1a2c3d4e5f6a7b"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"event_id in braces", body("event_id", `"{3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b}"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"event_id hyphen moved", body("event_id", `"3f2b8c1e9-d4a-4e6b-8f1a-2c3d4e5f6a7b"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"event_id not hex", body("event_id", `"3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7g"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"event_id with spaces", body("event_id", `" `+testID+`"`), []FieldError{{"event_id", "must be a UUID"}}},
		{"user_id empty", body("user_id", `""`), []FieldError{{"user_id", "must not be empty"}}},
		{"user_id blank", body("user_id", `"   "`), []FieldError{{"user_id", "must not be empty"}}},
		{"user_id too long", body("user_id", `"`+strings.Repeat("ü", 129)+`"`), []FieldError{{"user_id", "must be at most 256 bytes"}}},
		{"campaign_id empty", body("campaign_id", `""`), []FieldError{{"campaign_id", "must not be empty"}}},
		{"source too long", body("source", `"`+strings.Repeat("s", 257)+`"`), []FieldError{{"source", "must be at most 256 bytes"}}},
		{"click_id too long", body("clickId", `"`+strings.Repeat("c", 257)+`"`), []FieldError{{"click_id", "must be at most 256 bytes"}}},
		{"event_name unknown", body("event_name", `"signup"`), []FieldError{{"event_name", "must be one of lead, purchase"}}},
		{"event_name wrong case", body("event_name", `"Purchase"`), []FieldError{{"event_name", "must be one of lead, purchase"}}},
		{"event_time garbage", body("event_time", `"yesterday"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time empty", body("event_time", `""`), []FieldError{{"event_time", timeFormat}}},
		{"event_time not a day", body("event_time", `"2023-02-29"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time second 60 not at the end of a UTC day", body("event_time", `"2016-12-31T12:59:60Z"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time second 61", body("event_time", `"2016-12-31T23:59:61Z"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time lowercase z without a time", body("event_time", `"2024-02-29z"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time leap second after 9999", body("event_time", `"9999-12-31T23:59:60Z"`), []FieldError{{"event_time", timeAfter}}},
		{"event_time short year", body("event_time", `"24-02-29"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time bad offset", body("event_time", `"2024-02-29T12:00:00+25:00"`), []FieldError{{"event_time", timeFormat}}},
		{"event_time before 1970", body("event_time", `"1969-12-31T23:59:59Z"`), []FieldError{{"event_time", timeBefore}}},
		{"event_time after 9999", body("event_time", `"9999-12-31T23:00:00-02:00"`), []FieldError{{"event_time", timeAfter}}},
		{"event_time negative", body("event_time", `-1`), []FieldError{{"event_time", timeBefore}}},
		{"event_time negative fraction", body("event_time", `-0.5`), []FieldError{{"event_time", timeBefore}}},
		{"event_time hugely negative", body("event_time", `-1e300`), []FieldError{{"event_time", timeBefore}}},
		{"event_time negative string", body("event_time", `"-1709208000"`), []FieldError{{"event_time", timeBefore}}},
		{"event_time past year 9999 in ms", body("event_time", `253402300800000`), []FieldError{{"event_time", timeAfter}}},
		{"event_time huge", body("event_time", `1e300`), []FieldError{{"event_time", timeAfter}}},
		{"event_time huge exponent", body("event_time", `1e999999999999`), []FieldError{{"event_time", timeAfter}}},
		{"event_time tiny exponent", body("event_time", `1e-999999999999`), []FieldError{{"event_time", "must have at most 64 decimal places"}}},
		{"event_time bool", body("event_time", `true`), []FieldError{{"event_time", "must be a string or a number"}}},
		{"value negative", body("value", `-0.01`), []FieldError{{"value", "must be >= 0"}}},
		{"value negative string", body("value", `"-5"`), []FieldError{{"value", "must be >= 0"}}},
		{"value hugely negative", body("value", `-1e300`), []FieldError{{"value", "must be >= 0"}}},
		{"value cents overflow", body("value", `92233720368547758.08`), []FieldError{{"value", "is too large"}}},
		{"value cents overflow by rounding", body("value", `92233720368547758.075`), []FieldError{{"value", "is too large"}}},
		{"value huge", body("value", `1e300`), []FieldError{{"value", "is too large"}}},
		{"value huge exponent", body("value", `1e999999999999999999999`), []FieldError{{"value", "is too large"}}},
		{"value long", body("value", strings.Repeat("9", 1000)), []FieldError{{"value", "is too large"}}},
		{"value too precise", body("value", `1e-65`), []FieldError{{"value", "must have at most 64 decimal places"}}},
		{"value tiny exponent", body("value", `1e-999999999999`), []FieldError{{"value", "must have at most 64 decimal places"}}},
		{"value empty string", body("value", `""`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value NaN", body("value", `"NaN"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value Infinity", body("value", `"Infinity"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value hex", body("value", `"0x10"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value with spaces", body("value", `" 12.50"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value with plus", body("value", `"+1"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value leading dot", body("value", `".5"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value trailing dot", body("value", `"5."`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value leading zero", body("value", `"012"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value with comma", body("value", `"12,50"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value with currency", body("value", `"$12"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value bad exponent", body("value", `"1e"`), []FieldError{{"value", "must be a number or numeric string"}}},
		{"value null", body("value", `null`), []FieldError{{"value", "is required"}}},
		{
			"several at once",
			body("event_id", `"x"`, "user_id", "", "value", `-1`, "source", `5`),
			[]FieldError{{"event_id", "must be a UUID"}, {"user_id", "is required"}, {"value", "must be >= 0"}, {"source", "must be a string"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.give), testNames)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Decode(%.200s) = %+v, %v; want a *ValidationError", tt.give, got, err)
			}
			if !slices.Equal(verr.Fields, tt.want) {
				t.Errorf("Decode(%.200s) errors:\n got %q\nwant %q", tt.give, verr.Fields, tt.want)
			}
		})
	}
}

func TestValidationErrorError(t *testing.T) {
	tests := []struct {
		name string
		give []FieldError
		want string
	}{
		{"one", []FieldError{{"body", "must be a JSON object"}}, "body: must be a JSON object"},
		{"two", []FieldError{{"event_id", "is required"}, {"value", "must be >= 0"}}, "event_id: is required; value: must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&ValidationError{Fields: tt.give}).Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
