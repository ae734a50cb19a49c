package event

import (
	"encoding/json"
	"time"
)

// MarshalJSON writes the canonical form that goes to Kafka: snake_case keys, event_time in UTC
// RFC 3339 with nanoseconds, value as a plain JSON number with its exact decimal digits, and
// source and click_id only when set. Decode reads it back to an equal Raw.
func (r Raw) MarshalJSON() ([]byte, error) {
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
		EventID:    r.EventID,
		UserID:     r.UserID,
		EventName:  r.EventName,
		EventTime:  r.EventTime.UTC().Format(time.RFC3339Nano),
		Value:      json.Number(r.Value.String()), // String never uses exponent form
		CampaignID: r.CampaignID,
		Source:     r.Source,
		ClickID:    r.ClickID,
	})
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
