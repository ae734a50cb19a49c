package filter

import (
	"bytes"
	"hash/maphash"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

// Newest finds the newest DLQ record of each event: the latest dlq.failed_at among the records
// with its event_id (the key, in any case), the later offset on a tie. A record without a key is
// an event of its own. Add every record, then ask Is.
type Newest struct {
	seed   maphash.Seed
	newest map[uint64]copyRef
}

type copyRef struct {
	failedAt  int64
	partition int32
	offset    int64
}

func (c copyRef) after(o copyRef) bool {
	if c.failedAt != o.failedAt {
		return c.failedAt > o.failedAt
	}
	if c.partition != o.partition {
		return c.partition > o.partition
	}
	return c.offset > o.offset
}

// NewNewest is an empty Newest.
func NewNewest() *Newest { return &Newest{seed: maphash.MakeSeed(), newest: map[uint64]copyRef{}} }

// EventKey hashes an event_id in lowercase, as the pipeline takes it. (A collision of two
// 64-bit hashes among a DLQ's events is far less likely than anything else going wrong.)
func EventKey(seed maphash.Seed, key []byte) uint64 {
	return maphash.Bytes(seed, bytes.ToLower(key))
}

// Add counts r, whose headers read as fl.
func (n *Newest) Add(r *kgo.Record, fl dlqrecord.Fields) {
	if r.Key == nil {
		return
	}
	k := EventKey(n.seed, r.Key)
	c := copyRef{fl.FailedAt.UnixNano(), r.Partition, r.Offset}
	if old, ok := n.newest[k]; !ok || c.after(old) {
		n.newest[k] = c
	}
}

// Is reports whether r is the newest copy of its event among those added.
func (n *Newest) Is(r *kgo.Record, _ dlqrecord.Fields) bool {
	if r.Key == nil {
		return true
	}
	c, ok := n.newest[EventKey(n.seed, r.Key)]
	return ok && c.partition == r.Partition && c.offset == r.Offset
}
