package config

import (
	"strings"
	"testing"
	"time"
)

func TestEnvNamesEveryBadVariable(t *testing.T) {
	env := FromMap(map[string]string{
		"PORTS":    "abc",
		"WINDOW":   "forever",
		"BROKERS":  "localhost",
		"FLAG":     "maybe",
		"RATIO":    "2",
		"GOOD_INT": "7",
	})
	if got := env.Int("GOOD_INT", 1, 0, 10); got != 7 {
		t.Fatalf("GOOD_INT = %d, want 7", got)
	}
	env.Int("PORTS", 1, 0, 10)
	env.Duration("WINDOW", time.Hour, 0, 48*time.Hour)
	env.Brokers("BROKERS", nil)
	env.Bool("FLAG", false)
	env.Float("RATIO", 0, 0, 1)
	env.Fail("SECRET", "is required")
	err := env.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"PORTS", "WINDOW", "BROKERS", "FLAG", "RATIO", "SECRET"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "GOOD_INT") {
		t.Errorf("error %q names a good variable", err)
	}
}

func TestEnvDefaults(t *testing.T) {
	env := FromMap(map[string]string{"EMPTY": "  "})
	tests := []struct {
		name string
		give func() any
		want any
	}{
		{"string", func() any { return env.String("EMPTY", "d") }, "d"},
		{"int", func() any { return env.Int("UNSET", 6, 1, 10) }, 6},
		{"duration", func() any { return env.Duration("UNSET", time.Second, 0, time.Hour) }, time.Second},
		{"list", func() any { return strings.Join(env.List("UNSET", []string{"a", "b"}), ",") }, "a,b"},
		{"bool", func() any { return env.Bool("UNSET", true) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if err := env.Err(); err != nil {
		t.Fatalf("defaults gave an error: %v", err)
	}
}

func TestMaskNeverShowsTheSecret(t *testing.T) {
	if got := Mask("hunter2-hunter2"); strings.Contains(got, "hunter2") {
		t.Fatalf("Mask leaked the secret: %q", got)
	}
}
