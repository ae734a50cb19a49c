package checks

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoFiles are the files git tracks, with their modes, relative to the repository root.
func repoFiles(t *testing.T) (root string, files map[string]string) {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (these checks run in a git checkout)", err)
	}
	root = strings.TrimSpace(string(out))
	cmd := exec.Command("git", "ls-files", "-s", "-z")
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files = map[string]string{}
	for _, entry := range bytes.Split(out, []byte{0}) {
		// "<mode> <object> <stage>\t<path>"
		meta, path, ok := strings.Cut(string(entry), "\t")
		if !ok {
			continue
		}
		files[path] = strings.Fields(meta)[0]
	}
	if len(files) == 0 {
		t.Fatal("git ls-files listed nothing")
	}
	return root, files
}

// Magic numbers of executables: ELF, Mach-O (both byte orders, 32 and 64 bit), Windows PE.
var executableMagic = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{'M', 'Z'},
}

func TestNoCommittedFileIsABinary(t *testing.T) {
	root, files := repoFiles(t)
	for path, mode := range files {
		if mode == "160000" || mode == "120000" { // a submodule or a symlink: no content here
			continue
		}
		head := make([]byte, 4)
		f, err := os.Open(filepath.Join(root, path))
		if err != nil {
			continue // deleted in the working tree, not committed yet
		}
		n, _ := f.Read(head)
		f.Close()
		head = head[:n]
		for _, magic := range executableMagic {
			if bytes.HasPrefix(head, magic) {
				t.Errorf("%s is an executable binary (starts with % x): build into bin/ and never commit it", path, magic)
			}
		}
		if mode == "100755" && !bytes.HasPrefix(head, []byte("#!")) {
			t.Errorf("%s is executable but not a script (no #!): is it a built binary?", path)
		}
	}
}

// markdownLink is a Markdown link or image target: [text](target).
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)`)

func TestDocsLinkNowhereOutsideTheRepository(t *testing.T) {
	root, files := repoFiles(t)
	for path := range files {
		if !strings.HasSuffix(path, ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			where := path + ":" + strconv.Itoa(i+1)
			if strings.Contains(line, "../shared") || strings.Contains(line, "/work/") {
				t.Errorf("%s points outside the repository: %s", where, strings.TrimSpace(line))
			}
			for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				if strings.HasPrefix(target, "/") {
					t.Errorf("%s links to an absolute path %s", where, m[1])
					continue
				}
				abs := filepath.Join(root, filepath.Dir(path), target)
				rel, err := filepath.Rel(root, abs)
				if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
					t.Errorf("%s links outside the repository: %s", where, m[1])
					continue
				}
				if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s links to %s, which does not exist", where, m[1])
				}
			}
		}
	}
}

// errorKey is a log call's error under the key "error"; the key everywhere is "err".
var errorKey = regexp.MustCompile(`"error",\s*([A-Za-z_][A-Za-z0-9_.]*)?[eE]rr\b`)

func TestLogLinesNameTheirErrorErr(t *testing.T) {
	root, files := repoFiles(t)
	for path := range files {
		if !strings.HasSuffix(path, ".go") {
			continue
		}
		f, err := os.Open(filepath.Join(root, path))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			if errorKey.MatchString(sc.Text()) {
				t.Errorf(`%s:%d logs its error as "error"; the key is "err" everywhere: %s`, path, n, strings.TrimSpace(sc.Text()))
			}
		}
		f.Close()
	}
}

// composeService is a docker-compose.yml build argument naming a binary.
var composeService = regexp.MustCompile(`SERVICE: ([a-z-]+)`)

func TestOneDockerfileBuildsEveryComposeService(t *testing.T) {
	root, files := repoFiles(t)
	for path := range files {
		if filepath.Base(path) == "Dockerfile" && path != "Dockerfile" {
			t.Errorf("%s: the root Dockerfile builds every binary (--build-arg SERVICE=...)", path)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	services := composeService.FindAllStringSubmatch(string(compose), -1)
	if len(services) != 4 {
		t.Errorf("docker-compose.yml builds %d services with SERVICE, want 4 (ingress, forwarder, adeventsx-sim, dlq)", len(services))
	}
	for _, m := range services {
		if _, ok := files["services/"+m[1]+"/main.go"]; !ok {
			t.Errorf("docker-compose.yml builds SERVICE=%s, which has no services/%s/main.go", m[1], m[1])
		}
		if !strings.Contains(string(dockerfile), m[1]) {
			t.Errorf("the Dockerfile does not accept SERVICE=%s", m[1])
		}
	}
}
