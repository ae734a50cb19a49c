package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/martech/eventfwd/libs/config/configtest"
)

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want string
	}{
		{"no key", map[string]string{}, "ADEVENTSX_API_KEY: is required"},
		{"bad addr", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_ADDR": "nope"}, "SIM_ADDR:"},
		{"share over 1", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_FAIL_429": "1.5"}, "SIM_FAIL_429:"},
		{"share not a number", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_TIMEOUT": "half"}, "SIM_TIMEOUT:"},
		{"shares add up over 1", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_FAIL_500": "0.6", "SIM_FAIL_503": "0.6"}, "SIM_FAIL_500+SIM_FAIL_503: shares add up to 1.2"},
		{"latency", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_LATENCY": "fast"}, "SIM_LATENCY:"},
		{"jitter", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_LATENCY_JITTER": "-1s"}, "SIM_LATENCY_JITTER:"},
		{"hold", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_TIMEOUT_HOLD": "0s"}, "SIM_TIMEOUT_HOLD:"},
		{"retry after", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_RETRY_AFTER_SECONDS": "x"}, "SIM_RETRY_AFTER_SECONDS:"},
		{"down", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_DOWN": "maybe"}, "SIM_DOWN:"},
		{"down status", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_DOWN_STATUS": "200"}, "SIM_DOWN_STATUS:"},
		{"seed", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_SEED": "-3"}, "SIM_SEED:"},
		{"max events", map[string]string{"ADEVENTSX_API_KEY": "k", "SIM_MAX_EVENTS": "0"}, "SIM_MAX_EVENTS:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(settings.FromMap(tt.give))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(settings.FromMap(map[string]string{
		"ADEVENTSX_API_KEY":       "secret-key",
		"SIM_ADDR":                "127.0.0.1:0",
		"SIM_FAIL_429":            "0.25",
		"SIM_TIMEOUT":             "0.75",
		"SIM_RETRY_AFTER_SECONDS": "3",
		"SIM_LATENCY":             "50ms",
		"SIM_SEED":                "9",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Settings
	if cfg.Addr != "127.0.0.1:0" || s.Fail429 != 0.25 || s.Timeout != 0.75 || s.RetryAfter != 3 ||
		s.Latency != 50*time.Millisecond || s.TimeoutHold != time.Minute || s.DownStatus != 503 || cfg.Seed != 9 {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestStartLogHidesTheKey(t *testing.T) {
	env := settings.FromMap(map[string]string{"ADEVENTSX_API_KEY": "super-secret-key"})
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", env.LogValue())
	got := buf.String()
	if strings.Contains(got, "super-secret-key") {
		t.Fatalf("start log shows the key: %s", got)
	}
	for _, want := range []string{`"ADEVENTSX_API_KEY":"(set, 16 bytes)"`, `"SIM_TIMEOUT_HOLD":"1m"`, `"LOG_FORMAT":"json"`} {
		if !strings.Contains(got, want) {
			t.Errorf("start log lacks %s: %s", want, got)
		}
	}
}

func TestLoadConfigReadsEverySetting(t *testing.T) {
	env := settings.FromMap(map[string]string{"ADEVENTSX_API_KEY": "k"})
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	configtest.CheckReads(t, settings, env)
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, settings, "../../README.md")
}
