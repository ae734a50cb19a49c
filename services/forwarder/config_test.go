package main

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/martech/eventfwd/libs/config/configtest"
)

var required = map[string]string{"ADEVENTSX_URL": "http://127.0.0.1:8090", "ADEVENTSX_API_KEY": "k"}

func with(extra map[string]string) map[string]string {
	m := maps.Clone(required)
	maps.Copy(m, extra)
	return m
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want string
	}{
		{"no url", map[string]string{"ADEVENTSX_API_KEY": "k"}, "ADEVENTSX_URL: is required"},
		{"no key", map[string]string{"ADEVENTSX_URL": "http://a"}, "ADEVENTSX_API_KEY: is required"},
		{"not http", with(map[string]string{"ADEVENTSX_URL": "ftp://a"}), "ADEVENTSX_URL: is not an http(s) URL"},
		{"backoffs", with(map[string]string{"DELIVERY_BACKOFF": "1m", "DELIVERY_MAX_BACKOFF": "30s"}), "DELIVERY_MAX_BACKOFF: 30s is shorter"},
		{"shutdown", with(map[string]string{"DELIVERY_ATTEMPT_TIMEOUT": "20s"}), "SHUTDOWN_TIMEOUT: 20s must be at least"},
		{"topics", with(map[string]string{"DLQ_TOPIC": "events.raw"}), "DLQ_TOPIC: EVENTS_TOPIC, DLQ_TOPIC and DEDUPE_TOPIC"},
		{"log format", with(map[string]string{"LOG_FORMAT": "xml"}), `LOG_FORMAT: "xml" is not one of json, text`},
		{"kafka log level", with(map[string]string{"KAFKA_LOG_LEVEL": "loud"}), "KAFKA_LOG_LEVEL:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(settings.FromMap(tt.give))
			var cfgErr configError
			if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %v, want one configError line containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(settings.FromMap(with(map[string]string{"MAX_IN_FLIGHT": "8"})))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShutdownTimeout != 20*time.Second || cfg.MaxInFlightPerPart != 8 || cfg.ConsumerGroup != "adeventsx-forwarder" ||
		cfg.DedupeTopic != "events.delivered" || cfg.Log.Format != "json" || cfg.Log.KafkaLevel != slog.LevelInfo {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestStartLogHidesTheKeyAndTheURLPassword(t *testing.T) {
	env := settings.FromMap(with(map[string]string{"ADEVENTSX_API_KEY": "super-secret-key", "ADEVENTSX_URL": "https://user:pw-123@api.example.com",
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "forwarder", "KAFKA_SASL_PASSWORD": "kafka-pw-456"}))
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", env.LogValue())
	got := buf.String()
	if strings.Contains(got, "super-secret-key") || strings.Contains(got, "pw-123") || strings.Contains(got, "kafka-pw-456") {
		t.Fatalf("start log shows a secret: %s", got)
	}
	for _, want := range []string{`"ADEVENTSX_API_KEY":"(set, 16 bytes)"`, `"ADEVENTSX_URL":"https://user:xxxxx@api.example.com"`, `"SHUTDOWN_TIMEOUT":"20s"`, `"KAFKA_SASL_PASSWORD":"(set, 12 bytes)"`} {
		if !strings.Contains(got, want) {
			t.Errorf("start log lacks %s: %s", want, got)
		}
	}
}

func TestLoadConfigReadsEverySetting(t *testing.T) {
	env := settings.FromMap(required)
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	configtest.CheckReads(t, settings, env)
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, settings, "../../README.md")
}
