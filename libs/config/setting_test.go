package config

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var (
	testAddr   = Addr("T_ADDR", "127.0.0.1:8090", "listen address")
	testKey    = String("T_KEY", "", "the key every request must carry").Required().Secret()
	testWindow = Duration("T_WINDOW", 24*time.Hour, time.Minute, 30*24*time.Hour, "how long an id is remembered")
	testRatio  = Float("T_RATIO", 0.5, 0, 1, "share failing").Check(func(f float64) error {
		if f == 0.25 {
			return errors.New("0.25 is unlucky")
		}
		return nil
	})
	testSet = NewSet("t", "t: a test binary.", testAddr, testKey, testWindow, testRatio, LogLevelVar.WithDefault("error"))
)

func TestSetUsageListsEverySettingWithItsDefaultAndBounds(t *testing.T) {
	usage := testSet.Usage()
	for _, want := range []string{
		"t: a test binary.\n",
		"T_ADDR     listen address (default 127.0.0.1:8090)\n",
		"T_KEY      the key every request must carry (required; secret, never logged)\n",
		"T_WINDOW   how long an id is remembered (default 24h; 1m..720h)\n",
		"T_RATIO    share failing (default 0.5; 0..1)\n",
		"LOG_LEVEL  least severe log level written (default error; debug, info, warn, error, off)\n",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}

func TestVarReadNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name string
		give map[string]string
		want string
	}{
		{"required", map[string]string{}, "T_KEY: is required"},
		{"bounds", map[string]string{"T_KEY": "k", "T_WINDOW": "1s"}, "T_WINDOW: 1s is outside 1m..720h"},
		{"check", map[string]string{"T_KEY": "k", "T_RATIO": "0.25"}, "T_RATIO: 0.25 is unlucky"},
		{"choice", map[string]string{"T_KEY": "k", "LOG_LEVEL": "loud"}, `LOG_LEVEL: "loud" is not one of debug, info, warn, error, off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testSet.FromMap(tt.give)
			readAll(env)
			if err := env.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func readAll(env *Env) {
	testAddr.Read(env)
	testKey.Read(env)
	testWindow.Read(env)
	testRatio.Read(env)
	LogLevelVar.Read(env)
}

func TestStartLogMasksSecretsAndShowsDefaults(t *testing.T) {
	env := testSet.FromMap(map[string]string{"T_KEY": "hunter2-hunter2", "T_RATIO": "0.75"})
	readAll(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", env.LogValue())
	got := buf.String()
	if strings.Contains(got, "hunter2") {
		t.Fatalf("start log shows the secret: %s", got)
	}
	want := `"config":{"T_ADDR":"127.0.0.1:8090","T_KEY":"(set, 15 bytes)","T_WINDOW":"24h","T_RATIO":"0.75","LOG_LEVEL":"error"}`
	if !strings.Contains(got, want) {
		t.Fatalf("start log\n%s\nwant %s", got, want)
	}
}

func TestAnUndeclaredReadIsRecorded(t *testing.T) {
	other := Int("T_OTHER", 1, 0, 10, "not in testSet")
	env := testSet.FromMap(map[string]string{"T_OTHER": "3"})
	testAddr.Read(env)
	if got := other.Read(env); got != 3 {
		t.Errorf("T_OTHER = %d, want 3", got)
	}
	env.String("T_RAW", "")
	if got := strings.Join(env.Undeclared(), ","); got != "T_OTHER,T_RAW" {
		t.Fatalf("Undeclared() = %q, want T_OTHER,T_RAW", got)
	}
}

func TestNewSetRefusesADuplicate(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic for a setting declared twice")
		}
	}()
	NewSet("t", "", testAddr, testAddr)
}

func TestWithDefaultAppliesThroughTheSharedVar(t *testing.T) {
	if got := LogLevelVar.Read(testSet.FromMap(nil)); got != "error" {
		t.Errorf("LOG_LEVEL in testSet = %q, want its default error", got)
	}
	if got := LogLevelVar.Read(FromMap(nil)); got != "info" {
		t.Errorf("LOG_LEVEL outside a set = %q, want info", got)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{0, "0s"}, {250 * time.Millisecond, "250ms"}, {time.Minute, "1m"}, {24 * time.Hour, "24h"},
		{90 * time.Minute, "1h30m"}, {90 * time.Second, "1m30s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.give); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestLoggingKafkaClientHasItsOwnLevel(t *testing.T) {
	var buf bytes.Buffer
	l := ReadLogging(FromMap(map[string]string{"LOG_FORMAT": "text", "KAFKA_LOG_LEVEL": "warn"}))
	log := l.Logger(&buf, "svc")
	kgo := log.With("component", KafkaComponent)
	log.Info("service info")
	kgo.Info("kgo info")
	kgo.Warn("kgo warn")
	got := buf.String()
	for _, want := range []string{`msg="service info" service=svc`, `msg="kgo warn" service=svc component=kgo`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "kgo info") {
		t.Errorf("kafka client's info line written at KAFKA_LOG_LEVEL=warn:\n%s", got)
	}
}

func TestLoggingDefaultsToJSONAndKafkaAtLogLevel(t *testing.T) {
	var buf bytes.Buffer
	l := ReadLogging(FromMap(map[string]string{"LOG_LEVEL": "debug"}))
	l.Logger(&buf, "svc").With("component", KafkaComponent).Debug("kgo debug")
	if got := buf.String(); !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"kgo debug"`) {
		t.Fatalf("log = %s, want a JSON line with the kafka client's debug line", got)
	}
}

func TestLoggingOffWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	l := ReadLogging(FromMap(map[string]string{"LOG_LEVEL": "off"}))
	log := l.Logger(&buf, "svc")
	log.Error("an error")
	log.With("component", KafkaComponent).Error("a kafka error")
	if buf.Len() != 0 {
		t.Fatalf("LOG_LEVEL=off wrote %s", buf.String())
	}
}
