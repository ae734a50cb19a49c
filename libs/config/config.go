// Package config is how a binary declares, reads and documents its settings. Each setting is
// declared once as a Var (name, help text, typed default, bounds, checks, secret or not) and put in
// the binary's Set; -h (Set.Usage), the start log with secrets masked (Env.LogValue) and the check
// that README.md's table lists exactly those settings (package configtest) are derived from it.
// An Env reads the environment and collects every bad or missing value, so that a binary refuses
// to start with one line naming each variable to fix. ReadLogging is the one reader of LOG_LEVEL,
// LOG_FORMAT and KAFKA_LOG_LEVEL. See Set for an example of adding a setting.
//
// It is our own on purpose: the env libraries we looked at name the Go field in their errors, not
// the variable an operator has to fix, and derive no documentation.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through Lookup (os.LookupEnv by default) and remembers the first problem
// with each of them. Binaries read through Vars; the typed methods below are what Vars use, and
// an Env from a Set records any variable read through them that the Set does not declare.
type Env struct {
	Lookup func(string) (string, bool)
	errs   []error
	set    *Set              // the settings this Env may read; nil: any
	seen   map[string]string // what the start log shows of each setting read
	order  []string
	// undeclared are variables read that set does not declare.
	undeclared []string
}

// FromOS returns an Env that reads the process environment.
func FromOS() *Env { return &Env{Lookup: os.LookupEnv} }

// FromMap returns an Env that reads the given map; tests use it.
func FromMap(m map[string]string) *Env {
	return &Env{Lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (e *Env) get(name string) (string, bool) {
	if e.set != nil && e.set.index[name] == nil && !slices.Contains(e.undeclared, name) {
		e.undeclared = append(e.undeclared, name)
	}
	v, ok := e.Lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Fail records a problem with the named variable.
func (e *Env) Fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Err returns every recorded problem joined in one error, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return errors.New("configuration: " + strings.Join(msgs, "; "))
}

// String returns the variable or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// List splits a comma-separated variable, dropping empty items.
func (e *Env) List(name string, def []string) []string {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		e.Fail(name, "is empty")
	}
	return out
}

// Int returns an integer within [lo, hi].
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.Fail(name, "%q is not an integer", v)
		return def
	}
	if n < lo || n > hi {
		e.Fail(name, "%d is outside %d..%d", n, lo, hi)
		return def
	}
	return n
}

// Float returns a number within [lo, hi].
func (e *Env) Float(name string, def, lo, hi float64) float64 {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.Fail(name, "%q is not a number", v)
		return def
	}
	if f < lo || f > hi {
		e.Fail(name, "%g is outside %g..%g", f, lo, hi)
		return def
	}
	return f
}

// Duration returns a Go duration ("250ms", "24h") within [lo, hi].
func (e *Env) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.Fail(name, "%q is not a duration such as 500ms, 30s or 24h", v)
		return def
	}
	if d < lo || d > hi {
		e.Fail(name, "%s is outside %s..%s", FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
		return def
	}
	return d
}

// Bool accepts true/false/1/0/yes/no.
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	e.Fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// Addr returns a host:port listen or dial address.
func (e *Env) Addr(name, def string) string {
	v := e.String(name, def)
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		e.Fail(name, "%q is not host:port", v)
	}
	return v
}

// Brokers returns the comma-separated host:port list of Kafka bootstrap brokers.
func (e *Env) Brokers(name string, def []string) []string {
	brokers := e.List(name, def)
	for _, b := range brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			e.Fail(name, "%q is not host:port", b)
		}
	}
	return brokers
}

// Mask shows that a secret is set without showing it, for start-up logs.
func Mask(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return fmt.Sprintf("(set, %d bytes)", len(secret))
}
