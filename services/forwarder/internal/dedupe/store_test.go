package dedupe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	idA      = "0b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idB      = "1b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idC      = "2b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idStale  = "3b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idRecent = "4b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idOld    = "5b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idNever  = "6b6f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
)

func TestClaimMakesASecondCopyWaitForTheFirst(t *testing.T) {
	tests := []struct {
		name      string
		delivered bool // what became of the first copy
		want      error
	}{
		{"first delivered: the copy is a duplicate", true, ErrDuplicate},
		{"first dead-lettered: the copy gets its own chance", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("markers", 100, time.Hour)
			release, err := s.Claim(t.Context(), idA)
			if err != nil {
				t.Fatal(err)
			}
			second := make(chan error, 1)
			go func() {
				rel, err := s.Claim(t.Context(), idA)
				if rel != nil {
					rel()
				}
				second <- err
			}()
			select {
			case err := <-second:
				t.Fatalf("second copy did not wait for the first: %v", err)
			case <-time.After(20 * time.Millisecond): // proving a wait: nothing may arrive here
			}
			if tt.delivered {
				s.MarkDelivered(idA, time.Now())
			}
			release()
			if err := <-second; !errors.Is(err, tt.want) {
				t.Fatalf("second Claim = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDeliveredRespectsTheWindow(t *testing.T) {
	s := New("markers", 100, time.Hour)
	s.MarkDelivered(idRecent, time.Now().Add(-59*time.Minute))
	s.MarkDelivered(idOld, time.Now().Add(-61*time.Minute))
	if !s.Delivered(idRecent) || s.Delivered(idOld) || s.Delivered(idNever) {
		t.Fatalf("Delivered: recent=%v old=%v never=%v, want true false false",
			s.Delivered(idRecent), s.Delivered(idOld), s.Delivered(idNever))
	}
}

// The markers written by one store are what a new store (a restarted or newly assigned
// forwarder) reads back, per partition and within the window.
func TestLoadReadsBackTheMarkersOfTheAssignedPartitions(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "markers"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	first := New("markers", 100, time.Hour)
	write := func(id string, partition int32, at time.Time) {
		r := first.Marker(id, at)
		r.Partition = partition
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	write(idA, 0, now)
	write(idB, 1, now)
	write(idC, 2, now)
	write(idStale, 1, now.Add(-2*time.Hour))

	second := New("markers", 100, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := second.Load(ctx, opts, []int32{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range []string{idA, idB, idC, idStale} {
		got[id] = second.Delivered(id)
	}
	want := map[string]bool{idA: true, idB: true, idC: false, idStale: false}
	for id := range want {
		if got[id] != want[id] {
			t.Errorf("after Load(0,1): Delivered(%s) = %v, want %v", id, got[id], want[id])
		}
	}
	if n != 2 {
		t.Errorf("Load counted %d markers, want 2", n)
	}
}

type count struct{ n int }

func (c *count) Inc() { c.n++ }

// Every eviction inside the window is counted; the warning with the sizing advice is logged at
// most once a minute, and names the size the current rate needs: 1000 ids spanning 10 minutes
// means 6000 per hour.
func TestEvictionsAreCountedAndLoggedOnceAMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		evictions := &count{}
		s := New("markers", 1000, time.Hour,
			WithEvictionReport(slog.New(slog.NewJSONHandler(&logs, nil)), evictions))
		fill := func(from, n int, at time.Time) {
			for i := from; i < from+n; i++ {
				s.MarkDelivered(uuidV1(i), at)
			}
		}
		fill(0, 1000, time.Now().Add(-10*time.Minute))
		fill(1000, 300, time.Now())
		time.Sleep(59 * time.Second) // fake time in the bubble
		fill(1300, 300, time.Now())
		if evictions.n != 600 {
			t.Fatalf("%d evictions counted, want 600", evictions.n)
		}
		if n := strings.Count(logs.String(), "\n"); n != 1 {
			t.Fatalf("%d warnings within a minute, want 1:\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), "DEDUPE_CACHE_SIZE to at least 6000") {
			t.Fatalf("warning without the sizing advice: %s", logs.String())
		}
		time.Sleep(2 * time.Second)
		fill(1600, 1, time.Now())
		if n := strings.Count(logs.String(), "\n"); n != 2 {
			t.Fatalf("%d warnings after a minute, want 2", n)
		}
	})
}
