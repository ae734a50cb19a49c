package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The pipeline on a secured broker (SASL_SSL with SCRAM-SHA-512, and mutual TLS), each service
// under its own principal with only the ACLs bin/kafka-acls grants it, and the one-line refusals
// of a wrong password, an untrusted certificate, a plaintext client on a TLS port and a missing
// ACL.

// The ingress logs in with SCRAM, the forwarder with its certificate, the dlq tool with an
// OAuth2 token (OAUTHBEARER);
// the topics exist beforehand and nobody may create topics. Events go through (also one kcat
// wrote over mutual TLS), the one AdEventsX refused goes to the DLQ, and a replay by the dlq
// principal delivers it: every event once.
func TestSecureLeastPrivilegePipeline(t *testing.T) {
	b := secureKafka(t)
	n := newNames(t)
	makeTopics(t, b.admin(t), n, 6, 1, 0)
	// The ACL tool connects like the services, here as the SCRAM super user.
	grantACLs(t, append(b.scram("admin"), topicEnv(n)...),
		"-ingress", "User:ingress", "-forwarder", "User:forwarder", "-dlq", "User:dlq")

	s := startSim(t)
	in := startIngress(t, n, append(b.scram("ingress"), topicEnv(n)...)...)
	startForwarder(t, n, s, append(append(b.mtls("forwarder"), topicEnv(n)...), fastRetries...)...)
	// One refusal: the same 400 for several events in a row reads as AdEventsX's own failure,
	// which the forwarder holds back instead of dead-lettering.
	s.control(t, map[string]any{"fail_next": map[string]any{"count": 1, "status": 400}})

	const posted = 30
	ids := newIDs(posted)
	for _, id := range ids {
		ev := sampleEvent(id)
		ev["event_time"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		if code, body := in.post(t, ev); code != http.StatusAccepted {
			t.Fatalf("POST /events = %d %s", code, body)
		}
	}
	// An upstream producer outside Go: kcat over mutual TLS as User:ingress. (Debian's kcat,
	// librdkafka 2.0.2, fails SCRAM against Kafka 4: a nonce bug fixed in librdkafka 2.6.1.)
	upstream := newUUID()
	kcat := exec.Command("kcat", "-b", b.mtlsAddr, "-t", n.events, "-P", "-K", "|", "-z", "none",
		"-X", "security.protocol=ssl", "-X", "ssl.ca.location="+b.ca(),
		"-X", "ssl.certificate.location="+filepath.Join(b.state, "tls", "ingress.pem"),
		"-X", "ssl.key.location="+filepath.Join(b.state, "tls", "ingress-key.pem"))
	kcat.Stdin = strings.NewReader(upstream + "|" + eventJSON(upstream) + "\n")
	if out, err := kcat.CombinedOutput(); err != nil {
		t.Fatalf("kcat over mutual TLS: %v\n%s", err, out)
	}
	ids = append(ids, upstream)
	total := posted + 1

	adm := kadm.NewClient(b.admin(t))
	dlqCount := func() int64 {
		ends, err := adm.ListEndOffsets(t.Context(), n.dlq)
		if err != nil {
			return -1
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		return sum
	}
	waitFor(t, 60*time.Second, func() (bool, string) {
		got, dl := len(s.times(t)), dlqCount()
		return got == total-1 && dl == 1, fmt.Sprintf("%d delivered (want %d) and %d dead-lettered (want 1)", got, total-1, dl)
	})

	issued := b.idp.issued.Load()
	res := runBin(t, "dlq", append(b.oauth("dlq"), topicEnv(n)...), "replay", "--name", "secure", "--dlq-topic", n.dlq, "--events-topic", n.events)
	if res.code != 0 {
		t.Fatalf("dlq replay as User:dlq (OAUTHBEARER): exit %d\n%s", res.code, res)
	}
	if b.idp.issued.Load() == issued {
		t.Errorf("dlq replay got no token from the OAuth2 token endpoint")
	}
	waitFor(t, 60*time.Second, func() (bool, string) {
		return len(s.times(t)) == total, fmt.Sprintf("%d of %d delivered after the replay", len(s.times(t)), total)
	})
	s.wantEachOnce(t)
	log := in.logText()
	if !strings.Contains(log, `"sasl_mechanism":"SCRAM-SHA-512"`) {
		t.Errorf("the ingress's start-up log does not name the mechanism:\n%s", firstLines(log, 5))
	}
	if pw := b.password(t, "ingress"); strings.Contains(log, pw) {
		t.Errorf("the ingress's log holds its Kafka password")
	}
}

// binResult is how one run of a binary ended.
type binResult struct {
	output string
	code   int
	took   time.Duration
}

// runBin runs bin/name with env and args, for at most 45 s.
func runBin(t *testing.T, name string, env []string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = append(append(os.Environ(), "LOG_LEVEL=info"), env...)
	r := runToEnd(t, cmd)
	return binResult{output: r.stdout + r.stderr, code: r.code, took: r.took}
}

func (r binResult) stderrLines() []string { return strings.Split(strings.TrimSpace(r.output), "\n") }

func (r binResult) lastLine() string {
	lines := r.stderrLines()
	return lines[len(lines)-1]
}

// stderr is the output, for messages.
func (r binResult) String() string { return firstLines(r.output, 40) }

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Each misconfiguration stops the binary within 30 s, its last line naming the setting or the
// resource, without the password.
func TestSecureRefusalsNameTheSetting(t *testing.T) {
	b := secureKafka(t)
	n := newNames(t)
	makeTopics(t, b.admin(t), n, 3, 1, 0)
	// Everything but the group: the forwarder's missing ACL is the group's.
	grantACLs(t, append(append(b.scram("admin"), topicEnv(n)...), "CONSUMER_GROUP=someone-elses-group"),
		"-ingress", "User:ingress", "-forwarder", "User:forwarder", "-dlq", "User:dlq")
	ungranted := newNames(t)
	makeTopics(t, b.admin(t), ungranted, 3, 1, 0)

	ingressEnv := []string{"INGRESS_ADDR=" + freeAddr(t), "AUTH_CLIENTS=e2e:secret-" + randomHex(8), "JWT_SECRET=" + randomHex(32)}
	forwarderEnv := []string{"FORWARDER_ADMIN_ADDR=" + freeAddr(t), "ADEVENTSX_URL=http://127.0.0.1:9", "ADEVENTSX_API_KEY=k"}
	wrongPassword := []string{"KAFKA_SASL_PASSWORD_FILE=", "KAFKA_SASL_PASSWORD=wrong-" + randomHex(6)}
	noCA := []string{"KAFKA_TLS_CA_FILE="}
	plainOn := func(addr string) []string {
		return []string{"KAFKA_BROKERS=" + addr, "KAFKA_TLS=", "KAFKA_TLS_CA_FILE=", "KAFKA_SASL_MECHANISM=", "KAFKA_SASL_USERNAME=", "KAFKA_SASL_PASSWORD_FILE="}
	}
	noCert := []string{"KAFKA_TLS_CERT_FILE=", "KAFKA_TLS_KEY_FILE="}
	join := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	dlqStats := []string{"stats", "--dlq-topic", n.dlq}
	tests := []struct {
		name     string
		bin      string
		env      []string
		args     []string
		want     []string
		password string // must not show
	}{
		{"ingress wrong password", "ingress", join(ingressEnv, topicEnv(n), b.scram("ingress"), wrongPassword), nil,
			[]string{"KAFKA_SASL_PASSWORD", `user \"ingress\"`}, wrongPassword[1]},
		{"forwarder wrong password", "forwarder", join(forwarderEnv, topicEnv(n), b.scram("forwarder"), wrongPassword), nil,
			[]string{"KAFKA_SASL_PASSWORD"}, wrongPassword[1]},
		{"dlq wrong password", "dlq", join(topicEnv(n), b.scram("dlq"), wrongPassword), dlqStats,
			[]string{"KAFKA_SASL_PASSWORD"}, wrongPassword[1]},
		{"ingress untrusted broker certificate", "ingress", join(ingressEnv, topicEnv(n), b.scram("ingress"), noCA), nil,
			[]string{"KAFKA_TLS_CA_FILE", "not trusted"}, ""},
		{"forwarder untrusted broker certificate", "forwarder", join(forwarderEnv, topicEnv(n), b.mtls("forwarder"), noCA), nil,
			[]string{"KAFKA_TLS_CA_FILE", "not trusted"}, ""},
		{"ingress plaintext on the SASL_SSL port", "ingress", join(ingressEnv, topicEnv(n), plainOn(b.sasl)), nil,
			[]string{"KAFKA_TLS", "speaks TLS"}, ""},
		{"forwarder plaintext on the mutual-TLS port", "forwarder", join(forwarderEnv, topicEnv(n), plainOn(b.mtlsAddr)), nil,
			[]string{"KAFKA_TLS", "speaks TLS"}, ""},
		{"dlq plaintext on the SASL_SSL port", "dlq", join(topicEnv(n), plainOn(b.sasl)), dlqStats,
			[]string{"KAFKA_TLS", "speaks TLS"}, ""},
		{"ingress without a client certificate on the mutual-TLS port", "ingress", join(ingressEnv, topicEnv(n), b.mtls("ingress"), noCert), nil,
			[]string{"KAFKA_TLS_CERT_FILE"}, ""},
		{"ingress missing ACL on its topic", "ingress", join(ingressEnv, topicEnv(ungranted), b.scram("ingress")), nil,
			[]string{"ACL", ungranted.events}, ""},
		{"ingress missing WRITE (may only read)", "ingress", join(ingressEnv, topicEnv(n), []string{"EVENTS_TOPIC=" + n.dlq}, b.scram("dlq")), nil,
			[]string{"ACL", "WRITE topic " + n.dlq}, ""},
		{"forwarder missing ACL on its group", "forwarder", join(forwarderEnv, topicEnv(n), b.mtls("forwarder")), nil,
			[]string{"ACL", "group " + n.group}, ""},
		{"dlq missing ACL on the DLQ topic", "dlq", join(topicEnv(n), b.scram("ingress")), dlqStats,
			[]string{"ACL", n.dlq}, ""},
		{"dlq client secret refused by the token endpoint", "dlq", join(topicEnv(n), b.oauth("dlq"), wrongPassword[1:]), dlqStats,
			[]string{"KAFKA_SASL_OAUTH_TOKEN_URL", "refused client", "invalid_client"}, wrongPassword[1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runBin(t, tt.bin, tt.env, tt.args...)
			t.Logf("%s exited %d after %s: %s", tt.bin, res.code, res.took.Round(time.Millisecond), res.lastLine())
			if res.code == 0 {
				t.Fatalf("%s exited 0, want a refusal\n%s", tt.bin, res)
			}
			if res.took > 30*time.Second {
				t.Errorf("%s took %s to give up, want at most 30 s", tt.bin, res.took)
			}
			for _, want := range tt.want {
				if !strings.Contains(res.lastLine(), want) {
					t.Errorf("last line does not name %q:\n%s", want, res.lastLine())
				}
			}
			if tt.password != "" && strings.Contains(res.output, tt.password) {
				t.Errorf("the output holds the password")
			}
		})
	}
}

// OAUTHBEARER tokens that live a few seconds: the broker ends each session when its token
// expires, the ingress re-authenticates its open connections with a fresh token each time, and
// every event in the meantime is taken.
func TestSecureOAuthTokensAreRenewedOnOpenConnections(t *testing.T) {
	const ttl = 4 * time.Second
	b := secureKafka(t)
	n := newNames(t)
	makeTopics(t, b.admin(t), n, 3, 1, 0)
	grantACLs(t, append(b.scram("admin"), topicEnv(n)...), "-ingress", "User:ingress")
	b.idp.ttl.Store(int64(ttl))
	t.Cleanup(func() { b.idp.ttl.Store(int64(10 * time.Minute)) })

	in := startIngress(t, n, append(b.oauth("ingress"), topicEnv(n)...)...)
	const window = 3 * ttl
	issued := b.idp.issued.Load()
	start := time.Now()
	pace := time.NewTicker(50 * time.Millisecond) // a steady trickle of events
	defer pace.Stop()
	posted := 0
	for time.Since(start) < window {
		if code, body := in.post(t, sampleEvent(newUUID())); code != http.StatusAccepted {
			t.Fatalf("event %d, %s in: %d %s", posted, time.Since(start).Round(time.Millisecond), code, body)
		}
		posted++
		<-pace.C
	}
	renewed := b.idp.issued.Load() - issued
	t.Logf("%d events taken over %s with tokens living %s; %d tokens fetched meanwhile", posted, window, ttl, renewed)
	if renewed < 2 {
		t.Errorf("%d tokens fetched in %s of tokens living %s: the open connections were not re-authenticated", renewed, window, ttl)
	}
	if log := in.logText(); strings.Contains(log, "SASL_AUTHENTICATION_FAILED") || strings.Contains(log, "expired") {
		t.Errorf("the ingress met refused or expired tokens:\n%s", firstLines(log, 20))
	}
}

// An ACL taken away while the forwarder runs stops it with one line naming the refusal, instead
// of a warning per fetch while it reads nothing and /readyz says ready. (Before: it kept running.)
func TestSecureForwarderStopsWhenItsReadACLIsRevoked(t *testing.T) {
	b := secureKafka(t)
	n := newNames(t)
	makeTopics(t, b.admin(t), n, 6, 1, 0)
	grantACLs(t, append(b.scram("admin"), topicEnv(n)...), "-forwarder", "User:forwarder")
	s := startSim(t)
	fwd, _ := startForwarder(t, n, s, append(append(b.mtls("forwarder"), topicEnv(n)...), fastRetries...)...)
	first := newUUID()
	produceWith(t, b.admin(t), n.events, []string{first})
	waitFor(t, 60*time.Second, func() (bool, string) { return s.times(t)[first] == 1, "the first event delivered" })

	revoke := kadm.NewACLs().Allow("User:forwarder").AllowHosts("*").Topics(n.events).
		Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(b.admin(t)).DeleteACLs(ctx, revoke); err != nil {
		t.Fatalf("delete the forwarder's READ ACL: %v", err)
	}
	produceWith(t, b.admin(t), n.events, []string{newUUID()})
	waitFor(t, 60*time.Second, func() (bool, string) { return fwd.exited(), "the forwarder to stop on the refusal" })
	if log := fwd.logText(); !strings.Contains(log, "kafka refuses to let this forwarder read "+n.events) {
		t.Fatalf("the forwarder's log does not name the refusal:\n%s", dlqTail(log))
	}
}
