package main

import (
	"strings"
	"testing"

	"github.com/martech/eventfwd/libs/config/configtest"
)

func TestChildEnvMakesTheConsoleReadable(t *testing.T) {
	tests := []struct {
		name string
		base []string
		want string // the child's LOG_FORMAT and KAFKA_LOG_LEVEL, as exec uses them (last wins)
	}{
		{"defaults", []string{"HOME=/root"}, "text warn"},
		{"the operator's choice wins", []string{"LOG_FORMAT=json", "KAFKA_LOG_LEVEL=debug"}, "json debug"},
		{"one of them set", []string{"KAFKA_LOG_LEVEL=info"}, "text info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := childEnv(tt.base, "SIM_ADDR=127.0.0.1:8090")
			if got := lookup(env, "LOG_FORMAT") + " " + lookup(env, "KAFKA_LOG_LEVEL"); got != tt.want {
				t.Errorf("LOG_FORMAT KAFKA_LOG_LEVEL = %q, want %q (env %q)", got, tt.want, env)
			}
			if got := lookup(env, "SIM_ADDR"); got != "127.0.0.1:8090" {
				t.Errorf("SIM_ADDR = %q, want the extra value", got)
			}
		})
	}
}

// lookup is what exec.Cmd does with duplicate keys: the last one wins.
func lookup(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == name {
			v = val
		}
	}
	return v
}

func TestLoadSettingsReadsEverySetting(t *testing.T) {
	env := settings.FromMap(nil)
	s, err := loadSettings(env)
	if err != nil {
		t.Fatal(err)
	}
	if s.log.Format != "text" || len(s.jwtSecret) != 64 || !strings.HasPrefix(s.apiKey, "dev-") {
		t.Errorf("settings = %+v, want text logs and generated secrets", s)
	}
	configtest.CheckReads(t, settings, env)
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, settings, "../../README.md")
}
