package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/deadletter"
)

// The dead-letter runbooks of the README, run as written, command by command, against the real
// broker: each command is taken from README.md (the indented lines under "#### Runbook: ..."), run
// by bash from a folder where bin/ holds the binaries, with DLQ_TOPIC and EVENTS_TOPIC pointing at
// the test's topics, and its output checked. A runbook that gains, loses or reorders a command
// fails here until its test says what that command must show.

// runbooks reads the runbooks' commands from the README, by title.
func runbooks(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	title := ""
	heading := regexp.MustCompile(`^#### Runbook: "(.*)"$`)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch m := heading.FindStringSubmatch(line); {
		case m != nil:
			title = m[1]
		case strings.HasPrefix(line, "#"):
			title = ""
		case title != "" && strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "":
			out[title] = append(out[title], strings.TrimSpace(line))
		}
	}
	return out
}

// step is what one command of a runbook must do: before runs first (the world moving on between
// two commands), check judges its output.
type step struct {
	before func(t *testing.T)
	check  func(t *testing.T, res dlqResult)
}

// runRunbook runs the README's commands of the runbook called title with the test's topics, one
// step per command.
func runRunbook(t *testing.T, title string, n names, steps []step) {
	t.Helper()
	cmds := runbooks(t)[title]
	if len(cmds) != len(steps) {
		t.Fatalf("runbook %q has %d commands in the README, the test knows %d:\n%s", title, len(cmds), len(steps), strings.Join(cmds, "\n"))
	}
	dir := t.TempDir()
	if err := os.Symlink(binDir, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if steps[i].before != nil {
			steps[i].before(t)
		}
		res := runbookCommand(t, dir, n, cmd)
		if res.code != 0 {
			t.Fatalf("runbook %q, command %d: %s\nexit %d\n%s%s", title, i+1, cmd, res.code, res.stdout, res.stderr)
		}
		steps[i].check(t, res)
		if t.Failed() {
			t.Fatalf("runbook %q, command %d: %s\nstdout:\n%s\nstderr:\n%s", title, i+1, cmd, dlqTail(res.stdout), dlqTail(res.stderr))
		}
	}
}

func runbookCommand(t *testing.T, dir string, n names, command string) dlqResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers, "DLQ_TOPIC="+n.dlq, "EVENTS_TOPIC="+n.events)
	res := runToEnd(t, cmd)
	t.Logf("$ %s -> exit %d in %s\n%s", command, res.code, res.took.Round(time.Millisecond), dlqTail(res.stdout))
	return res
}

// incident is the runbooks' example window: 2026-11-24, 08:00 to 10:00 UTC.
var incident = time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC)

// deadLettered is a dead-letter record as the forwarder writes it.
type deadLettered struct {
	id        string
	value     []byte // nil: a valid event of id, an hour old
	reason    deadletter.Reason
	status    int
	errorText string
	failedAt  time.Time
	headers   []kgo.RecordHeader
}

func writeDeadLetters(t *testing.T, n names, recs ...deadLettered) {
	t.Helper()
	cl := kafkaClient(t)
	for i, d := range recs {
		value := d.value
		if value == nil {
			value = dlqEventJSON(d.id)
		}
		src := &kgo.Record{Topic: n.events, Partition: int32(i % 6), Offset: int64(i), Key: []byte(d.id), Value: value, Headers: d.headers}
		r := deadletter.Record(n.dlq, src, deadletter.Failure{
			Reason: d.reason, Message: d.errorText, HTTPStatus: d.status, Attempts: 1, FirstAttemptAt: d.failedAt, FailedAt: d.failedAt,
		})
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("write dead-letter record: %v", err)
		}
	}
}

// oldEventJSON is a valid event whose event_time is 8 days old: a replay holds it back.
func oldEventJSON(id string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"user_id":"u-old","event_name":"purchase","event_time":%q,"value":"5","campaign_id":"c-dlq"}`,
		id, time.Now().Add(-8*24*time.Hour).UTC().Format(time.RFC3339))
}

// dataLines counts the lines of a table that contain s.
func dataLines(out, s string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// statsLine is a line of a stats table: a name and its count.
func statsLine(name string, n int) string { return fmt.Sprintf("  %-24s %10d\n", name, n) }

func wantContains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// Runbook "AdEventsX was down for an hour": the exhausted records of the window are replayed
// and delivered; one that fails again is listed by the replay's name.
func TestRunbookAdEventsXWasDown(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	exhausted := []string{newUUID(), newUUID(), newUUID(), newUUID()}
	var recs []deadLettered
	for _, id := range exhausted {
		recs = append(recs, deadLettered{id: id, reason: deadletter.Exhausted, status: 503, errorText: "adeventsx answered 503", failedAt: incident})
	}
	recs = append(recs,
		deadLettered{id: newUUID(), reason: deadletter.Rejected, status: 400, errorText: "adeventsx answered 400", failedAt: incident},
		deadLettered{id: newUUID(), reason: deadletter.Exhausted, status: 503, errorText: "adeventsx answered 503", failedAt: incident.Add(3 * time.Hour)})
	writeDeadLetters(t, n, recs...)
	s := startSim(t)
	startForwarder(t, n, s, fastRetries...)

	runRunbook(t, "AdEventsX was down for an hour", n, []step{
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, n.dlq+": 6 records of 6 distinct events")
		}},
		{check: func(t *testing.T, res dlqResult) {
			if got := dataLines(res.stdout, " exhausted "); got != 4 {
				t.Errorf("%d exhausted records listed, want the 4 of the window", got)
			}
		}},
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, "would send 4 to "+n.events)
			if got := len(regexp.MustCompile(`(?m)^\d+ +\d+ +send `).FindAllString(res.stdout, -1)); got != 4 {
				t.Errorf("the dry run lists %d records to send, want 4", got)
			}
		}},
		{
			// AdEventsX refuses the first replayed event it gets: it fails again.
			before: func(t *testing.T) {
				s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 400}})
			},
			check: func(t *testing.T, res dlqResult) {
				wantContains(t, res.stdout, "replay outage-20261124: looked at", "sent 4 to "+n.events)
			},
		},
		{
			before: func(t *testing.T) {
				waitFor(t, 60*time.Second, func() (bool, string) {
					times := s.times(t)
					got := 0
					for _, id := range exhausted {
						got += times[id]
					}
					return got == 3 && len(readAll(t, n.dlq)) == len(recs)+1,
						fmt.Sprintf("3 replayed events delivered (%d) and 1 dead-lettered again", got)
				})
			},
			check: func(t *testing.T, res dlqResult) {
				if got := dataLines(res.stdout, " rejected "); got != 1 {
					t.Errorf("%d records listed as failed again in the replay, want 1", got)
				}
			},
		},
	})
	s.wantEachOnce(t)
}

// Runbook "a bad deploy got events rejected with 400": the recent ones are replayed, the old
// ones held back, listed after the replay and forced under a new name; each sent once.
func TestRunbookBadDeployRejected(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	recent := []string{newUUID(), newUUID(), newUUID()}
	old := []string{newUUID(), newUUID()}
	var recs []deadLettered
	for i, id := range append(append([]string{}, recent...), old...) {
		d := deadLettered{id: id, reason: deadletter.Rejected, status: 400, errorText: `adeventsx answered 400 Bad Request: {"error":"invalid_payload"}`,
			failedAt: incident.Add(time.Duration(i) * time.Minute)}
		if i >= len(recent) {
			d.value = oldEventJSON(id)
		}
		recs = append(recs, d)
	}
	// Outside the replay's window (after 09:30), so not replayed.
	recs = append(recs, deadLettered{id: newUUID(), reason: deadletter.Rejected, status: 400, errorText: "adeventsx answered 400", failedAt: incident.Add(75 * time.Minute)})
	writeDeadLetters(t, n, recs...)

	runRunbook(t, "a bad deploy got events rejected with 400", n, []step{
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, n.dlq+": 6 records", statsLine("400", 6))
		}},
		{check: func(t *testing.T, res dlqResult) {
			if got := strings.Count(res.stdout, "  transform: "); got != 3 {
				t.Errorf("show --max 3 showed %d records, want 3", got)
			}
		}},
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, "would send 3 to "+n.events, "held back, event_time older than 7d:      2")
		}},
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, "sent 3 to "+n.events, "held back, event_time older than 7d:      2", "--held-by deploy-4711:held-old")
		}},
		{check: func(t *testing.T, res dlqResult) {
			for _, id := range old {
				wantContains(t, res.stdout, id)
			}
			if got := dataLines(res.stdout, " rejected "); got != len(old) {
				t.Errorf("list --held-by listed %d records, want the %d old ones", got, len(old))
			}
		}},
		{check: func(t *testing.T, res dlqResult) { wantContains(t, res.stdout, "sent 2 to "+n.events) }},
	})
	sent := map[string]int{}
	for _, r := range readAll(t, n.events) {
		sent[header(r, "dlq.replay_name")+" "+string(r.Key)]++
	}
	for _, id := range recent {
		if sent["deploy-4711 "+id] != 1 {
			t.Errorf("%s sent %d times by deploy-4711, want once", id, sent["deploy-4711 "+id])
		}
	}
	for _, id := range old {
		if sent["deploy-4711-old "+id] != 1 {
			t.Errorf("%s sent %d times by deploy-4711-old, want once", id, sent["deploy-4711-old "+id])
		}
	}
	if len(sent) != len(recent)+len(old) {
		t.Errorf("%d records sent, want %d: %v", len(sent), len(recent)+len(old), sent)
	}
}

// Runbook "a producer is writing garbage into events.raw": the garbage is counted, its errors
// tallied, the producer found by its headers, and a dry run with the fixed EVENT_NAMES would send
// only the records that were valid after all.
func TestRunbookProducerWritesGarbage(t *testing.T) {
	n := newNames(t)
	createTopics(t, n)
	now := time.Now().Add(-10 * time.Minute)
	producer := []kgo.RecordHeader{{Key: "producer", Value: []byte("batch-importer")}}
	var recs []deadLettered
	for range 3 {
		recs = append(recs, deadLettered{id: "junk-" + randomHex(3), value: []byte("not json at all"), reason: deadletter.Invalid,
			errorText: "body: invalid JSON at byte 0", failedAt: now, headers: producer})
	}
	signups := []string{newUUID(), newUUID()}
	for _, id := range signups {
		value := fmt.Appendf(nil, `{"event_id":%q,"user_id":"u-1","event_name":"signup","event_time":%q,"value":"0","campaign_id":"c-1"}`,
			id, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		recs = append(recs, deadLettered{id: id, value: value, reason: deadletter.Invalid,
			errorText: `event_name: "signup" is not one of purchase, lead`, failedAt: now})
	}
	writeDeadLetters(t, n, recs...)

	runRunbook(t, "a producer is writing garbage into events.raw", n, []step{
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, n.dlq+": 5 records", statsLine("invalid", 5))
		}},
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, "3 body: invalid JSON at byte 0", `2 event_name: "signup" is not one of purchase, lead`)
		}},
		{check: func(t *testing.T, res dlqResult) {
			if got := strings.Count(strings.TrimSpace(res.stdout), "\n") + 1; got != 5 {
				t.Errorf("%d lines, want one per record (5)", got)
			}
			wantContains(t, res.stdout, "not json at all", `"user_id":"u-1"`)
		}},
		{check: func(t *testing.T, res dlqResult) {
			wantContains(t, res.stdout, "would send 2 to "+n.events, "held back, not a valid event:             3")
			for _, id := range signups {
				wantContains(t, res.stdout, id)
			}
		}},
	})
}
