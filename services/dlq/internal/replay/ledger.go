package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
)

// The ledger is what every replay name did, run after run: one record per committed batch, in a
// topic of its own (LedgerTopic), keyed by the name and written in the batch's transaction. So
// it holds exactly the batches whose position was committed: a killed run's open batch is
// aborted with its ledger record, and the counts of a name add up over all its runs. It also
// names every record a batch held back or capped, which is how `--held-by` finds them once the
// name's position is past them.

// LedgerTopic is the ledger of the replays of dlqTopic.
func LedgerTopic(dlqTopic string) string { return dlqTopic + ".replays" }

// maxLedgerRefs bounds the records one batch's ledger entry names (about 30 bytes each), so that
// the entry stays far below the broker's record size limit; a batch ends when it is reached.
const maxLedgerRefs = 10000

// Ref is a DLQ record a batch did not send, and why.
type Ref struct {
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Decision  string `json:"d"` // capped, held-invalid, held-old, held-too-large
}

// LedgerEntry is one committed batch of a replay.
type LedgerEntry struct {
	Run    string `json:"run"` // when the run started (RFC 3339): tells runs apart
	Counts        // what the batch did
	Refs   []Ref  `json:"refs,omitempty"`
}

func ledgerRecord(topic, name string, e LedgerEntry) (*kgo.Record, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("ledger entry: %w", err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(name), Value: v}, nil
}

// Ledger is what the ledger says about one replay name.
type Ledger struct {
	Name    string
	Entries []LedgerEntry
}

// Runs is how many runs of the name committed a batch.
func (l Ledger) Runs() int {
	runs := map[string]bool{}
	for _, e := range l.Entries {
		runs[e.Run] = true
	}
	return len(runs)
}

// Total adds up every committed batch of every run.
func (l Ledger) Total() Counts {
	var c Counts
	for _, e := range l.Entries {
		c.add(e.Counts)
	}
	return c
}

// Held are the DLQ records (filter.RecordKey) the name held back or capped: those whose
// decision is one of decisions, or all when decisions is empty; for Filter.Only.
func (l Ledger) Held(decisions ...string) map[string]bool {
	out := map[string]bool{}
	for _, e := range l.Entries {
		for _, r := range e.Refs {
			if len(decisions) == 0 || slices.Contains(decisions, r.Decision) {
				out[filter.RecordKey(r.Partition, r.Offset)] = true
			}
		}
	}
	return out
}

// ReadLedger reads what the ledger of dlqTopic says about the replay called name. No ledger
// topic yet (no replay has committed a batch) is an empty ledger.
func ReadLedger(ctx context.Context, opts []kgo.Opt, adm *kadm.Client, dlqTopic, name string) (Ledger, error) {
	l := Ledger{Name: name}
	topic := LedgerTopic(dlqTopic)
	bounds, err := scan.Offsets(ctx, adm, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read the replay ledger %s: %w", topic, err)
	}
	plan := scan.Plan{}
	for p, b := range bounds {
		plan[p] = scan.Range{Start: b.Low, End: b.High}
	}
	var bad error
	err = scan.Read(ctx, opts, topic, plan, func(r *kgo.Record) bool {
		if string(r.Key) != name {
			return true
		}
		var e LedgerEntry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			bad = fmt.Errorf("ledger %s offset %d: %w", topic, r.Offset, err)
			return false
		}
		l.Entries = append(l.Entries, e)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return l, fmt.Errorf("read the replay ledger %s: %w", topic, err)
	}
	return l, nil
}

// ParseHeldBy reads a --held-by value: NAME, or NAME:DECISION with a decision a replay holds
// back or caps for (held-old, held-invalid, held-too-large, capped).
func ParseHeldBy(s string) (name string, decisions []string, err error) {
	name, d, found := strings.Cut(s, ":")
	if !dlqrecord.ValidReplayName(name) {
		return "", nil, fmt.Errorf("--held-by: %q is not a replay name", name)
	}
	if !found {
		return name, nil, nil
	}
	for _, one := range strings.Split(d, ",") {
		switch one {
		case HeldOld.String(), HeldInvalid.String(), HeldTooLarge.String(), Capped.String():
			decisions = append(decisions, one)
		default:
			return "", nil, fmt.Errorf("--held-by: %q is not held-old, held-invalid, held-too-large or capped", one)
		}
	}
	return name, decisions, nil
}

// runID names a run in the ledger.
func runID(start time.Time) string { return start.UTC().Format(time.RFC3339Nano) }
