package filter

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

func TestNewestKeepsTheLatestCopyOfEachEvent(t *testing.T) {
	at := func(m int) dlqrecord.Fields {
		return dlqrecord.Fields{FailedAt: now.Add(time.Duration(m) * time.Minute)}
	}
	type copy struct {
		r  *kgo.Record
		fl dlqrecord.Fields
	}
	copies := []copy{
		{rec(0, 1, "abc"), at(1)},
		{rec(1, 7, "ABC"), at(3)}, // the same event in another case, later: the newest
		{rec(0, 2, "abc"), at(2)},
		{rec(0, 3, "x"), at(5)},
		{rec(0, 4, "x"), at(5)}, // a tie: the later offset
		{&kgo.Record{Partition: 0, Offset: 5}, at(0)},
	}
	n := NewNewest()
	for _, c := range copies {
		n.Add(c.r, c.fl)
	}
	want := []bool{false, true, false, false, true, true}
	for i, c := range copies {
		if got := n.Is(c.r, c.fl); got != want[i] {
			t.Errorf("copy %d (%s at %d/%d): newest %v, want %v", i, c.r.Key, c.r.Partition, c.r.Offset, got, want[i])
		}
	}
}
