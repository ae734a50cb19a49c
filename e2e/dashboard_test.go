package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	dashboardFile = "../deploy/grafana/eventfwd.json"
	alertsFile    = "../deploy/prometheus/alerts.yml"
	readmeFile    = "../README.md"
)

type dashboard struct {
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			RefID        string `json:"refId"`
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// Alerts, runbook sections and dashboard panels name each other: every alert names a runbook
// section that README.md has and a panel the dashboard has, and every alert has a section.
func TestAlertsRunbooksAndDashboardAgree(t *testing.T) {
	panels := map[string]bool{}
	for _, p := range loadDashboard(t).Panels {
		if panels[p.Title] {
			t.Errorf("two panels are titled %q", p.Title)
		}
		panels[p.Title] = true
	}
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(readme), -1) {
		anchors[githubAnchor(m[1])] = true
	}

	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(string(rules), -1)
	runbooks := regexp.MustCompile(`(?m)^\s+runbook: "README\.md#([^"]+)"$`).FindAllStringSubmatch(string(rules), -1)
	panelRefs := regexp.MustCompile(`(?m)^\s+dashboard_panel: "([^"]+)"$`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 10 || len(runbooks) != len(alerts) || len(panelRefs) != len(alerts) {
		t.Fatalf("%d alerts, %d runbook and %d dashboard_panel annotations: want one of each per alert",
			len(alerts), len(runbooks), len(panelRefs))
	}
	for i, a := range alerts {
		if !anchors[runbooks[i][1]] {
			t.Errorf("alert %s: README.md has no section #%s", a[1], runbooks[i][1])
		}
		if !panels[panelRefs[i][1]] {
			t.Errorf("alert %s: the dashboard has no panel %q", a[1], panelRefs[i][1])
		}
		if !strings.Contains(string(readme), "`"+a[1]+"`") {
			t.Errorf("alert %s is not named in README.md", a[1])
		}
	}
}

// githubAnchor is the id GitHub gives a heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// A real Prometheus scrapes the running ingress, forwarder and simulator while traffic flows
// (accepted events, a rejected one, garbage from an upstream producer, a rate-limited batch and a
// wrong token secret); then every query of every dashboard panel must return data, with the
// labels its legend names.
func TestDashboardQueriesReturnDataFromRealPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: `make test` installs it (Debian package prometheus)")
	}
	n := newNames(t)
	createTopics(t, n)
	s := startSim(t)
	// The smallest burst the ingress allows, so that a second full batch is refused.
	in := startIngress(t, n, "RATE_LIMIT_RPS=200", "RATE_LIMIT_BURST=500")
	_, fwdAdmin := startForwarder(t, n, s, fastRetries...)

	prom := startPrometheus(t, promBin, map[string]string{
		"ingress":       strings.TrimPrefix(in.admin, "http://"), // /metrics is on the admin listener
		"forwarder":     strings.TrimPrefix(fwdAdmin, "http://"),
		"adeventsx-sim": strings.TrimPrefix(s.url, "http://"),
	})
	waitFor(t, 60*time.Second, func() (bool, string) {
		res, err := prom.query("sum(up)")
		return err == nil && len(res) == 1 && res[0].value() == 3, "Prometheus to scrape all three targets"
	})
	start := time.Now()

	// Traffic: a full batch (the client's whole burst), then a second one, refused with 429.
	batch := func() int {
		items := make([]string, 500)
		for i := range items {
			items[i] = ingEventJSON(newUUID())
		}
		return ingDo(t, http.MethodPost, in.url+"/events/batch", "["+strings.Join(items, ",")+"]",
			"Content-Type: application/json", "Authorization: Bearer "+in.token).code
	}
	if code := batch(); code != http.StatusOK {
		t.Fatalf("first batch = %d, want 200", code)
	}
	if code := batch(); code != http.StatusTooManyRequests {
		t.Fatalf("second batch = %d, want 429", code)
	}
	// A wrong secret on the token endpoint.
	if r := ingDo(t, http.MethodPost, in.url+"/auth/token", `{"client_id":"e2e","client_secret":"wrong"}`,
		"Content-Type: application/json"); r.code != http.StatusUnauthorized {
		t.Fatalf("token with a wrong secret = %d, want 401", r.code)
	}
	// One event AdEventsX refuses for good (rejected), and garbage from an upstream producer (invalid).
	s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 400}})
	if code, body := in.post(t, sampleEvent(newUUID())); code != http.StatusAccepted {
		t.Fatalf("POST /events = %d %s", code, body)
	}
	if err := kafkaClient(t).ProduceSync(t.Context(), &kgo.Record{Topic: n.events, Key: []byte("garbage"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Steady single events for a few scrapes, under the refilled rate limit.
	singles := 0
	waitFor(t, 60*time.Second, func() (bool, string) {
		if code, body := in.post(t, sampleEvent(newUUID())); code == http.StatusAccepted {
			singles++
		} else if code != http.StatusTooManyRequests {
			t.Fatalf("POST /events = %d %s", code, body)
		}
		return time.Since(start) > 8*time.Second, "8 s of traffic"
	})
	waitFor(t, 60*time.Second, func() (bool, string) { return caughtUp(t, n.group, n.events) })
	delivered := len(s.times(t))
	if want := 500 + singles; delivered != want {
		t.Fatalf("the simulator received %d events, want %d", delivered, want)
	}
	// Prometheus has scraped the final state when its delivered count matches the simulator's.
	waitFor(t, 30*time.Second, func() (bool, string) {
		res, err := prom.query(`sum(forwarder_records_total{outcome="delivered"}) == sum(adeventsx_sim_received_events)`)
		return err == nil && len(res) == 1 && int(res[0].value()) == delivered,
			fmt.Sprintf("Prometheus to see %d delivered events in the forwarder and the simulator", delivered)
	})
	end := time.Now()

	d := loadDashboard(t)
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			// Grafana's $__rate_interval is at least four scrape intervals (1 s here).
			expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "5s")
			series, err := prom.queryRange(expr, start.Add(-5*time.Second), end, time.Second)
			if err != nil {
				t.Errorf("panel %q %s: %v", p.Title, tg.RefID, err)
				continue
			}
			if !anyNumber(series) {
				t.Errorf("panel %q %s returned no data: %s", p.Title, tg.RefID, tg.Expr)
				continue
			}
			for _, label := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(tg.LegendFormat, -1) {
				for _, s := range series {
					if s.Metric[label[1]] == "" {
						t.Errorf("panel %q %s: a series lacks the label %q its legend shows: %v", p.Title, tg.RefID, label[1], s.Metric)
					}
				}
			}
		}
	}
	if queries < 15 {
		t.Fatalf("only %d queries in the dashboard", queries)
	}

	// The panels that tell the story show it: dead letters by both reasons, the 429 and 401.
	for expr, want := range map[string][]string{
		`sum by (reason) (forwarder_dlq_writes_total)`:                             {"invalid", "rejected"},
		`sum by (route) (ingress_http_requests_total{code="429"})`:                 {"/events/batch"},
		`sum by (code) (ingress_http_requests_total{route="/auth/token"})`:         {"200", "401"},
		`sum by (outcome) (forwarder_records_total{outcome=~"delivered|invalid"})`: {"delivered", "invalid"},
	} {
		res, err := prom.query(expr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res {
			for _, v := range r.Metric {
				got = append(got, v)
			}
		}
		for _, w := range want {
			if !strings.Contains(strings.Join(got, ","), w) {
				t.Errorf("%s = %v, want a series for %s", expr, got, w)
			}
		}
	}
}

// ---- a real Prometheus ----

type prometheus struct {
	url string
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

func (s promSeries) value() float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return f
}

// anyNumber reports whether any series has a value that is a number (not NaN).
func anyNumber(series []promSeries) bool {
	for _, s := range series {
		for _, v := range s.Values {
			if f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64); err == nil && !math.IsNaN(f) {
				return true
			}
		}
	}
	return false
}

// startPrometheus runs the prometheus binary scraping every target each second, with its data
// in a temporary folder.
func startPrometheus(t *testing.T, bin string, targets map[string]string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
	for job, addr := range targets {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", job, addr)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- prometheus log ----\n%s", b)
		}
	})
	p := &prometheus{url: "http://" + addr}
	waitFor(t, 60*time.Second, func() (bool, string) {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus exited:\n%s", b)
		default:
		}
		code, _, err := httpGet(p.url + "/-/ready")
		return err == nil && code == http.StatusOK, "prometheus ready"
	})
	return p
}

func (p *prometheus) query(expr string) ([]promSeries, error) {
	return p.api("/api/v1/query", url.Values{"query": {expr}})
}

func (p *prometheus) queryRange(expr string, start, end time.Time, step time.Duration) ([]promSeries, error) {
	return p.api("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {step.String()},
	})
}

func (p *prometheus) api(path string, params url.Values) ([]promSeries, error) {
	resp, err := http.PostForm(p.url+path, params)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSeries `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %d: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s %s: %s", path, params.Get("query"), body.Error)
	}
	return body.Data.Result, nil
}
