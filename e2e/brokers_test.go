package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/kafka"
)

// Brokers of their own that some tests start (a secured one, a three-broker cluster), each once
// per run, on ports of their own, and stopped when the run ends (stopOwnBrokers in TestMain).

var ownBrokers struct {
	sync.Mutex
	stops []func()
}

func stopOwnBrokers() {
	ownBrokers.Lock()
	defer ownBrokers.Unlock()
	for _, stop := range ownBrokers.stops {
		stop()
	}
	ownBrokers.stops = nil
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// script runs one of deploy/kafka's scripts (beside kafka.sh) with env and returns its output.
func script(name string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(kafkaCtl), name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// secureBroker is a single broker started by `kafka.sh up` with KAFKA_SECURE=true: SASL_SSL
// with SCRAM-SHA-512 users and a listener requiring client certificates, StandardAuthorizer
// with allow.everyone.if.no.acl.found=false; its plaintext port is the tests' super-user door.
type secureBroker struct {
	plain, sasl, mtlsAddr string
	state                 string
	idp                   *tokenIssuer
}

var secured struct {
	once sync.Once
	b    *secureBroker
	err  error
}

func secureKafka(t *testing.T) *secureBroker {
	t.Helper()
	needRealBroker(t)
	secured.once.Do(func() {
		p := freePorts(t, 4)
		state, err := os.MkdirTemp(os.Getenv("E2E_STATE_DIR"), "kafka-sec-e2e-")
		if err != nil {
			secured.err = err
			return
		}
		idp, err := newTokenIssuer(state)
		if err != nil {
			secured.err = err
			return
		}
		env := []string{"KAFKA_SECURE=true", "KAFKA_STATE=" + state, "KAFKA_OAUTH_JWKS_FILE=" + idp.jwksFile, fmt.Sprintf("KAFKA_PORT=%d", p[0]),
			fmt.Sprintf("KAFKA_CONTROLLER_PORT=%d", p[1]), fmt.Sprintf("KAFKA_SASL_PORT=%d", p[2]),
			fmt.Sprintf("KAFKA_MTLS_PORT=%d", p[3])}
		out, err := script("kafka.sh", env, "up")
		ownBrokers.Lock()
		ownBrokers.stops = append(ownBrokers.stops, func() {
			_, _ = script("kafka.sh", env, "down")
			idp.Close()
			os.RemoveAll(state)
		})
		ownBrokers.Unlock()
		if err != nil {
			secured.err = fmt.Errorf("kafka.sh up (secure): %v\n%s", err, out)
			return
		}
		secured.b = &secureBroker{plain: fmt.Sprintf("127.0.0.1:%d", p[0]), sasl: fmt.Sprintf("127.0.0.1:%d", p[2]),
			mtlsAddr: fmt.Sprintf("127.0.0.1:%d", p[3]), state: state, idp: idp}
	})
	if secured.err != nil {
		t.Fatal(secured.err)
	}
	return secured.b
}

func (b *secureBroker) ca() string { return filepath.Join(b.state, "tls", "ca.pem") }

func (b *secureBroker) password(t *testing.T, user string) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(b.state, "secrets", user+".password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pw))
}

// scram is the environment of a client logging in as user with SCRAM-SHA-512 over TLS.
func (b *secureBroker) scram(user string) []string {
	return []string{"KAFKA_BROKERS=" + b.sasl, "KAFKA_TLS=true", "KAFKA_TLS_CA_FILE=" + b.ca(),
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=" + user,
		"KAFKA_SASL_PASSWORD_FILE=" + filepath.Join(b.state, "secrets", user+".password")}
}

// mtls is the environment of a client that is user by its certificate.
func (b *secureBroker) mtls(user string) []string {
	return []string{"KAFKA_BROKERS=" + b.mtlsAddr, "KAFKA_TLS=true", "KAFKA_TLS_CA_FILE=" + b.ca(),
		"KAFKA_TLS_CERT_FILE=" + filepath.Join(b.state, "tls", user+".pem"),
		"KAFKA_TLS_KEY_FILE=" + filepath.Join(b.state, "tls", user+"-key.pem")}
}

// oauth is the environment of a client that signs in with OAUTHBEARER as user, its token from
// the test's OAuth2 token endpoint.
func (b *secureBroker) oauth(user string) []string {
	return []string{"KAFKA_BROKERS=" + b.sasl, "KAFKA_TLS=true", "KAFKA_TLS_CA_FILE=" + b.ca(),
		"KAFKA_SASL_MECHANISM=OAUTHBEARER", "KAFKA_SASL_USERNAME=" + user, "KAFKA_SASL_PASSWORD=" + b.idp.secret(user),
		"KAFKA_SASL_OAUTH_TOKEN_URL=" + b.idp.URL + "/token"}
}

// admin is a client of the super-user door.
func (b *secureBroker) admin(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.plain)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// makeTopics creates the test's events, DLQ, marker and replay-ledger topics beforehand, as
// an operator who grants no create rights would.
func makeTopics(t *testing.T, cl *kgo.Client, n names, partitions int32, rf int16, minISR int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := kafka.Settings{Partitions: partitions, ReplicationFactor: rf, MinInsyncReplicas: minISR}
	if _, err := kafka.EnsureTopics(ctx, cl, s, kafka.Topic{Name: n.events}, kafka.Topic{Name: n.dlq},
		kafka.Topic{Name: n.delivered, Configs: map[string]*string{"cleanup.policy": kmsg.StringPtr("compact,delete")}},
		kafka.Topic{Name: n.dlq + ".replays", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
}

// grantACLs runs bin/kafka-acls with env (how it connects, which names) and args.
func grantACLs(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kafka-acls"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-acls %v: %v\n%s", args, err, out)
	}
	t.Logf("kafka-acls:\n%s", out)
}

// topicEnv points a service at the test's topics and group.
func topicEnv(n names) []string {
	return []string{"EVENTS_TOPIC=" + n.events, "DLQ_TOPIC=" + n.dlq, "DEDUPE_TOPIC=" + n.delivered, "CONSUMER_GROUP=" + n.group}
}
