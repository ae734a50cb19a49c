package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/martech/eventfwd/libs/config"
)

const (
	testSecret  = "0123456789abcdef0123456789abcdef"
	testClients = "web:s3cret-web,app:s3cret-app"
)

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(config.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Addr, cfg.EventsTopic, cfg.JWTIssuer, cfg.JWTAudience, cfg.TokenTTL,
		strings.Join(cfg.EventNames, ","), cfg.ProduceTimeout, cfg.MaxBodyBytes, strings.Join(cfg.Clients.IDs(), ",")}
	want := []any{":8080", "events.raw", "eventfwd-ingress", "eventfwd-events", time.Hour,
		"purchase,lead", 5 * time.Second, int64(1 << 20), "app,web"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want []string // substrings of the error
	}{
		{
			name: "nothing set",
			give: map[string]string{},
			want: []string{"JWT_SECRET: is required", "AUTH_CLIENTS: is required"},
		},
		{
			name: "short secret",
			give: map[string]string{"JWT_SECRET": "too-short-secret", "AUTH_CLIENTS": testClients},
			want: []string{"JWT_SECRET: must be at least 32 bytes, is 16"},
		},
		{
			name: "bad clients",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": "web:hunter2,web:hunter3"},
			want: []string{`AUTH_CLIENTS: client "web" is listed twice`},
		},
		{
			name: "bad values",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients,
				"INGRESS_ADDR": "8080", "TOKEN_TTL": "forever", "PRODUCE_TIMEOUT": "1m", "MAX_BODY_BYTES": "lots",
				"KAFKA_BROKERS": "localhost"},
			want: []string{"INGRESS_ADDR", "TOKEN_TTL", "PRODUCE_TIMEOUT", "MAX_BODY_BYTES", "KAFKA_BROKERS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(config.FromMap(tt.give))
			if err == nil {
				t.Fatal("loadConfig() succeeded, want an error")
			}
			msg := err.Error()
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, "hunter") || strings.ContainsRune(msg, '\n') {
				t.Errorf("error %q shows a secret or spans lines", msg)
			}
		})
	}
}

func TestConfigLogHidesSecrets(t *testing.T) {
	cfg, err := loadConfig(config.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg)
	for _, secret := range []string{testSecret, "s3cret-web", "s3cret-app"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("config log shows a secret: %s", buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"auth_clients":"app,web`) {
		t.Errorf("config log does not list the client ids: %s", buf.String())
	}
}
