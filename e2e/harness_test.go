// Package e2e runs the real binaries (bin/ingress, bin/forwarder, bin/adeventsx-sim) against a
// real Apache Kafka broker (E2E_KAFKA_BROKERS, started by `make test`) and reconciles what was
// sent against what the simulator received and what sits in the dead-letter topic. Without
// E2E_KAFKA_BROKERS it says so loudly and falls back to an embedded kfake broker, where the
// fault tests that stop the broker are skipped (also with E2E_KAFKA=container); on the real
// broker they always run, and fail when E2E_KAFKA_CTL is not set.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/kafka"
)

var (
	brokers  string // comma-separated
	binDir   string
	kafkaCtl string // deploy/kafka/kafka.sh, empty on kfake
)

func TestMain(m *testing.M) {
	brokers = os.Getenv("E2E_KAFKA_BROKERS")
	kafkaCtl = os.Getenv("E2E_KAFKA_CTL")
	binDir = os.Getenv("E2E_BIN")
	if binDir == "" {
		binDir, _ = filepath.Abs("../bin")
	}
	if containerMode() {
		os.Exit(runInContainer(m.Run))
	}
	if brokers == "" {
		fmt.Fprintln(os.Stderr, "!! E2E_KAFKA_BROKERS is not set: these tests run on kfake, NOT a real Kafka broker !!")
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			fmt.Fprintln(os.Stderr, "kfake:", err)
			os.Exit(1)
		}
		brokers = strings.Join(c.ListenAddrs(), ",")
		kafkaCtl = ""
		code := m.Run()
		c.Close()
		os.Exit(code)
	}
	code := m.Run()
	stopOwnBrokers()
	os.Exit(code)
}

// names are the topics and group of one test, so tests never see each other's records.
type names struct {
	events, dlq, delivered, group string
}

func newNames(t *testing.T) names {
	p := "e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + randomHex(3)
	return names{events: p + ".raw", dlq: p + ".dlq", delivered: p + ".delivered", group: p + ".fwd"}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string { return uuid.NewString() }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds or the deadline passes; cond says what it is waiting for.
// It fails at once when one of the test's services has exited without being stopped: what it
// waits for will not come, and the log says why.
func waitFor(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, what := cond()
		if ok {
			return
		}
		if p := exitedOnItsOwn(t); p != nil {
			t.Fatalf("%s exited (%v) while waiting for: %s", p.name, p.err, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for: %s", timeout, what)
		}
		<-tick.C
	}
}

// services are the running services of each test, by test name, for exitedOnItsOwn.
var services = struct {
	sync.Mutex
	byTest map[string][]*proc
}{byTest: map[string][]*proc{}}

// exitedOnItsOwn is a service of t (or of a test t is a subtest of) that exited without stop or
// kill, or nil.
func exitedOnItsOwn(t *testing.T) *proc {
	services.Lock()
	defer services.Unlock()
	for name, ps := range services.byTest {
		if name != t.Name() && !strings.HasPrefix(t.Name(), name+"/") {
			continue
		}
		for _, p := range ps {
			if p.exited() && !p.stopped.Load() {
				return p
			}
		}
	}
	return nil
}

// proc is one of our binaries running as a child process; its log goes to a file that is
// printed when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	// stopped is set by stop and kill: the exit that follows is the test's doing.
	stopped atomic.Bool
}

func startProc(t *testing.T, name string, env ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=info"), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (run `make build`)", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	services.Lock()
	services.byTest[t.Name()] = append(services.byTest[t.Name()], p)
	services.Unlock()
	t.Cleanup(func() {
		services.Lock()
		delete(services.byTest, t.Name())
		services.Unlock()
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("---- %s log (tail) ----\n%s", name, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.stopped.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within 40s of SIGTERM", p.name)
	}
}

// kill is kill -9.
func (p *proc) kill() {
	p.stopped.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func httpGet(url string) (int, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	waitFor(t, 60*time.Second, func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited while starting: %v\n%s", p.name, p.err, p.logText())
		}
		code, _, err := httpGet(url)
		return err == nil && code == http.StatusOK, p.name + " ready at " + url
	})
}

// ---- the AdEventsX simulator ----

type sim struct {
	*proc
	url    string
	apiKey string
}

func startSim(t *testing.T, env ...string) *sim {
	t.Helper()
	addr := freeAddr(t)
	s := &sim{url: "http://" + addr, apiKey: "e2e-key-" + randomHex(4)}
	s.proc = startProc(t, "adeventsx-sim", append([]string{"SIM_ADDR=" + addr, "ADEVENTSX_API_KEY=" + s.apiKey}, env...)...)
	waitHTTP(t, s.proc, s.url+"/healthz")
	return s
}

type conversion struct {
	ID         string `json:"id"`
	User       string `json:"user"`
	Name       string `json:"name"`
	TS         int64  `json:"ts"`
	ValueCents int64  `json:"value_cents"`
	Campaign   string `json:"campaign"`
	Source     string `json:"source"`
}

type simEvent struct {
	ID    string     `json:"id"`
	Times int        `json:"times"`
	First int64      `json:"first_received_at_unix_nano"`
	Body  conversion `json:"body"`
}

type simReceived struct {
	Count      int        `json:"count"`
	Total      int        `json:"total"`
	Duplicates int        `json:"duplicates"`
	Events     []simEvent `json:"events"`
}

func (s *sim) received(t *testing.T) simReceived {
	t.Helper()
	code, b, err := httpGet(s.url + "/_sim/received")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /_sim/received: %d %v", code, err)
	}
	var r simReceived
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode /_sim/received: %v", err)
	}
	return r
}

// wantEachOnce checks that the simulator accepted every event it got exactly once.
func (s *sim) wantEachOnce(t *testing.T) {
	t.Helper()
	for id, n := range s.times(t) {
		if n != 1 {
			t.Errorf("%s received %d times, want once", id, n)
		}
	}
}

// times is how often each id was accepted.
func (s *sim) times(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, e := range s.received(t).Events {
		out[e.ID] = e.Times
	}
	return out
}

func (s *sim) stats(t *testing.T) map[string]int {
	t.Helper()
	_, b, err := httpGet(s.url + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Responses map[string]int `json:"responses"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("decode /_sim/stats %s: %v", b, err)
	}
	return st.Responses
}

func (s *sim) control(t *testing.T, settings map[string]any) {
	t.Helper()
	b, _ := json.Marshal(settings)
	resp, err := http.Post(s.url+"/_sim/control", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /_sim/control %s: %d %s", b, resp.StatusCode, body)
	}
}

// ---- the forwarder ----

// fastRetries keeps retry waits short so the tests are quick; the policy is the same.
var fastRetries = []string{"DELIVERY_BACKOFF=100ms", "DELIVERY_MAX_BACKOFF=1s", "COMMIT_INTERVAL=200ms"}

func startForwarder(t *testing.T, n names, s *sim, env ...string) (*proc, string) {
	t.Helper()
	admin := freeAddr(t)
	p := startProc(t, "forwarder", append([]string{
		"KAFKA_BROKERS=" + brokers,
		"EVENTS_TOPIC=" + n.events, "DLQ_TOPIC=" + n.dlq, "DEDUPE_TOPIC=" + n.delivered,
		"CONSUMER_GROUP=" + n.group,
		"ADEVENTSX_URL=" + s.url, "ADEVENTSX_API_KEY=" + s.apiKey,
		"FORWARDER_ADMIN_ADDR=" + admin,
	}, env...)...)
	waitHTTP(t, p, "http://"+admin+"/healthz")
	return p, "http://" + admin
}

// ---- the ingress ----

type ingress struct {
	*proc
	url, clientID, secret string
	admin                 string // the admin listener's base URL: /healthz, /readyz, /metrics
	token                 string
}

func startIngress(t *testing.T, n names, env ...string) *ingress {
	t.Helper()
	addr, admin := freeAddr(t), freeAddr(t)
	in := &ingress{url: "http://" + addr, admin: "http://" + admin, clientID: "e2e", secret: "s3cret-" + randomHex(8)}
	in.proc = startProc(t, "ingress", append([]string{
		"KAFKA_BROKERS=" + brokers, "EVENTS_TOPIC=" + n.events, "INGRESS_ADDR=" + addr, "INGRESS_ADMIN_ADDR=" + admin,
		"AUTH_CLIENTS=" + in.clientID + ":" + in.secret, "JWT_SECRET=" + randomHex(32),
	}, env...)...)
	waitHTTP(t, in.proc, in.admin+"/readyz")
	in.token = in.getToken(t)
	return in
}

func (in *ingress) getToken(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf(`{"client_id":%q,"client_secret":%q}`, in.clientID, in.secret)
	resp, err := http.Post(in.url+"/auth/token", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("POST /auth/token: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// post sends one event and returns the status code and body.
func (in *ingress) post(t *testing.T, ev map[string]any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(ev)
	req, _ := http.NewRequest(http.MethodPost, in.url+"/events", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+in.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func sampleEvent(id string) map[string]any {
	return map[string]any{
		"event_id": id, "user_id": "user-" + id[:8], "event_name": "purchase",
		"event_time": "2026-11-24T10:00:00.750Z", "value": "19.99", "campaign_id": "camp-1",
	}
}

// eventJSON is a valid event as an upstream producer would write it to events.raw.
func eventJSON(id string) string {
	return fmt.Sprintf(`{"event_id":%q,"user_id":"u-%s","event_name":"lead","event_time":1764000000,"value":0.29,"campaign_id":"c-9"}`, id, id[:6])
}

// ---- Kafka ----

func kafkaClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopics makes the test's topics up front, with 6 partitions, so producers can write
// before the services start.
func createTopics(t *testing.T, n names) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafka.EnsureTopics(ctx, kafkaClient(t), kafka.Settings{Partitions: 6, ReplicationFactor: 1},
		kafka.Topic{Name: n.events}, kafka.Topic{Name: n.dlq}); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every committed record of topic up to its current end, as the forwarder sees them.
func readAll(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	return readRecords(t, topic, kgo.ReadCommitted())
}

// readRecords reads every record of topic up to its end, also when the end is a transaction
// marker. With ReadUncommitted it sees aborted records too.
func readRecords(t *testing.T, topic string, isolation kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(kafkaClient(t))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	list := adm.ListEndOffsets
	if isolation == kgo.ReadCommitted() {
		list = adm.ListCommittedOffsets
	}
	ends, err := list(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	until := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			until[o.Partition] = o.Offset
		}
	})
	if len(until) == 0 {
		return nil
	}
	rd := kafkaClient(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(isolation), kgo.KeepControlRecords())
	var out []*kgo.Record
	for len(until) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), until)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset+1 >= until[r.Partition] {
				delete(until, r.Partition)
			}
		})
	}
	return out
}

// caughtUp reports whether the group has committed every partition of topic up to its end:
// every record written so far is finished.
func caughtUp(t *testing.T, group, topic string) (bool, string) {
	t.Helper()
	adm := kadm.NewClient(kafkaClient(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, "end offsets: " + err.Error()
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, "committed offsets: " + err.Error()
	}
	behind := []string{}
	ends.Each(func(o kadm.ListedOffset) {
		c, _ := committed.Lookup(topic, o.Partition)
		have := int64(0)
		if c.Err == nil {
			have = c.At
		}
		if have < o.Offset {
			behind = append(behind, fmt.Sprintf("p%d %d/%d", o.Partition, have, o.Offset))
		}
	})
	return len(behind) == 0, fmt.Sprintf("group %s caught up on %s (behind: %v)", group, topic, behind)
}

// ---- kcat, the outside client ----

// kcatProduce writes lines "key|value" (or just "value" when key is empty) with kcat and its
// librdkafka default partitioner, or to partition when partition >= 0.
func kcatProduce(t *testing.T, topic string, partition int, lines []string, extra ...string) {
	t.Helper()
	args := append([]string{"-b", brokers, "-t", topic, "-P", "-K", "|", "-z", "none"}, extra...)
	if partition >= 0 {
		args = append(args, "-p", fmt.Sprint(partition))
	}
	cmd := exec.Command("kcat", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
}

// kcatHeaders reads topic with kcat and returns, per record, its headers as kcat prints them.
func kcatConsume(t *testing.T, topic string, count int) []string {
	t.Helper()
	cmd := exec.Command("kcat", "-b", brokers, "-t", topic, "-C", "-o", "beginning",
		"-c", fmt.Sprint(count), "-e", "-f", "%k\t%h\t%s\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
