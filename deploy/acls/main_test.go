package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/martech/eventfwd/libs/config/configtest"
)

func TestGrantsAreTheREADMETable(t *testing.T) {
	n := names{events: "ev", dlq: "dl", delivered: "de", group: "g", replayPrefix: "dlq-replay-"}
	tests := []struct {
		name        string
		allowCreate bool
		want        []string
	}{
		{"topics made beforehand", false, []string{
			"User:i topic ev [WRITE]",
			"User:f topic ev [READ WRITE]",
			"User:f topic dl [WRITE]",
			"User:f topic de [READ WRITE]",
			"User:f group g [READ]",
			"User:d topic dl [READ]",
			"User:d topic ev [WRITE]",
			"User:d topic dl.replays [READ WRITE]",
			"User:d group prefix dlq-replay- [READ]",
			"User:d transactional id prefix dlq-replay- [WRITE]",
		}},
		{"services create their topics", true, []string{
			"User:i topic ev [CREATE]",
			"User:f topic ev [CREATE]",
			"User:f topic dl [CREATE]",
			"User:f topic de [CREATE]",
			"User:d topic dl.replays [CREATE]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, g := range grants(n, "User:i", "User:f", "User:d", tt.allowCreate) {
				got = append(got, strings.Join(strings.Fields(g.String()), " "))
			}
			joined := strings.Join(got, "\n")
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Errorf("no grant %q in\n%s", w, joined)
				}
			}
			if !tt.allowCreate && strings.Contains(joined, "CREATE") {
				t.Errorf("CREATE granted without -allow-create:\n%s", joined)
			}
		})
	}
}

func TestDryRunNeedsAPrincipalAndChangesNothing(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-dry-run"}, settings.FromMap(nil), &out); err == nil {
		t.Fatal("no principal named: want an error")
	}
	out.Reset()
	// No broker at this address: a dry run must not connect.
	env := settings.FromMap(map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "EVENTS_TOPIC": "custom.raw"})
	if err := run(context.Background(), []string{"-ingress", "User:i", "-dry-run"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "custom.raw") || strings.Contains(out.String(), "created") {
		t.Fatalf("dry run printed %q", out.String())
	}
}

func TestSettingsReadEveryVariable(t *testing.T) {
	env := settings.FromMap(nil)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-ingress", "User:i", "-dry-run"}, env, &out); err != nil {
		t.Fatal(err)
	}
	configtest.CheckReads(t, settings, env)
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, settings, "../../README.md")
}
