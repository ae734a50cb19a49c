// Package configtest checks that a binary's README configuration table lists exactly the settings
// the binary declares (config.Set), with their defaults, so that the documentation cannot drift
// from the code.
//
// The README's "## Configuration" section holds one table per binary, under a line starting with
// the binary's name in bold (**forwarder**; none for a binary with no settings of its own), and
// one table of settings several binaries share,
// with a "read by" column naming the binaries (or "all"). The first column holds the variable
// names in backticks, several to a row if they go together (`A` / `B`); the "default" column must
// show the declared default (or say "required"), for a row of several names as "1s / 30s".
package configtest

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/martech/eventfwd/libs/config"
)

// T is the part of *testing.T the check uses.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// CheckREADME fails t unless the README at path documents exactly set's settings.
func CheckREADME(t T, set *config.Set, path string) {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the README: %v", err)
	}
	for _, p := range Problems(set, string(md)) {
		t.Errorf("%s: %s", path, p)
	}
}

var varName = regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")

// Problems lists every difference between set and the README's Configuration section md.
func Problems(set *config.Set, md string) []string {
	section, ok := configurationSection(md)
	if !ok {
		return []string{`no "## Configuration" section`}
	}
	documented := map[string]row{}
	own, _ := tableAfter(section, "**"+set.Name+"**")
	for _, r := range own.rows {
		for _, n := range r.names {
			documented[n] = r
		}
	}
	for _, shared := range sharedTables(section) {
		for _, r := range shared.rows {
			if readBy(r.cell(shared, "read by"), set.Name) {
				for _, n := range r.names {
					documented[n] = r
				}
			}
		}
	}
	var problems []string
	for _, st := range set.Settings() {
		r, ok := documented[st.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s reads %s, which its table does not list", set.Name, st.Name))
			continue
		}
		delete(documented, st.Name)
		cell, ok := r.defaultOf(st.Name)
		if !ok {
			continue
		}
		switch {
		case st.Required && !strings.Contains(cell, "required"):
			problems = append(problems, fmt.Sprintf("%s: default column %q does not say required", st.Name, cell))
		case !st.Required && st.Default != "" && !strings.Contains(cell, st.Default):
			problems = append(problems, fmt.Sprintf("%s: default column %q does not show the default %s", st.Name, cell, st.Default))
		}
	}
	var extra []string
	for n := range documented {
		extra = append(extra, n)
	}
	slices.Sort(extra)
	for _, n := range extra {
		problems = append(problems, fmt.Sprintf("the table lists %s, which %s does not read", n, set.Name))
	}
	return problems
}

func configurationSection(md string) (string, bool) {
	_, after, ok := strings.Cut(md, "\n## Configuration\n")
	if !ok {
		return "", false
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	return after, true
}

type table struct {
	header []string
	rows   []row
}

type row struct {
	names []string
	cells []string
	def   int // index of the default column, -1 if none
}

// defaultOf is name's default as the row shows it: the whole cell for a row of one name, the
// matching part of "1s / 30s / 0.2" for a row of several; false when the row does not say.
func (r row) defaultOf(name string) (string, bool) {
	if r.def < 0 || r.def >= len(r.cells) {
		return "", false
	}
	cell := strings.ReplaceAll(r.cells[r.def], "`", "")
	if len(r.names) == 1 {
		return cell, true
	}
	parts := strings.Split(cell, " / ")
	i := slices.Index(r.names, name)
	if len(parts) != len(r.names) || i < 0 {
		return "", false
	}
	return strings.TrimSpace(parts[i]), true
}

func (r row) cell(t table, column string) string {
	i := slices.Index(t.header, column)
	if i < 0 || i >= len(r.cells) {
		return ""
	}
	return r.cells[i]
}

func readBy(cell, binary string) bool {
	for _, w := range strings.FieldsFunc(cell, func(r rune) bool { return r == ',' || r == ' ' || r == '`' }) {
		if w == binary || w == "all" {
			return true
		}
	}
	return false
}

// tables parses every Markdown table of md.
func tables(md string) (out []table) {
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "| ---") {
			continue
		}
		t := table{header: cells(lines[i])}
		def := slices.Index(t.header, "default")
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			c := cells(lines[i])
			r := row{cells: c, def: def}
			for _, m := range varName.FindAllStringSubmatch(c[0], -1) {
				r.names = append(r.names, m[1])
			}
			t.rows = append(t.rows, r)
		}
		out = append(out, t)
	}
	return out
}

func cells(line string) []string {
	parts := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// tableAfter is the first table after the first line starting with lead, before the next line
// in bold or heading: a binary that reads only shared settings has no table of its own.
func tableAfter(md, lead string) (table, bool) {
	lines := strings.Split(md, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, lead) {
			continue
		}
		end := i + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "**") && !strings.HasPrefix(lines[end], "#") {
			end++
		}
		if ts := tables(strings.Join(lines[i+1:end], "\n")); len(ts) > 0 {
			return ts[0], true
		}
		return table{}, false
	}
	return table{}, false
}

func sharedTables(md string) []table {
	var out []table
	for _, t := range tables(md) {
		if slices.Contains(t.header, "read by") {
			out = append(out, t)
		}
	}
	return out
}

// CheckReads fails t unless loading the configuration from env read every setting of set and
// nothing else: a declared setting nothing reads is documented for nothing, and a variable read
// without a declaration is missing from -h, the start log and the README.
func CheckReads(t T, set *config.Set, env *config.Env) {
	t.Helper()
	read := env.Read()
	for _, name := range set.Names() {
		if !slices.Contains(read, name) {
			t.Errorf("%s declares %s but loading its configuration did not read it", set.Name, name)
		}
	}
	for _, name := range env.Undeclared() {
		t.Errorf("%s reads %s, which its config.Set does not declare", set.Name, name)
	}
}
