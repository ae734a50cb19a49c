package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/config/configtest"
	"github.com/martech/eventfwd/libs/deadletter"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// run runs the CLI with env and returns its exit code, stdout and stderr (the error as main
// would print it).
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(t.Context(), args, IO{Stdout: &out, Stderr: &errOut, Env: Environment.FromMap(env), Now: func() time.Time { return now }})
	if err != nil {
		fmt.Fprintln(&errOut, "dlq:", err)
	}
	return ExitCode(err), out.String(), errOut.String()
}

func TestBadUsageExitsTwoWithOneLineNamingTheProblem(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		give []string
		want string
	}{
		{"no command", nil, nil, "no command given"},
		{"unknown command", nil, []string{"park"}, `unknown command "park"`},
		{"unknown flag", nil, []string{"list", "--colour"}, "flag provided but not defined: -colour"},
		{"stray argument", nil, []string{"stats", "events.dlq"}, `unexpected argument "events.dlq"`},
		{"bad output", nil, []string{"list", "--output", "yaml"}, `--output: "yaml"`},
		{"bad reason", nil, []string{"stats", "--reason", "lost"}, `--reason: "lost"`},
		{"bad since", nil, []string{"replay", "--dry-run", "--since", "last week"}, `--since: "last week"`},
		{"offset without partition", nil, []string{"show", "--offset", "4"}, "--offset needs --partition"},
		{"offset and range", nil, []string{"show", "--partition", "1", "--offset", "4", "--to-offset", "5"}, "either --offset or"},
		{"negative max", nil, []string{"list", "--max", "-1"}, "--max: -1"},
		{"replay without name", nil, []string{"replay"}, "--name is required"},
		{"bad name", nil, []string{"replay", "--name", "a b"}, `--name: "a b"`},
		{"bad rate", nil, []string{"replay", "--name", "r", "--rate", "-3"}, "--rate: -3"},
		{"bad max age", nil, []string{"replay", "--name", "r", "--max-age", "a week"}, "--max-age"},
		{"bad batch", nil, []string{"replay", "--name", "r", "--batch", "0"}, "--batch: 0"},
		{"bad brokers flag", nil, []string{"stats", "--brokers", "localhost"}, `--brokers: "localhost" is not host:port`},
		{"bad brokers variable", map[string]string{"KAFKA_BROKERS": "nohost"}, []string{"stats"}, "KAFKA_BROKERS"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, []string{"stats"}, "LOG_LEVEL"},
		{"bad max record bytes", map[string]string{"MAX_RECORD_BYTES": "12"}, []string{"replay", "--name", "r"}, "MAX_RECORD_BYTES"},
		{"replay onto the DLQ", nil, []string{"replay", "--name", "r", "--events-topic", "events.dlq"}, "both events.dlq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, tt.env, tt.give...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, stderr, ExitUsage, tt.want)
			}
			if strings.Count(stderr, "\n") > 1 && tt.give != nil {
				t.Errorf("stderr has more than one line: %q", stderr)
			}
		})
	}
}

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	tests := []struct {
		give []string
		want string
	}{
		{[]string{"-h"}, "Exit codes:"},
		{[]string{"replay", "-h"}, "-max-replays"},
		{[]string{"stats", "--help"}, "-since"},
		{[]string{"-h"}, "MAX_RECORD_BYTES"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			code, stdout, _ := run(t, nil, tt.give...)
			if code != ExitOK || !strings.Contains(stdout, tt.want) {
				t.Errorf("exit %d, stdout lacks %q", code, tt.want)
			}
		})
	}
}

func TestUnreachableBrokerExitsThree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, stderr := run(t, nil, "stats", "--brokers", addr, "--timeout", "2s")
	if code != ExitUnreachable || !strings.Contains(stderr, "cannot reach Kafka at "+addr) {
		t.Fatalf("exit %d, stderr %q; want %d and the address", code, stderr, ExitUnreachable)
	}
}

// A whole round on an embedded broker: the commands read what the forwarder wrote, a replay
// sends it, and a missing topic exits 4.
func TestCommandsOnKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events.dlq", "events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env := map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0]}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	id := "00000000-0000-4000-8000-000000000001"
	value := fmt.Sprintf(`{"event_id":%q,"user_id":"u","event_name":"lead","event_time":%q,"value":"2.5","campaign_id":"c"}`,
		id, now.Add(-time.Hour).Format(time.RFC3339))
	for _, src := range []*kgo.Record{
		{Topic: "events.raw", Key: []byte(id), Value: []byte(value)},
		{Topic: "events.raw", Key: []byte("junk"), Value: []byte("not json")},
	} {
		reason, status := deadletter.Rejected, 400
		if string(src.Key) == "junk" {
			reason, status = deadletter.Invalid, 0
		}
		r := deadletter.Record("events.dlq", src, deadletter.Failure{Reason: reason, HTTPStatus: status, FailedAt: now.Add(-time.Minute)})
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	code, stdout, stderr := run(t, env, "stats", "--output", "json")
	var st struct {
		Records      int64            `json:"records"`
		ByHTTPStatus map[string]int64 `json:"by_http_status"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Records != 2 || st.ByHTTPStatus["400"] != 1 {
		t.Fatalf("stats: exit %d %v %+v\n%s", code, err, st, stderr)
	}
	code, stdout, _ = run(t, env, "list", "--reason", "invalid")
	if code != 0 || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, "junk") {
		t.Fatalf("list --reason invalid: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, env, "show", "--event-id", id)
	if code != 0 || !strings.Contains(stdout, `"value_cents":250`) {
		t.Fatalf("show --event-id: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "t1")
	if code != 0 || !strings.Contains(stdout, "sent 1 to events.raw") || !strings.Contains(stdout, "held back, not a valid event:             1") {
		t.Fatalf("replay: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, env, "replay", "--name", "t1", "--events-topic", "events.gone")
	if code != ExitNoTopic || !strings.Contains(stderr, "topic events.gone does not exist") {
		t.Fatalf("replay to a missing topic: exit %d %s", code, stderr)
	}
}

// A group coordinator that never answers ends the replay with exit 3 naming the group, once
// --timeout (at least minCoordinatorWait) has passed.
func TestReplayGivesUpOnACoordinatorThatNeverAnswers(t *testing.T) {
	minCoordinatorWait = time.Second
	t.Cleanup(func() { minCoordinatorWait = 30 * time.Second })
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.dlq", "events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Group: "dlq-replay-stuck", Err: kerr.CoordinatorNotAvailable, Count: -1})

	// Without the bound the replay would wait for ever: the test's deadline stands in for Ctrl-C.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = Run(ctx, []string{"replay", "--name", "stuck", "--timeout", "1s"},
		IO{Stdout: &out, Stderr: &errOut, Env: Environment.FromMap(map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0]}), Now: func() time.Time { return now }})
	if ExitCode(err) != ExitUnreachable || !strings.Contains(fmt.Sprint(err), "group dlq-replay-stuck") {
		t.Fatalf("exit %d, error %v; want %d naming the group", ExitCode(err), err, ExitUnreachable)
	}
}

// deadLetterN writes n rejected dead-letter records of valid, recent events to topic.
func deadLetterN(t *testing.T, cl *kgo.Client, topic string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ids = append(ids, id)
		value := fmt.Sprintf(`{"event_id":%q,"user_id":"u","event_name":"lead","event_time":%q,"value":"2.5","campaign_id":"c"}`,
			id, now.Add(-time.Hour).Format(time.RFC3339))
		src := &kgo.Record{Topic: "events.raw", Offset: int64(i), Key: []byte(id), Value: []byte(value)}
		r := deadletter.Record(topic, src, deadletter.Failure{Reason: deadletter.Rejected, HTTPStatus: 400, FailedAt: now.Add(-time.Minute)})
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func fakeDLQ(t *testing.T, partitions int) (map[string]string, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), "events.dlq", "events.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0]}, cl
}

// A run that a second run of the same name fences says so, not that --max stopped it, and the
// Kafka client's error lines stay out of the operator's terminal.
func TestReplayTakenOverSaysSo(t *testing.T) {
	env, cl := fakeDLQ(t, 1)
	deadLetterN(t, cl, "events.dlq", 30)

	type result struct {
		code           int
		stdout, stderr string
	}
	first := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		err := Run(t.Context(), []string{"replay", "--name", "twice", "--rate", "10", "--batch", "1"},
			IO{Stdout: &out, Stderr: &errOut, Env: Environment.FromMap(env), Now: func() time.Time { return now }})
		if err != nil {
			fmt.Fprintln(&errOut, "dlq:", err)
		}
		first <- result{ExitCode(err), out.String(), errOut.String()}
	}()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(20 * time.Second)
	for {
		offs, err := adm.FetchOffsets(t.Context(), "dlq-replay-twice")
		if o, ok := offs.Lookup("events.dlq", 0); err == nil && ok && o.At >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run committed nothing within 20 s")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, with a deadline
	}
	code, stdout, stderr := run(t, env, "replay", "--name", "twice")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, stdout, stderr)
	}
	r := <-first
	if r.code != ExitError || !strings.Contains(r.stdout, "another run named twice took over") ||
		!strings.Contains(r.stderr, "another run named twice took over; this run stopped, nothing is lost") {
		t.Errorf("first run: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 saying another run took over", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "--max") {
		t.Errorf("first run blames --max:\n%s", r.stdout)
	}
	if strings.Contains(r.stderr, "level=ERROR") {
		t.Errorf("the Kafka client's log reached the terminal:\n%s", r.stderr)
	}
}

// deadLetterAged writes one rejected dead-letter record per id, with an event_time age old.
func deadLetterAged(t *testing.T, cl *kgo.Client, id string, age time.Duration) {
	t.Helper()
	value := fmt.Sprintf(`{"event_id":%q,"user_id":"u","event_name":"lead","event_time":%q,"value":"2.5","campaign_id":"c"}`,
		id, now.Add(-age).Format(time.RFC3339))
	src := &kgo.Record{Topic: "events.raw", Key: []byte(id), Value: []byte(value)}
	r := deadletter.Record("events.dlq", src, deadletter.Failure{Reason: deadletter.Rejected, HTTPStatus: 400, FailedAt: now.Add(-time.Minute)})
	if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Runbook 2 as written: a replay holds old events back; after it, `list --held-by` still finds
// them (the name's position is past them) and a forced replay of just those sends them; and a
// name's summary covers all its runs.
func TestHeldBackRecordsCanBeListedAndForcedAfterTheReplay(t *testing.T) {
	env, cl := fakeDLQ(t, 1)
	var old []string
	for i := range 6 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		if i%2 == 0 {
			deadLetterAged(t, cl, id, 8*24*time.Hour)
			old = append(old, id)
		} else {
			deadLetterAged(t, cl, id, time.Hour)
		}
	}
	// No replay has run yet: no ledger topic, nothing held back.
	code, stdout, stderr := run(t, env, "list", "--held-by", "r")
	if code != 0 || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("list --held-by before any replay: exit %d, want only the header\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "r", "--max", "2")
	if code != 0 || !strings.Contains(stdout, "sent 2 to events.raw") {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "r")
	if code != 0 || !strings.Contains(stdout, "all 2 runs of replay r: looked at 6 records, sent 3 to events.raw") ||
		!strings.Contains(stdout, "held back, event_time older than 7d:      3") {
		t.Fatalf("second run: exit %d, want the summary of both runs\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = run(t, env, "list", "--held-by", "r:held-old", "--output", "json")
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var rec struct{ Key string }
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			listed = append(listed, rec.Key)
		}
	}
	if code != 0 || fmt.Sprint(listed) != fmt.Sprint(old) {
		t.Fatalf("list --held-by r:held-old: exit %d, listed %v, want %v\n%s", code, listed, old, stderr)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "r-old", "--held-by", "r:held-old", "--force")
	if code != 0 || !strings.Contains(stdout, "sent 3 to events.raw") {
		t.Fatalf("forced replay of the held-old: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, env, "list", "--held-by", "r:lost")
	if code != ExitUsage || !strings.Contains(stderr, "--held-by") {
		t.Fatalf("bad --held-by: exit %d %s", code, stderr)
	}
}

// A replay asks for a short transaction timeout (REPLAY_TRANSACTION_TIMEOUT, 5 s by default):
// a killed run's open transaction holds the forwarder's read_committed reads until the broker
// aborts it, so that must come soon.
func TestReplayUsesAShortTransactionTimeout(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int32 // ms
	}{
		{"default", nil, nil, 5000},
		{"from the environment", map[string]string{"REPLAY_TRANSACTION_TIMEOUT": "2s"}, nil, 2000},
		{"the flag wins", map[string]string{"REPLAY_TRANSACTION_TIMEOUT": "2s"}, []string{"--transaction-timeout", "3s"}, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.dlq", "events.raw"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var (
				mu    sync.Mutex
				asked []int32
			)
			c.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if r := req.(*kmsg.InitProducerIDRequest); r.TransactionalID != nil {
					mu.Lock()
					asked = append(asked, r.TransactionTimeoutMillis)
					mu.Unlock()
				}
				return nil, nil, false
			})
			env := map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0]}
			for k, v := range tt.env {
				env[k] = v
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			deadLetterN(t, cl, "events.dlq", 2)
			code, stdout, stderr := run(t, env, append([]string{"replay", "--name", "short"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(asked) == 0 {
				t.Fatal("no transactional InitProducerID seen")
			}
			for _, ms := range asked {
				if ms != tt.want {
					t.Errorf("transaction timeouts asked for: %v ms, want %d", asked, tt.want)
					break
				}
			}
		})
	}
	code, _, stderr := run(t, map[string]string{"REPLAY_TRANSACTION_TIMEOUT": "5m"}, "replay", "--name", "x")
	if code != ExitUsage || !strings.Contains(stderr, "REPLAY_TRANSACTION_TIMEOUT") {
		t.Errorf("a timeout over the bound: exit %d, %q; want 2 naming the variable", code, stderr)
	}
}

// --partition/--from-offset under a name moves its position past the records before the
// offset without judging them: the replay says so, with the count and the range, before it
// starts (and the dry run says a replay would).
func TestReplayFromAnOffsetWarnsOfTheRecordsItPassesOver(t *testing.T) {
	env, cl := fakeDLQ(t, 1)
	deadLetterN(t, cl, "events.dlq", 10)
	want := "partition 0 offsets 0..5 (6 records) are before --from-offset 6"
	code, stdout, stderr := run(t, env, "replay", "--name", "from", "--partition", "0", "--from-offset", "6", "--dry-run")
	if code != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("dry run: exit %d, stderr lacks %q\n%s%s", code, want, stdout, stderr)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "from", "--partition", "0", "--from-offset", "6")
	if code != 0 || !strings.Contains(stderr, want) || !strings.Contains(stdout, "sent 4 to") {
		t.Fatalf("replay: exit %d, stderr lacks %q\n%s%s", code, want, stdout, stderr)
	}
	// Resumed under the same name, the position is past them already: nothing to warn of.
	code, stdout, stderr = run(t, env, "replay", "--name", "from", "--partition", "0", "--from-offset", "6")
	if code != 0 || strings.Contains(stderr, "before --from-offset") {
		t.Fatalf("resumed replay: exit %d, warns again\n%s%s", code, stdout, stderr)
	}
}

// show on a record dead-lettered without its payload says so, with the original's size, rather
// than judging the empty value as JSON.
func TestShowSaysWhenThePayloadWasLeftOut(t *testing.T) {
	env, cl := fakeDLQ(t, 1)
	id := "00000000-0000-4000-8000-000000000001"
	src := &kgo.Record{Topic: "events.raw", Partition: 3, Offset: 77, Key: []byte(id), Value: bytes.Repeat([]byte("x"), 950_000)}
	shrunk, omitted := deadletter.Shrink(src)
	r := deadletter.Record("events.dlq", shrunk, deadletter.Failure{Reason: deadletter.Invalid, Message: "too large", FailedAt: now, Omitted: omitted})
	if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		code, stdout, stderr := run(t, env, "show", "--partition", "0", "--offset", "0", "--output", format)
		if code != 0 || !strings.Contains(stdout, "dead-lettered without its payload") || !strings.Contains(stdout, "value (950000 bytes)") ||
			strings.Contains(stdout, "invalid JSON") {
			t.Errorf("show --output %s: exit %d\n%s%s", format, code, stdout, stderr)
		}
	}
}

// Repeated replays of an event that keeps failing leave a DLQ copy per round: stats counts the
// distinct events beside the records, and --latest selects only the newest copy of each event,
// in list and replay alike.
func TestLatestSelectsTheNewestCopyOfEachEvent(t *testing.T) {
	env, cl := fakeDLQ(t, 2)
	a, b := "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	for i, id := range []string{a, a, b, a} {
		value := fmt.Sprintf(`{"event_id":%q,"user_id":"u","event_name":"lead","event_time":%q,"value":"2.5","campaign_id":"c"}`,
			id, now.Add(-time.Hour).Format(time.RFC3339))
		src := &kgo.Record{Topic: "events.raw", Offset: int64(i), Key: []byte(id), Value: []byte(value),
			Headers: []kgo.RecordHeader{{Key: deadletter.HeaderReplayCount, Value: []byte(fmt.Sprint(i))}}}
		r := deadletter.Record("events.dlq", src, deadletter.Failure{Reason: deadletter.Exhausted, HTTPStatus: 503, FailedAt: now.Add(time.Duration(i-10) * time.Minute)})
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := run(t, env, "stats", "--output", "json")
	var st struct {
		Records int64 `json:"records"`
		Events  int64 `json:"events"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Records != 4 || st.Events != 2 {
		t.Fatalf("stats: exit %d %v %+v, want 4 records of 2 events\n%s", code, err, st, stderr)
	}
	code, stdout, stderr = run(t, env, "list", "--latest", "--output", "json")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var rec struct {
			Key     string
			Headers map[string]string
		}
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			got = append(got, rec.Key[len(rec.Key)-1:]+rec.Headers["dlq.replay_count"])
		}
	}
	slices.Sort(got)
	if code != 0 || fmt.Sprint(got) != "[a3 b2]" {
		t.Fatalf("list --latest: exit %d, got %v, want the newest copy of a (replay_count 3) and b\n%s", code, got, stderr)
	}
	code, stdout, stderr = run(t, env, "replay", "--name", "newest", "--latest", "--max-replays", "0")
	if code != 0 || !strings.Contains(stdout, "sent 2 to events.raw") {
		t.Fatalf("replay --latest: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, Environment, "../../../../README.md")
}

func TestSettingsReadEveryVariable(t *testing.T) {
	env := Environment.FromMap(nil)
	if _, err := (common{timeout: time.Second}).settings(IO{Stderr: io.Discard, Env: env}); err != nil {
		t.Fatal(err)
	}
	configtest.CheckReads(t, Environment, env)
}
