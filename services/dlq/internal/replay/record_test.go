package replay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
)

func TestRecordKeepsKeyValueAndHeadersAndCountsTheReplay(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 5, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		give []kgo.RecordHeader
		want []kgo.RecordHeader
	}{
		{
			name: "first replay",
			give: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}, {Key: "dlq.reason", Value: []byte("rejected")},
				{Key: "dlq.replay_count", Value: []byte("0")}},
			want: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}, {Key: "dlq.reason", Value: []byte("rejected")},
				{Key: "dlq.replay_count", Value: []byte("1")}, {Key: "dlq.replayed_at", Value: []byte("2026-11-24T09:00:00.000000005Z")},
				{Key: "dlq.replayed_from", Value: []byte("events.dlq/4/77")}, {Key: "dlq.replay_name", Value: []byte("r1")}},
		},
		{
			name: "a replay of a replay replaces the replay headers",
			give: []kgo.RecordHeader{{Key: "dlq.replay_count", Value: []byte("2")}, {Key: "dlq.replayed_at", Value: []byte("old")},
				{Key: "dlq.replayed_from", Value: []byte("old")}, {Key: "dlq.replay_name", Value: []byte("old")}},
			want: []kgo.RecordHeader{{Key: "dlq.replay_count", Value: []byte("3")}, {Key: "dlq.replayed_at", Value: []byte("2026-11-24T09:00:00.000000005Z")},
				{Key: "dlq.replayed_from", Value: []byte("events.dlq/4/77")}, {Key: "dlq.replay_name", Value: []byte("r1")}},
		},
		{
			name: "no replay count yet",
			give: nil,
			want: []kgo.RecordHeader{{Key: "dlq.replay_count", Value: []byte("1")}, {Key: "dlq.replayed_at", Value: []byte("2026-11-24T09:00:00.000000005Z")},
				{Key: "dlq.replayed_from", Value: []byte("events.dlq/4/77")}, {Key: "dlq.replay_name", Value: []byte("r1")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &kgo.Record{Topic: "events.dlq", Partition: 4, Offset: 77, Key: []byte("k"), Value: []byte("v"), Headers: tt.give}
			got := Record("events.raw", src, "r1", at)
			if got.Topic != "events.raw" || string(got.Key) != "k" || string(got.Value) != "v" {
				t.Errorf("record %s %q %q, want events.raw with the same key and value", got.Topic, got.Key, got.Value)
			}
			if fmt.Sprintf("%q", got.Headers) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("headers\n got %q\nwant %q", got.Headers, tt.want)
			}
		})
	}
}

// The forwarder carries the count on when it dead-letters a replayed event again, so the cap
// sees it on the next round, and the replay's name, so an operator sees which replay failed.
func TestReplayCountAndNameSurviveTheNextDeadLettering(t *testing.T) {
	src := &kgo.Record{Topic: "events.dlq", Key: []byte("k"), Headers: []kgo.RecordHeader{{Key: "dlq.replay_count", Value: []byte("1")}}}
	again := deadletter.Record("events.dlq", Record("events.raw", src, "r", time.Now()), deadletter.Failure{Reason: deadletter.Rejected})
	if got := deadletter.ReplayCount(again.Headers); got != 2 {
		t.Fatalf("replay count after a second dead-lettering = %d, want 2", got)
	}
	if name, _ := deadletter.Header(again.Headers, deadletter.HeaderReplayName); name != "r" {
		t.Errorf("dlq.replay_name after a second dead-lettering = %q, want the replay's name r", name)
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	id := "00000000-0000-4000-8000-000000000001"
	valid := func(age time.Duration) []byte {
		return fmt.Appendf(nil, `{"event_id":%q,"user_id":"u","event_name":"lead","event_time":%q,"value":1,"campaign_id":"c"}`,
			id, now.Add(-age).Format(time.RFC3339))
	}
	policy := Policy{MaxReplays: 3, MaxAge: 7 * 24 * time.Hour, Names: event.NewNames("lead")}
	forced := policy
	forced.Force = true
	noBounds := Policy{Names: event.NewNames("lead")}
	sized := forced
	sized.MaxRecordBytes = 1024
	tests := []struct {
		name    string
		policy  Policy
		key     string
		value   []byte
		replays int
		want    Decision
	}{
		{"recent valid event", policy, id, valid(time.Hour), 0, Send},
		{"replayed twice already", policy, id, valid(time.Hour), 2, Send},
		{"at the cap", policy, id, valid(time.Hour), 3, Capped},
		{"at the cap, forced", forced, id, valid(time.Hour), 3, Capped},
		{"no cap", noBounds, id, valid(time.Hour), 30, Send},
		{"too old", policy, id, valid(8 * 24 * time.Hour), 0, HeldOld},
		{"too old, forced", forced, id, valid(8 * 24 * time.Hour), 0, Send},
		{"no age bound", noBounds, id, valid(800 * 24 * time.Hour), 0, Send},
		{"garbage", policy, "k", []byte("not json"), 0, HeldInvalid},
		{"under the size limit (every byte counted)", sized, "k", make([]byte, 900), 0, Send},
		{"over the size limit", sized, id, append(valid(time.Hour), make([]byte, 1024)...), 0, HeldTooLarge},
		{"over the size limit, at the cap", sized, "k", make([]byte, 1025), 3, Capped},
		// 1023 bytes as it sits in the DLQ, over 1024 once the replay's headers are added: the
		// forwarder weighs what the replay writes.
		{"over the size limit as replayed", sized, "k", make([]byte, 1000), 0, HeldTooLarge},
		{"garbage, forced", forced, "k", []byte("not json"), 0, Send},
		{"key is not the event_id", policy, "other", valid(time.Hour), 0, HeldInvalid},
		{"unknown event_name", Policy{Names: event.NewNames("purchase")}, id, valid(time.Hour), 0, HeldInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &kgo.Record{Key: []byte(tt.key), Value: tt.value}
			got := tt.policy.Decide(r, dlqrecord.Fields{ReplayCount: tt.replays}, now)
			if got.Decision != tt.want {
				t.Errorf("Decide = %s (invalid: %v), want %s", got.Decision, got.Invalid, tt.want)
			}
		})
	}
}

// A record dead-lettered without its payload (too large to carry) has nothing to send, forced or not.
func TestDecideHoldsARecordDeadLetteredWithoutItsPayload(t *testing.T) {
	r := &kgo.Record{Key: []byte("k"), Headers: []kgo.RecordHeader{
		{Key: deadletter.HeaderOmitted, Value: []byte("value (2000000 bytes) and headers (0 bytes)")}}}
	got := Policy{Force: true, Names: event.NewNames("lead")}.Decide(r, dlqrecord.Fields{}, time.Now())
	if got.Decision != HeldTooLarge || got.Invalid == nil || !strings.Contains(got.Invalid.Error(), "2000000 bytes") {
		t.Errorf("Decide = %s (%v), want held-too-large saying what was left out", got.Decision, got.Invalid)
	}
}

func TestPreviewNeedsAKey(t *testing.T) {
	_, err := Preview(&kgo.Record{Value: []byte(`{}`)}, event.NewNames("lead"))
	if err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("Preview of a record without key = %v, want an error saying so", err)
	}
}
