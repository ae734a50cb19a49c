package event

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/shopspring/decimal"
)

// timeLayouts are tried in order. Go's parser accepts fractional seconds after the seconds field
// even though the layouts do not show them; a layout without an offset parses as UTC.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00", // RFC 3339
	"2006-01-02T15:04:05Z0700",  // ISO-8601 basic offset, +0530
	"2006-01-02T15:04:05",       // no offset: UTC
	"2006-01-02",                // date only: UTC midnight
}

var (
	// minTime: ts must not be negative. maxTime: the last instant RFC 3339 can write, so that
	// every accepted time survives MarshalJSON.
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

	msFrom = decimal.New(1, 11)                     // numbers from 1e11 up are milliseconds
	secEnd = decimal.NewFromInt(maxTime.Unix() + 1) // first whole second after maxTime
)

const (
	timeFormat = "must be an RFC 3339 time, epoch seconds or epoch milliseconds"
	timeBefore = "must not be before 1970-01-01T00:00:00Z"
	timeAfter  = "must not be after 9999-12-31T23:59:59Z"
)

// readTime reads event_time: an RFC 3339 / ISO-8601 string, or epoch seconds or milliseconds as
// a number or as a string holding a JSON number.
func readTime(raw json.RawMessage) (time.Time, string) {
	text, isString, ok := numberText(raw)
	if !ok {
		return time.Time{}, "must be a string or a number"
	}
	d, err := parseDecimal(text)
	switch {
	case isString && errors.Is(err, errNotNumber):
		return parseTimeText(text)
	case errors.Is(err, errTooLarge):
		return time.Time{}, timeAfter
	case errors.Is(err, errTooSmall):
		return time.Time{}, timeBefore
	case err != nil:
		return time.Time{}, err.Error()
	}
	return epochTime(d)
}

func parseTimeText(s string) (time.Time, string) {
	// RFC 3339 5.6 allows a lowercase t and z; Go's layouts only match the uppercase ones.
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't') {
		s = s[:10] + "T" + s[11:]
	}
	if len(s) > 10 && s[len(s)-1] == 'z' {
		s = s[:len(s)-1] + "Z"
	}
	// Go refuses second 60. A leap second (23:59:60 UTC) is read as the second after it, the
	// next day's 00:00:00, as Unix time has no number of its own for it.
	leap := len(s) >= 19 && s[13] == ':' && s[16] == ':' && s[17:19] == "60"
	if leap {
		s = s[:17] + "59" + s[19:]
	}
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		t = t.UTC()
		if leap {
			if t.Hour() != 23 || t.Minute() != 59 {
				return time.Time{}, timeFormat
			}
			t = t.Add(time.Second)
		}
		return checkRange(t)
	}
	return time.Time{}, timeFormat
}

// epochTime turns epoch seconds, or milliseconds from 1e11 up, into a time, dropping digits
// below the nanosecond (a floor: the number is never negative here).
func epochTime(d decimal.Decimal) (time.Time, string) {
	if d.Sign() < 0 {
		return time.Time{}, timeBefore
	}
	secs := d
	if d.GreaterThanOrEqual(msFrom) {
		secs = d.Shift(-3)
	}
	if secs.GreaterThanOrEqual(secEnd) {
		return time.Time{}, timeAfter
	}
	whole := secs.Floor()
	nanos := secs.Sub(whole).Shift(9).Floor()
	return checkRange(time.Unix(whole.IntPart(), nanos.IntPart()).UTC())
}

func checkRange(t time.Time) (time.Time, string) {
	switch {
	case t.Before(minTime):
		return time.Time{}, timeBefore
	case t.After(maxTime):
		return time.Time{}, timeAfter
	}
	return t, ""
}
