package scan

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A scan ends at the ends taken when it was planned, also when a partition ends in a
// transaction marker or holds only an aborted transaction, and never shows aborted records.
func TestReadEndsAtThePlannedEndAndSkipsAbortedRecords(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	ctx := context.Background()
	plain, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	txn, err := kgo.NewClient(append(opts, kgo.TransactionalID("scan-test"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	produce := func(cl *kgo.Client, p int32, v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	inTxn := func(commit kgo.TransactionEndTry, p int32, v string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(txn, p, v)
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	produce(plain, 0, "a")
	produce(plain, 0, "b")
	inTxn(kgo.TryCommit, 0, "committed")
	inTxn(kgo.TryAbort, 1, "aborted")

	bounds, err := Offsets(ctx, kadm.NewClient(plain), "t")
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{}
	for p, b := range bounds {
		plan[p] = Range{b.Low, b.High}
	}
	produce(plain, 0, "after the plan")

	var got []string
	if err := Read(ctx, opts, "t", plan, func(r *kgo.Record) bool {
		got = append(got, string(r.Value))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[a b committed]"; fmt.Sprint(got) != want {
		t.Fatalf("read %v, want %s", got, want)
	}
}
