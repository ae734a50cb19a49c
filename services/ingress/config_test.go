package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/martech/eventfwd/libs/config/configtest"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

const (
	testSecret  = "0123456789abcdef0123456789abcdef"
	testClients = "web:s3cret-web,app:s3cret-app"
)

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(settings.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients}))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.Addr, cfg.AdminAddr, cfg.MaxConnections, cfg.EventsTopic, cfg.JWTIssuer, cfg.JWTAudience, cfg.TokenTTL,
		strings.Join(cfg.EventNames, ","), cfg.ProduceTimeout, cfg.MaxBodyBytes, strings.Join(cfg.Clients.IDs(), ","),
		strings.Join(cfg.Keys.KIDs(), ","), cfg.Keys.SigningKID(), cfg.EventLimit, cfg.TokenLimit.Burst, len(cfg.CORSOrigins)}
	want := []any{":8080", "127.0.0.1:8082", 4096, "events.raw", "eventfwd-ingress", "eventfwd-events", time.Hour,
		"purchase,lead", 5 * time.Second, int64(1 << 20), "app,web",
		"default", "default", ratelimit.Limit{Rate: 1000, Burst: 2000}, 10, 0}
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
			name: "several keys, no signing kid",
			give: map[string]string{"JWT_SECRET": testSecret, "JWT_KEYS": "k2:" + testSecret, "AUTH_CLIENTS": testClients},
			want: []string{"JWT_SIGNING_KID: is required when there are several keys"},
		},
		{
			name: "signing kid unknown",
			give: map[string]string{"JWT_KEYS": "k2:" + testSecret, "JWT_SIGNING_KID": "k3", "AUTH_CLIENTS": testClients},
			want: []string{`JWT_SIGNING_KID: the signing key "k3" is not among the keys (k2)`},
		},
		{
			name: "short key",
			give: map[string]string{"JWT_KEYS": "k1:hunter2", "AUTH_CLIENTS": testClients},
			want: []string{`JWT_KEYS: key "k1" must be at least 32 bytes, is 7`},
		},
		{
			name: "missing clients file",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS_FILE": "/nonexistent/clients.yaml"},
			want: []string{"AUTH_CLIENTS_FILE: /nonexistent/clients.yaml: cannot open it"},
		},
		{
			name: "bad limits and origins",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients,
				"RATE_LIMIT_RPS": "0", "RATE_LIMIT_BURST": "100", "TOKEN_RATE_LIMIT_PER_MIN": "x",
				"CORS_ALLOWED_ORIGINS": "https://ok.example.com,*,https://x.example.com/path"},
			want: []string{"RATE_LIMIT_RPS", "RATE_LIMIT_BURST: 100 is outside 500..", "TOKEN_RATE_LIMIT_PER_MIN",
				`CORS_ALLOWED_ORIGINS: "*" is not an origin`, `"https://x.example.com/path" is not an origin`},
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
		{
			name: "bad admin address, connection cap and proxies",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients,
				"INGRESS_ADMIN_ADDR": "8082", "MAX_CONNECTIONS": "0", "TRUSTED_PROXIES": "10.0.0.0/8,lb.example.com,10.1.0.0/33"},
			want: []string{"INGRESS_ADMIN_ADDR", "MAX_CONNECTIONS", `TRUSTED_PROXIES: "lb.example.com" is not an IP address or CIDR`,
				`"10.1.0.0/33" is not an IP address or CIDR`},
		},
		{
			name: "external provider half set",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients, "JWT_JWKS_URL": "http://idp.example.com/jwks"},
			want: []string{`JWT_JWKS_URL: "http://idp.example.com/jwks" is not an https URL`, "JWT_EXTERNAL_ISSUER: is required", "JWT_EXTERNAL_AUDIENCE: is required"},
		},
		{
			name: "external issuer without a JWK Set",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients, "JWT_EXTERNAL_ISSUER": "https://idp.example.com/"},
			want: []string{"JWT_EXTERNAL_ISSUER: is set without JWT_JWKS_URL"},
		},
		{
			name: "bad log level",
			give: map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients, "LOG_LEVEL": "loud"},
			want: []string{`LOG_LEVEL: "loud" is not one of debug, info, warn, error, off`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(settings.FromMap(tt.give))
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

func TestLoadConfigExternal(t *testing.T) {
	cfg, err := loadConfig(settings.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients,
		"JWT_JWKS_URL": "https://idp.example.com/.well-known/jwks.json", "JWT_EXTERNAL_ISSUER": "https://idp.example.com/",
		"JWT_EXTERNAL_AUDIENCE": "eventfwd", "JWT_EXTERNAL_SCOPE_CLAIM": "scp"}))
	if err != nil {
		t.Fatal(err)
	}
	want := auth.ExternalConfig{JWKSURL: "https://idp.example.com/.well-known/jwks.json", Issuer: "https://idp.example.com/",
		Audience: "eventfwd", ScopeClaim: "scp", RefreshInterval: 5 * time.Minute}
	if cfg.External == nil || *cfg.External != want {
		t.Errorf("External = %+v, want %+v", cfg.External, want)
	}
}

func TestLoadConfigLogLevel(t *testing.T) {
	tests := []struct {
		name string
		give string // LOG_LEVEL; "" leaves it unset
		want slog.Level
	}{
		{name: "default", give: "", want: slog.LevelInfo},
		{name: "debug", give: "debug", want: slog.LevelDebug},
		{name: "info", give: "info", want: slog.LevelInfo},
		{name: "warn", give: "warn", want: slog.LevelWarn},
		{name: "error in capitals", give: "ERROR", want: slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients}
			if tt.give != "" {
				env["LOG_LEVEL"] = tt.give
			}
			cfg, err := loadConfig(settings.FromMap(env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Log.Level != tt.want {
				t.Errorf("Log.Level = %v, want %v", cfg.Log.Level, tt.want)
			}
		})
	}
	if !strings.Contains(settings.Usage(), "LOG_LEVEL") {
		t.Error("-h does not document LOG_LEVEL")
	}
}

func TestStartLogHidesSecrets(t *testing.T) {
	env := settings.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients,
		"JWT_KEYS": "k2:" + testSecret + "!", "JWT_SIGNING_KID": "k2"})
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", env.LogValue())
	for _, secret := range []string{testSecret, "s3cret-web", "s3cret-app"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("config log shows a secret: %s", buf.String())
		}
	}
	for _, want := range []string{`"AUTH_CLIENTS":"web,app (secrets not shown)"`, `"JWT_KEYS":"k2 (secrets not shown)"`,
		`"JWT_SECRET":"(set, 32 bytes)"`, `"TOKEN_TTL":"1h"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("config log lacks %s: %s", want, buf.String())
		}
	}
}

func TestLoadConfigReadsEverySetting(t *testing.T) {
	env := settings.FromMap(map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients})
	if _, err := loadConfig(env); err != nil {
		t.Fatal(err)
	}
	configtest.CheckReads(t, settings, env)
}

func TestREADMEListsEverySetting(t *testing.T) {
	configtest.CheckREADME(t, settings, "../../README.md")
}

func TestLoadConfigKeysAndFile(t *testing.T) {
	hash, err := auth.HashSecret([]byte("s3cret-dash"), auth.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("clients.yaml", fmt.Sprintf("clients:\n  - id: dash\n    secret_hash: %q\n    rate_limit: {rps: 10, burst: 500}\n", hash))
	smallBurst := write("small.json", fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q,"rate_limit":{"rps":10,"burst":10}}]}`, hash))
	dup := write("dup.json", fmt.Sprintf(`{"clients":[{"id":"web","secret_hash":%q}]}`, hash))

	tests := []struct {
		name        string
		give        map[string]string
		wantClients string
		wantKIDs    string
		wantSigning string
		wantErr     string
	}{
		{
			name:        "file and list",
			give:        map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients, "AUTH_CLIENTS_FILE": good},
			wantClients: "app,dash,web", wantKIDs: "default", wantSigning: "default",
		},
		{
			name:        "file alone, rotated keys",
			give:        map[string]string{"JWT_KEYS": "k1:" + testSecret + ",k2:" + testSecret + "!", "JWT_SIGNING_KID": "k2", "AUTH_CLIENTS_FILE": good},
			wantClients: "dash", wantKIDs: "k1,k2", wantSigning: "k2",
		},
		{
			name:        "one key in JWT_KEYS signs",
			give:        map[string]string{"JWT_KEYS": "k1:" + testSecret, "AUTH_CLIENTS": testClients},
			wantClients: "app,web", wantKIDs: "k1", wantSigning: "k1",
		},
		{
			name:    "burst below a batch",
			give:    map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS_FILE": smallBurst},
			wantErr: `AUTH_CLIENTS_FILE: ` + smallBurst + `: client "dash": rate_limit burst must be at least 500`,
		},
		{
			name:    "id in both",
			give:    map[string]string{"JWT_SECRET": testSecret, "AUTH_CLIENTS": testClients, "AUTH_CLIENTS_FILE": dup},
			wantErr: `AUTH_CLIENTS_FILE: client "web" is listed twice (in AUTH_CLIENTS too)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(settings.FromMap(tt.give))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Fatalf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if err != nil {
				return
			}
			got := []string{strings.Join(cfg.Clients.IDs(), ","), strings.Join(cfg.Keys.KIDs(), ","), cfg.Keys.SigningKID()}
			want := []string{tt.wantClients, tt.wantKIDs, tt.wantSigning}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("clients, kids, signing = %q, want %q", got, want)
			}
		})
	}
}

func TestHashSecretCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
	}{
		{name: "line", stdin: "s3cret-dash\n"},
		{name: "no newline, cost", args: []string{"-cost", "11"}, stdin: "s3cret-dash"},
		{name: "empty", stdin: "\n", wantErr: "the secret is empty"},
		{name: "bad cost", args: []string{"-cost", "4"}, stdin: "x", wantErr: "-cost must be an integer in 10..14"},
		{name: "secret as argument", args: []string{"s3cret-dash"}, wantErr: "usage: ingress hash-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := hashSecret(tt.args, strings.NewReader(tt.stdin), &out)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Fatalf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if err != nil {
				return
			}
			clients, err := auth.ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q}]}`, strings.TrimSpace(out.String()))))
			if err != nil {
				t.Fatalf("printed hash %q is not usable: %v", out.String(), err)
			}
			if _, ok := clients.Authenticate("dash", "s3cret-dash"); !ok {
				t.Errorf("printed hash %q does not match the secret", out.String())
			}
		})
	}
}
