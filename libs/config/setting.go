package config

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Setting describes one environment variable: everything -h, the start log and the README check
// know about it. It is derived from a Var's declaration, never written by hand.
type Setting struct {
	Name     string
	Help     string
	Default  string // as -h shows it; "" when there is none
	Bounds   string // the accepted range, "1..100"; "" when any value of the type goes
	Required bool
	Secret   bool // never shown: the start log says only whether it is set
}

// Decl is a declared setting, whatever its type: what a Set is made of.
type Decl interface {
	Setting() Setting
}

// Var is one setting: its name, help text, typed default, bounds, checks and whether it is
// secret, declared once, and read with Read. The help text is a phrase, not a sentence; the
// default and the bounds are added to it wherever it is shown.
type Var[T any] struct {
	s      Setting
	def    T
	parse  func(e *Env, name string, def T) T
	format func(T) string
	show   func(T) string
	checks []func(T) error
}

func declare[T any](name, help string, def T, bounds string, format func(T) string,
	parse func(e *Env, name string, def T) T) *Var[T] {
	v := &Var[T]{s: Setting{Name: name, Help: help, Bounds: bounds}, def: def, parse: parse, format: format}
	v.s.Default = format(def)
	return v
}

// String declares a text setting.
func String(name, def, help string) *Var[string] {
	return declare(name, help, def, "", func(s string) string { return s }, (*Env).String)
}

// Int declares an integer setting within [lo, hi].
func Int(name string, def, lo, hi int, help string) *Var[int] {
	bounds := fmt.Sprintf("%d..%d", lo, hi)
	if hi >= math.MaxInt32 {
		bounds = fmt.Sprintf("at least %d", lo)
	}
	return declare(name, help, def, bounds, strconv.Itoa,
		func(e *Env, name string, def int) int { return e.Int(name, def, lo, hi) })
}

// Float declares a number setting within [lo, hi].
func Float(name string, def, lo, hi float64, help string) *Var[float64] {
	bounds := strconv.FormatFloat(lo, 'f', -1, 64) + ".." + strconv.FormatFloat(hi, 'f', -1, 64)
	return declare(name, help, def, bounds,
		func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) },
		func(e *Env, name string, def float64) float64 { return e.Float(name, def, lo, hi) })
}

// Duration declares a Go duration setting ("250ms", "24h") within [lo, hi].
func Duration(name string, def, lo, hi time.Duration, help string) *Var[time.Duration] {
	return declare(name, help, def, FormatDuration(lo)+".."+FormatDuration(hi), FormatDuration,
		func(e *Env, name string, def time.Duration) time.Duration { return e.Duration(name, def, lo, hi) })
}

// Bool declares a true/false setting (also 1/0, yes/no, on/off).
func Bool(name string, def bool, help string) *Var[bool] {
	return declare(name, help, def, "", strconv.FormatBool, (*Env).Bool)
}

// List declares a comma-separated list setting.
func List(name string, def []string, help string) *Var[[]string] {
	return declare(name, help, def, "", func(l []string) string { return strings.Join(l, ",") }, (*Env).List)
}

// Addr declares a host:port setting.
func Addr(name, def, help string) *Var[string] {
	return declare(name, help, def, "", func(s string) string { return s }, (*Env).Addr)
}

// Brokers declares a comma-separated host:port list setting.
func Brokers(name string, def []string, help string) *Var[[]string] {
	return declare(name, help, def, "", func(l []string) string { return strings.Join(l, ",") }, (*Env).Brokers)
}

// Choice declares a setting that takes one of choices, in any case; it reads in lower case.
func Choice(name, def string, choices []string, help string) *Var[string] {
	return declare(name, help, def, strings.Join(choices, ", "), func(s string) string { return s },
		func(e *Env, name, def string) string {
			v := strings.ToLower(e.String(name, def))
			if v != "" && !slices.Contains(choices, v) {
				e.Fail(name, "%q is not one of %s", v, strings.Join(choices, ", "))
				return def
			}
			return v
		})
}

// Required marks the setting as required: unset or empty, it stops the binary.
func (v *Var[T]) Required() *Var[T] {
	v.s.Required = true
	v.s.Default = ""
	return v
}

// Secret marks the setting as secret: the start log shows only whether it is set and its size.
func (v *Var[T]) Secret() *Var[T] {
	v.s.Secret = true
	return v
}

// Check adds a validation beyond the bounds; its error becomes "NAME: <error>".
func (v *Var[T]) Check(check func(T) error) *Var[T] {
	v.checks = append(v.checks, check)
	return v
}

// Show sets how the start log shows the value (e.g. a URL with its password hidden). On a secret
// it replaces the mask, so it must show nothing of the secret (e.g. the names in a name:secret list).
func (v *Var[T]) Show(show func(T) string) *Var[T] {
	v.show = show
	return v
}

// WithDefault is the same setting with another default, for the one binary that wants it: put
// it in that binary's Set, and reads through the shared Var take its default there.
func (v *Var[T]) WithDefault(def T) *Var[T] {
	w := *v
	w.def = def
	if !w.s.Required {
		w.s.Default = v.format(def)
	}
	return &w
}

// Setting describes the variable.
func (v *Var[T]) Setting() Setting { return v.s }

// Name is the environment variable's name, for messages that point at it.
func (v *Var[T]) Name() string { return v.s.Name }

// Read returns the setting's value from env, or its default; a bad value is recorded in env
// (the default is returned) and the value is noted for the start log.
func (v *Var[T]) Read(e *Env) T {
	self := v
	if e.set != nil {
		if w, ok := e.set.index[v.s.Name].(*Var[T]); ok {
			self = w // the Set's copy, with the binary's default
		}
	}
	raw, set := e.get(v.s.Name)
	if !set && self.s.Required {
		e.Fail(v.s.Name, "is required")
		e.note(v.s.Name, "(unset)")
		return self.def
	}
	failed := len(e.errs)
	val := self.parse(e, v.s.Name, self.def)
	if set && len(e.errs) == failed {
		for _, check := range self.checks {
			if err := check(val); err != nil {
				e.Fail(v.s.Name, "%v", err)
				break
			}
		}
	}
	switch {
	case self.s.Secret && !set:
		e.note(v.s.Name, "(unset)")
	case self.show != nil:
		e.note(v.s.Name, self.show(val))
	case self.s.Secret:
		e.note(v.s.Name, Mask(raw))
	default:
		e.note(v.s.Name, self.format(val))
	}
	return val
}

// FormatDuration writes a duration as an operator would: 1m, 24h, 1h30m, 250ms.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Set is the settings one binary reads, in the order -h lists them. A binary declares its own
// settings as Vars, puts them and the shared ones it reads (kafka's, the log's) in its Set, and
// reads them through an Env from the Set:
//
//	var (
//		simAddr = config.Addr("SIM_ADDR", "127.0.0.1:8090", "listen address")
//		apiKey  = config.String("ADEVENTSX_API_KEY", "", "the X-Api-Key every request must carry").Required().Secret()
//		latency = config.Duration("SIM_LATENCY", 0, 0, 5*time.Minute, "added before every answer")
//	)
//
//	var settings = config.NewSet("adeventsx-sim", about, simAddr, apiKey, latency, config.LogLevelVar, config.LogFormatVar)
//
//	func loadConfig(env *config.Env) (Config, error) {
//		cfg := Config{Addr: simAddr.Read(env), APIKey: apiKey.Read(env), Latency: latency.Read(env)}
//		return cfg, env.Err()
//	}
//
// main reads settings.FromOS(), prints settings.Usage() for -h and logs env.LogValue() at start.
// Adding a setting is one Var, one entry in the Set, one Read, and one row in the binary's README
// table (configtest.CheckREADME fails until that row is there).
type Set struct {
	Name  string // the binary
	About string // what -h prints before the settings
	decls []Decl
	index map[string]Decl
}

// NewSet collects a binary's settings. Two settings of one name are a bug: it panics.
func NewSet(name, about string, decls ...Decl) *Set {
	s := &Set{Name: name, About: about, index: map[string]Decl{}}
	s.Add(decls...)
	return s
}

// Add appends settings, e.g. a group shared by several binaries.
func (s *Set) Add(decls ...Decl) *Set {
	for _, d := range decls {
		name := d.Setting().Name
		if _, dup := s.index[name]; dup {
			panic(fmt.Sprintf("config: %s declares %s twice", s.Name, name))
		}
		s.index[name] = d
		s.decls = append(s.decls, d)
	}
	return s
}

// Settings describes every setting in order.
func (s *Set) Settings() []Setting {
	out := make([]Setting, len(s.decls))
	for i, d := range s.decls {
		out[i] = d.Setting()
	}
	return out
}

// Names are the settings' variable names, in order.
func (s *Set) Names() []string {
	out := make([]string, len(s.decls))
	for i, d := range s.decls {
		out[i] = d.Setting().Name
	}
	return out
}

// FromOS returns an Env that reads the process environment for this set.
func (s *Set) FromOS() *Env {
	e := FromOS()
	e.set = s
	return e
}

// FromMap returns an Env that reads m for this set; tests use it.
func (s *Set) FromMap(m map[string]string) *Env {
	e := FromMap(m)
	e.set = s
	return e
}

// HandleArgs is the command line of a binary whose settings all come from the environment:
// -h (or -help, --help) prints Usage and exits 0; any other argument stops it with exit 2, one
// line naming the argument. No argument: it returns.
func (s *Set) HandleArgs(name string, args []string) {
	for _, arg := range args {
		switch arg {
		case "-h", "-help", "--help":
			fmt.Print(s.Usage())
			os.Exit(0)
		default:
			fmt.Fprintf(os.Stderr, "%s: unexpected argument %q; settings come from the environment, see -h\n", name, arg)
			os.Exit(2)
		}
	}
}

// Usage is the -h text: About, then every setting with its help, default, bounds, and whether
// it is required or secret.
func (s *Set) Usage() string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(s.About, "\n"))
	b.WriteString("\n\nConfiguration is read from the environment:\n")
	b.WriteString(s.EnvUsage())
	return b.String()
}

// EnvUsage is the settings part of Usage alone, for a binary that writes its own -h around it.
func (s *Set) EnvUsage() string {
	width := 0
	for _, st := range s.Settings() {
		width = max(width, len(st.Name))
	}
	var b strings.Builder
	for _, st := range s.Settings() {
		lines := wrap(describe(st), 100-4-width-2)
		for i, line := range lines {
			name := ""
			if i == 0 {
				name = st.Name
			}
			fmt.Fprintf(&b, "  %-*s  %s\n", width, name, line)
		}
	}
	return b.String()
}

// describe is a setting's help with what is known about it: "listen address (default
// 127.0.0.1:8090)", "API key (required, secret)".
func describe(st Setting) string {
	var notes []string
	if st.Required {
		notes = append(notes, "required")
	} else if st.Default != "" {
		notes = append(notes, "default "+st.Default)
	}
	if st.Bounds != "" {
		notes = append(notes, st.Bounds)
	}
	if st.Secret {
		notes = append(notes, "secret, never logged")
	}
	if len(notes) == 0 {
		return st.Help
	}
	return st.Help + " (" + strings.Join(notes, "; ") + ")"
}

func wrap(text string, width int) []string {
	width = max(width, 30)
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// LogValue is every setting read so far with the value in use, secrets masked: the start log.
// With a Set, the settings come in its order, each as its variable name.
func (e *Env) LogValue() slog.Value {
	var attrs []slog.Attr
	if e.set != nil {
		for _, name := range e.set.Names() {
			if v, ok := e.seen[name]; ok {
				attrs = append(attrs, slog.String(name, v))
			}
		}
	} else {
		for _, name := range e.order {
			attrs = append(attrs, slog.String(name, e.seen[name]))
		}
	}
	return slog.GroupValue(attrs...)
}

func (e *Env) note(name, shown string) {
	if e.seen == nil {
		e.seen = map[string]string{}
	}
	if _, ok := e.seen[name]; !ok {
		e.order = append(e.order, name)
	}
	e.seen[name] = shown
}

// Read are the names of the settings read so far, in order: a test compares them with the Set.
func (e *Env) Read() []string { return slices.Clone(e.order) }

// Undeclared are the variables read so far that the Env's Set does not declare: a bug that
// configtest.CheckReads reports, naming them.
func (e *Env) Undeclared() []string { return slices.Clone(e.undeclared) }
