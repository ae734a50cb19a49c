package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// MarshalJSON writes the canonical form that goes to Kafka: snake_case keys, event_time in UTC
// RFC 3339 with nanoseconds, value as a plain JSON number with its exact decimal digits, and
// source and click_id only when set. Decode reads it back to an equal Raw. The bytes are the
// ones encoding/json writes for these fields (TestMarshalJSONMatchesEncodingJSON); they are
// appended by hand because this runs once per accepted event and reflection was most of its cost.
func (r Raw) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 160+len(r.UserID)+len(r.CampaignID)+len(r.Source)+len(r.ClickID))), nil
}

// AppendJSON appends MarshalJSON's bytes to b; it cannot fail.
func (r Raw) AppendJSON(b []byte) []byte {
	b = appendField(b, `{"event_id":`, r.EventID)
	b = appendField(b, `,"user_id":`, r.UserID)
	b = appendField(b, `,"event_name":`, r.EventName)
	b = append(b, `,"event_time":"`...)
	b = r.EventTime.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","value":`...)
	b = append(b, r.Value.String()...) // String never uses exponent form
	b = appendField(b, `,"campaign_id":`, r.CampaignID)
	if r.Source != "" {
		b = appendField(b, `,"source":`, r.Source)
	}
	if r.ClickID != "" {
		b = appendField(b, `,"click_id":`, r.ClickID)
	}
	return append(b, '}')
}

// MarshalJSON is AppendJSON's bytes: what encoding/json writes for c's fields.
func (c Conversion) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 128+len(c.ID)+len(c.User)+len(c.Campaign)+len(c.Source))), nil
}

// AppendJSON appends the body AdEventsX receives for c, byte for byte what encoding/json writes
// for its fields (TestConversionJSONMatchesEncodingJSON); it runs once per delivery.
func (c Conversion) AppendJSON(b []byte) []byte {
	b = appendField(b, `{"id":`, c.ID)
	b = appendField(b, `,"user":`, c.User)
	b = appendField(b, `,"name":`, c.Name)
	b = strconv.AppendInt(append(b, `,"ts":`...), c.TS, 10)
	b = strconv.AppendInt(append(b, `,"value_cents":`...), c.ValueCents, 10)
	b = appendField(b, `,"campaign":`, c.Campaign)
	b = appendField(b, `,"source":`, c.Source)
	return append(b, '}')
}

func appendField(b []byte, key, s string) []byte {
	return appendString(append(b, key...), s)
}

// appendString appends s as a JSON string escaped as encoding/json escapes it: quote, backslash
// and control characters, <, > and & (HTML-safe), invalid UTF-8 as U+FFFD, U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// Conversion is the body AdEventsX receives for r: ts is event_time in whole epoch seconds,
// floored, and value_cents is value*100 rounded half away from zero, both without float64.
// r must come from Decode, which guarantees value_cents fits an int64.
func (r Raw) Conversion() Conversion {
	return Conversion{
		ID:         r.EventID,
		User:       r.UserID,
		Name:       r.EventName,
		TS:         r.EventTime.Unix(), // Unix floors: Go keeps nanoseconds in [0, 1e9)
		ValueCents: cents(r.Value).IntPart(),
		Campaign:   r.CampaignID,
		Source:     ConversionSource,
	}
}
