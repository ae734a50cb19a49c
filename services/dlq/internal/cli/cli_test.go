package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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
