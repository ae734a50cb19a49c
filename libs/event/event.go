// Package event is the conversion event as clients and upstream producers send it (Raw), its
// validation against the rules of CONTRACT.md, and its transformation into the body AdEventsX
// wants (Conversion).
package event

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/martech/eventfwd/libs/config"
)

// DefaultNames are the event_name values accepted unless configured otherwise (EVENT_NAMES).
var DefaultNames = []string{"purchase", "lead"}

// NamesVar is EVENT_NAMES, the setting of every binary that validates events.
var NamesVar = config.List("EVENT_NAMES", DefaultNames, "accepted event_name values, comma-separated")

// ConversionSource is the fixed "source" of every body sent to AdEventsX.
const ConversionSource = "internal_martech"

// Names is the set of accepted event_name values.
type Names map[string]struct{}

// NewNames builds a Names set.
func NewNames(names ...string) Names {
	n := make(Names, len(names))
	for _, name := range names {
		n[name] = struct{}{}
	}
	return n
}

// Raw is a validated event. Decode is the only way to get one from bytes.
type Raw struct {
	EventID    string
	UserID     string
	EventName  string
	EventTime  time.Time // UTC
	Value      decimal.Decimal
	CampaignID string
	Source     string // optional, "" when absent
	ClickID    string // optional, "" when absent
}

// FieldError is one rule an input broke.
type FieldError struct {
	Field  string `json:"field"`  // snake_case name, or "body" for the document as a whole
	Reason string `json:"reason"` // human, e.g. "is required", "must be a UUID"
}

// ValidationError lists every rule an input broke, in field order.
type ValidationError struct {
	Fields []FieldError
}

// Conversion is the body AdEventsX receives at POST /v1/conversions.
type Conversion struct {
	ID         string `json:"id"`
	User       string `json:"user"`
	Name       string `json:"name"`
	TS         int64  `json:"ts"`
	ValueCents int64  `json:"value_cents"`
	Campaign   string `json:"campaign"`
	Source     string `json:"source"`
}
