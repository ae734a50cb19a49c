// Package dlqrecord reads what a dead-letter record says about itself (CONTRACT.md, "Kafka
// records"): its dlq.* headers in one pass, and leniently the event_name of its value, for
// filtering, stats and display. It never fails: a missing or unreadable header reads as absent,
// because the DLQ also holds what producers wrote as garbage.
package dlqrecord

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"regexp"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
)

// Fields are the dlq.* headers the CLI works with.
type Fields struct {
	Reason      string    // "" when missing
	HTTPStatus  int       // 0 when missing or unreadable
	Attempts    int       // 0 when missing or unreadable
	FailedAt    time.Time // dlq.failed_at; the record's timestamp when missing or unreadable
	ReplayCount int       // dlq.replay_count, 0 when missing (deadletter.ReplayCount)
	ReplayName  string    // dlq.replay_name: the latest replay it failed in; "" when none
}

// Read takes the dlq.* headers of r in one pass; the last header of a name wins, as in
// deadletter.Header.
func Read(r *kgo.Record) Fields {
	var f Fields
	var failedAt, replays []byte
	for _, h := range r.Headers {
		switch h.Key {
		case deadletter.HeaderReason:
			f.Reason = reason(h.Value)
		case deadletter.HeaderHTTPStatus:
			f.HTTPStatus = atoi(h.Value)
		case deadletter.HeaderAttempts:
			f.Attempts = atoi(h.Value)
		case deadletter.HeaderFailedAt:
			failedAt = h.Value
		case deadletter.HeaderReplayCount:
			replays = h.Value
		case deadletter.HeaderReplayName:
			f.ReplayName = string(h.Value)
		}
	}
	f.FailedAt = r.Timestamp
	if failedAt != nil {
		if t, err := time.Parse(time.RFC3339Nano, string(failedAt)); err == nil {
			f.FailedAt = t
		}
	}
	if replays != nil {
		// The same rule as deadletter.ReplayCount, without building a header slice.
		f.ReplayCount = max(atoi(replays), 0)
	}
	return f
}

// reason returns the contract's reasons without allocating.
func reason(b []byte) string {
	switch string(b) {
	case string(deadletter.Invalid):
		return string(deadletter.Invalid)
	case string(deadletter.Rejected):
		return string(deadletter.Rejected)
	case string(deadletter.Exhausted):
		return string(deadletter.Exhausted)
	}
	return string(b)
}

// atoi reads a small non-negative decimal without allocating; anything else is 0.
func atoi(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// EventName finds the event_name (or eventName) string of a JSON value without decoding all of
// it; "" when there is none. It is lenient on purpose: stats must count garbage too, and fast.
func EventName(value []byte) string { return string(EventNameBytes(value)) }

// EventNameBytes is EventName without a copy when the name has no escapes: the result then
// points into value.
func EventNameBytes(value []byte) []byte {
	for _, key := range [...]string{`"event_name"`, `"eventName"`} {
		if s, ok := stringAfter(value, key); ok {
			return s
		}
	}
	return nil
}

// stringAfter returns the JSON string that follows key and a colon.
func stringAfter(value []byte, key string) ([]byte, bool) {
	i := bytes.Index(value, []byte(key))
	if i < 0 {
		return nil, false
	}
	rest := bytes.TrimLeft(value[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return nil, false
	}
	s := rest[1 : 1+end]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, true
	}
	// An escape: let encoding/json find the real end and unquote.
	var out string
	dec := json.NewDecoder(bytes.NewReader(rest))
	if err := dec.Decode(&out); err != nil {
		return nil, false
	}
	return []byte(out), true
}

// SourceKey hashes where the forwarder read r (dlq.source_topic, dlq.source_partition,
// dlq.source_offset) and its key, with seed: two DLQ records with one SourceKey are copies of
// one source record (the forwarder dead-letters a record again when it re-reads it after a
// crash). ok is false when r lacks a dlq.source_* header.
func SourceKey(seed maphash.Seed, r *kgo.Record) (key uint64, ok bool) {
	var h maphash.Hash
	h.SetSeed(seed)
	found := 0
	for _, name := range [...]string{deadletter.HeaderSourceTopic, deadletter.HeaderSourcePartition, deadletter.HeaderSourceOffset} {
		if v, ok := deadletter.Header(r.Headers, name); ok {
			found++
			h.WriteString(v)
		}
		h.WriteByte(0)
	}
	// The key too: a copy of a source record has its key; records that claim one source but
	// differ in key are not copies of each other.
	h.Write(r.Key)
	return h.Sum64(), found == 3
}

var replayName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// ValidReplayName reports whether s has the form of a replay's name (dlq.replay_name): 1..200
// letters, digits, '.', '_' or '-'.
func ValidReplayName(s string) bool { return replayName.MatchString(s) }

// Where names a record as "topic/partition/offset", the form dlq.replayed_from uses.
func Where(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
}
