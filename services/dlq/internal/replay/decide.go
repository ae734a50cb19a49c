package replay

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

// Decision is what a replay does with a record its filters selected.
type Decision int

const (
	// Send: re-publish it.
	Send Decision = iota
	// Capped: its dlq.replay_count is at or above the cap; skipped and reported.
	Capped
	// HeldInvalid: not an event the forwarder could deliver (it would dead-letter it again as
	// invalid); held back unless forced.
	HeldInvalid
	// HeldOld: its event_time is older than the age bound (AdEventsX refuses events older than
	// about 7 days); held back unless forced.
	HeldOld
	// HeldTooLarge: it is over the forwarder's MAX_RECORD_BYTES (key, value and headers), or was
	// dead-lettered without its payload for that (dlq.omitted); held back even when
	// forced: the forwarder would dead-letter it again, and a record that large may not fit in
	// the replay's producer batch, so it would abort every transaction it is in.
	HeldTooLarge
)

func (d Decision) String() string {
	switch d {
	case Send:
		return "send"
	case Capped:
		return "capped"
	case HeldInvalid:
		return "held-invalid"
	case HeldOld:
		return "held-old"
	case HeldTooLarge:
		return "held-too-large"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Policy says which selected records a replay sends.
type Policy struct {
	MaxReplays     int           // records with dlq.replay_count >= MaxReplays are skipped; 0: no cap
	MaxAge         time.Duration // records whose event_time is older are held back; 0: no bound
	MaxRecordBytes int           // larger records (key, value, headers) are held back, even forced; 0: no bound
	Force          bool          // send held-back records anyway (not those over MaxRecordBytes)
	Names          event.Names   // the event_name values the forwarder accepts (EVENT_NAMES)
	Name           string        // the replay's name, which the replayed record carries (its size)
}

// Verdict is a Decision with what the forwarder would make of the record: the event, or why it
// is not one.
type Verdict struct {
	Decision Decision
	Event    event.Raw // valid when Invalid is nil
	Invalid  error
}

// Decide judges a selected record r, whose headers read as f.
func (p Policy) Decide(r *kgo.Record, f dlqrecord.Fields, now time.Time) Verdict {
	raw, err := Preview(r, p.Names)
	v := Verdict{Decision: Send, Event: raw, Invalid: err}
	omitted, _ := deadletter.Header(r.Headers, deadletter.HeaderOmitted)
	// The forwarder weighs what the replay writes: r with the replay's headers.
	size := deadletter.Size(Record("", r, p.Name, now))
	switch {
	case p.MaxReplays > 0 && f.ReplayCount >= p.MaxReplays:
		v.Decision = Capped
	case omitted != "":
		// Too large to dead-letter whole: there is nothing here to send.
		v = Verdict{Decision: HeldTooLarge, Invalid: fmt.Errorf("dead-lettered without its %s", omitted)}
	case p.MaxRecordBytes > 0 && size > p.MaxRecordBytes:
		// The forwarder's own check, and its message.
		v = Verdict{Decision: HeldTooLarge, Invalid: fmt.Errorf("record is %d bytes as replayed (key, value and headers), over the %d-byte limit (MAX_RECORD_BYTES)",
			size, p.MaxRecordBytes)}
	case p.Force:
	case err != nil:
		v.Decision = HeldInvalid
	case p.MaxAge > 0 && now.Sub(raw.EventTime) > p.MaxAge:
		v.Decision = HeldOld
	}
	return v
}

// omittedTail is how deadletter.Shrink ends dlq.omitted; Preview names the source itself.
const omittedTail = "; read the original at dlq.source_topic/partition/offset"

// Source is where the forwarder read a DLQ record: "topic/partition/offset" of its dlq.source_*
// headers ("?" for a missing one).
func Source(r *kgo.Record) string {
	get := func(k string) string {
		if v, ok := deadletter.Header(r.Headers, k); ok {
			return v
		}
		return "?"
	}
	return get(deadletter.HeaderSourceTopic) + "/" + get(deadletter.HeaderSourcePartition) + "/" + get(deadletter.HeaderSourceOffset)
}

// Preview decodes r as the forwarder does before it transforms and delivers: a key that is the
// event_id, and a value that keeps every rule of the contract. (The forwarder's size limit,
// MAX_RECORD_BYTES, is not checked here: Policy.Decide checks it.)
func Preview(r *kgo.Record, names event.Names) (event.Raw, error) {
	if omitted, ok := deadletter.Header(r.Headers, deadletter.HeaderOmitted); ok {
		// Its value is not the event's: nothing here to judge.
		return event.Raw{}, fmt.Errorf("dead-lettered without its payload, too large to carry whole: left out %s; the original is at %s",
			strings.TrimSuffix(omitted, omittedTail), Source(r))
	}
	if r.Key == nil {
		return event.Raw{}, errors.New("record has no key; the key must be the event_id")
	}
	raw, err := event.Decode(r.Value, names)
	if err != nil {
		return event.Raw{}, err
	}
	if !bytes.EqualFold(r.Key, []byte(raw.EventID)) { // event_id is decoded in lowercase
		return event.Raw{}, fmt.Errorf("record key %q is not the event_id %q", r.Key, raw.EventID)
	}
	return raw, nil
}
