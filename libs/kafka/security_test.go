package kafka

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/config"
)

// pki is a CA and a certificate it signed for 127.0.0.1, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	p := pki{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, "CERTIFICATE", caDER)
	write(p.certFile, "CERTIFICATE", der)
	write(p.keyFile, "PRIVATE KEY", keyDER)
	p.server, err = tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadSettingsRefusesBadSecurityNamingTheVariable(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		give map[string]string
		want string
	}{
		{"unknown mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM: \"GSSAPI\" is not"},
		{"scram without username", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_USERNAME: is required"},
		{"plain without password", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD: is required, or KAFKA_SASL_PASSWORD_FILE,"},
		{"password and password file", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw", "KAFKA_SASL_PASSWORD_FILE": p.caFile}, "KAFKA_SASL_PASSWORD_FILE: and KAFKA_SASL_PASSWORD are both set"},
		{"unreadable password file", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"}, "KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/pw"},
		{"username without mechanism", map[string]string{"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME: is set but KAFKA_SASL_MECHANISM is not"},
		{"oauth without token url", map[string]string{"KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_USERNAME": "id", "KAFKA_SASL_PASSWORD": "s"}, "KAFKA_SASL_OAUTH_TOKEN_URL: is required"},
		{"msk iam without tls", map[string]string{"KAFKA_SASL_MECHANISM": "AWS_MSK_IAM"}, "KAFKA_TLS: must be true with KAFKA_SASL_MECHANISM=AWS_MSK_IAM"},
		{"ca file without tls", map[string]string{"KAFKA_TLS_CA_FILE": p.caFile}, "KAFKA_TLS_CA_FILE: is set but KAFKA_TLS is not true"},
		{"unreadable ca file", map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "KAFKA_TLS_CA_FILE: cannot read /nonexistent/ca.pem"},
		{"ca file without a certificate", map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": p.keyFile}, "holds no PEM certificate"},
		{"cert without key", map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CERT_FILE": p.certFile}, "KAFKA_TLS_KEY_FILE: is required with KAFKA_TLS_CERT_FILE"},
		{"cert and key mismatch", map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CERT_FILE": p.caFile, "KAFKA_TLS_KEY_FILE": p.keyFile}, "KAFKA_TLS_CERT_FILE: cannot load the client certificate"},
		{"tls not a boolean", map[string]string{"KAFKA_TLS": "sure"}, "KAFKA_TLS: \"sure\" is not a boolean"},
		{"min insync above replication", map[string]string{"TOPIC_REPLICATION_FACTOR": "2", "TOPIC_MIN_INSYNC_REPLICAS": "3"}, "TOPIC_MIN_INSYNC_REPLICAS: 3 is above TOPIC_REPLICATION_FACTOR 2"},
		{"oauth extension not key=value", map[string]string{"KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_USERNAME": "id", "KAFKA_SASL_PASSWORD": "s", "KAFKA_SASL_OAUTH_TOKEN_URL": "https://idp/token", "KAFKA_SASL_OAUTH_EXTENSIONS": "logicalCluster"}, "KAFKA_SASL_OAUTH_EXTENSIONS: \"logicalCluster\" is not key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.FromMap(tt.give)
			ReadSettings(env)
			err := env.Err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSecurityLogShowsTheMechanismNotThePassword(t *testing.T) {
	env := config.FromMap(map[string]string{"KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_USERNAME": "ingress",
		"KAFKA_SASL_PASSWORD": "hunter2-very-secret", "KAFKA_TLS": "true"})
	s := ReadSettings(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ClientOpts(s, "test", slog.New(slog.NewJSONHandler(&buf, nil)))
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the log shows the password: %s", out)
	}
	for _, want := range []string{`"sasl_mechanism":"SCRAM-SHA-512"`, `"sasl_username":"ingress"`, `"tls":true`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

func TestSkippingVerificationIsLoggedLoudly(t *testing.T) {
	env := config.FromMap(map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_INSECURE_SKIP_VERIFY": "true"})
	s := ReadSettings(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ClientOpts(s, "test", slog.New(slog.NewJSONHandler(&buf, nil)))
	if out := buf.String(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "NOT verified") {
		t.Fatalf("no warning that certificates are not verified: %s", out)
	}
}

// A kfake cluster speaking SCRAM-SHA-512 over TLS: the right settings create a topic; each wrong
// one is refused at once, named.
func TestSCRAMOverTLSAndItsRefusals(t *testing.T) {
	p := newPKI(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server}}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "svc", "right-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0], "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": p.caFile,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "right-password"}
	with := func(changes map[string]string) map[string]string {
		m := maps.Clone(good)
		maps.Copy(m, changes)
		return m
	}
	tests := []struct {
		name        string
		give        map[string]string
		wantSetting string // "" for success
	}{
		{"right settings", good, ""},
		// A wrong password: kfake closes the connection where a real broker answers
		// SASL_AUTHENTICATION_FAILED; the e2e suite covers it on the real broker.
		{"system roots do not trust the broker", with(map[string]string{"KAFKA_TLS_CA_FILE": ""}), "KAFKA_TLS_CA_FILE"},
		{"server name not in the certificate", with(map[string]string{"KAFKA_TLS_SERVER_NAME": "kafka.example.com"}), "KAFKA_TLS_SERVER_NAME"},
		{"plaintext on the TLS port", with(map[string]string{"KAFKA_TLS": "", "KAFKA_TLS_CA_FILE": ""}), "KAFKA_TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cl := clientFromEnv(t, tt.give)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := EnsureTopics(ctx, cl, Settings{Brokers: s.Brokers, Partitions: 1, ReplicationFactor: 1, Security: s.Security},
				Topic{Name: "t", Need: []Op{Read, Write}})
			var refused *Refused
			switch {
			case tt.wantSetting == "" && err != nil:
				t.Fatalf("EnsureTopics: %v", err)
			case tt.wantSetting == "":
			case !errors.As(err, &refused):
				t.Fatalf("error %v, want a refusal naming %s", err, tt.wantSetting)
			case refused.Setting != tt.wantSetting:
				t.Fatalf("refusal %q names %s, want %s", refused, refused.Setting, tt.wantSetting)
			}
		})
	}
}

// clientFromEnv reads the settings from env and returns them with a client made from them,
// closed when the test ends.
func clientFromEnv(t *testing.T, env map[string]string) (Settings, *kgo.Client) {
	t.Helper()
	e := config.FromMap(env)
	s := ReadSettings(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(ClientOpts(s, "test", slog.New(slog.DiscardHandler))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return s, cl
}

// A principal allowed to read a topic but not to write it is refused at start, naming the topic
// and the operation; the group check names the group.
func TestAccessCheckNamesTheMissingACL(t *testing.T) {
	topicACL := func(op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "events", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser("PLAIN", "admin", "admin"),
		kfake.User("PLAIN", "reader", "pw", topicACL(kmsg.ACLOperationRead)), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, cl := clientFromEnv(t, map[string]string{"KAFKA_BROKERS": c.ListenAddrs()[0], "KAFKA_SASL_MECHANISM": "PLAIN",
		"KAFKA_SASL_USERNAME": "reader", "KAFKA_SASL_PASSWORD": "pw"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := EnsureTopics(ctx, cl, s, Topic{Name: "events", Need: []Op{Read}}); err != nil {
		t.Fatalf("reading an existing topic it may read (no create rights): %v", err)
	}
	_, err = EnsureTopics(ctx, cl, s, Topic{Name: "events", Need: []Op{Read, Write}})
	var refused *Refused
	if !errors.As(err, &refused) || refused.Setting != "ACL" || !strings.Contains(err.Error(), "WRITE topic events") {
		t.Fatalf("error %v, want an ACL refusal naming WRITE topic events", err)
	}
	err = CheckGroup(ctx, cl, s, "fwd")
	if !errors.As(err, &refused) || refused.Setting != "ACL" || !strings.Contains(err.Error(), "group fwd") {
		t.Fatalf("group check: %v, want an ACL refusal naming group fwd", err)
	}
}

// OAUTHBEARER fetches a token with the client credentials and reuses it until a minute before it
// expires; a token closer to its end is replaced on the next authentication.
func TestOAuthBearerRefreshesTheTokenBeforeExpiry(t *testing.T) {
	var fetches atomic.Int32
	var expiresIn atomic.Int32
	expiresIn.Store(3600)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "svc" || secret != "s3cret" || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		n := fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "token-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": expiresIn.Load()})
	}))
	defer idp.Close()
	env := config.FromMap(map[string]string{"KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_USERNAME": "svc",
		"KAFKA_SASL_PASSWORD": "s3cret", "KAFKA_SASL_OAUTH_TOKEN_URL": idp.URL, "KAFKA_SASL_OAUTH_EXTENSIONS": "logicalCluster=lkc-1"})
	s := ReadSettings(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	first := func() string {
		t.Helper()
		_, msg, err := s.Security.sasl.Authenticate(t.Context(), "127.0.0.1:9092")
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	if msg := first(); !strings.Contains(msg, "auth=Bearer token-1") || !strings.Contains(msg, "logicalCluster=lkc-1") {
		t.Fatalf("first message %q, want token-1 and the extension", msg)
	}
	if msg := first(); !strings.Contains(msg, "auth=Bearer token-1") || fetches.Load() != 1 {
		t.Fatalf("second message %q after %d fetches, want token-1 reused", msg, fetches.Load())
	}
	// The next token lives 30 s: inside the minute of early refresh, so it is replaced at once.
	expiresIn.Store(30)
	s = ReadSettings(config.FromMap(map[string]string{"KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_USERNAME": "svc",
		"KAFKA_SASL_PASSWORD": "s3cret", "KAFKA_SASL_OAUTH_TOKEN_URL": idp.URL}))
	first() // token-2, good for 30 s
	if msg := first(); !strings.Contains(msg, "auth=Bearer token-3") || fetches.Load() != 3 {
		t.Fatalf("message %q after %d fetches, want a fresh token (token-3) instead of one about to expire", msg, fetches.Load())
	}
	// A secret the endpoint refuses is a refusal naming the setting, not something to retry.
	s = ReadSettings(config.FromMap(map[string]string{"KAFKA_SASL_MECHANISM": "OAUTHBEARER", "KAFKA_SASL_USERNAME": "svc",
		"KAFKA_SASL_PASSWORD": "wrong", "KAFKA_SASL_OAUTH_TOKEN_URL": idp.URL}))
	_, _, err := s.Security.sasl.Authenticate(t.Context(), "127.0.0.1:9092")
	var refused *Refused
	if !errors.As(err, &refused) || refused.Setting != "KAFKA_SASL_OAUTH_TOKEN_URL" || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error %v, want a refusal naming KAFKA_SASL_OAUTH_TOKEN_URL without the secret", err)
	}
}

// AWS_MSK_IAM signs in with the AWS default credential chain: here its first link, the
// environment, and the region from the MSK broker's host name.
func TestMSKIAMSignsWithTheDefaultCredentialChain(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret-access-key")
	t.Setenv("AWS_SESSION_TOKEN", "example-session-token")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env := config.FromMap(map[string]string{"KAFKA_SASL_MECHANISM": "AWS_MSK_IAM", "KAFKA_TLS": "true"})
	s := ReadSettings(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	_, msg, err := s.Security.sasl.Authenticate(t.Context(), "b-1.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098")
	if err != nil {
		t.Fatal(err)
	}
	var signed map[string]string
	if err := json.Unmarshal(msg, &signed); err != nil {
		t.Fatalf("first message %s: %v", msg, err)
	}
	if cred := signed["x-amz-credential"]; !strings.HasPrefix(cred, "AKIAEXAMPLEKEYID0001/") || !strings.Contains(cred, "/eu-west-1/kafka-cluster/") {
		t.Errorf("x-amz-credential %q, want the environment's key id and the broker's region", cred)
	}
	if signed["x-amz-security-token"] != "example-session-token" || signed["x-amz-signature"] == "" {
		t.Errorf("signed message %v lacks the session token or the signature", signed)
	}
	if strings.Contains(string(msg), "example-secret-access-key") {
		t.Errorf("the secret key itself is sent")
	}
}

func TestExplainNamesTheSettingOrTheACL(t *testing.T) {
	scram := Settings{Brokers: []string{"b:9094"}, Security: Security{TLS: true, Mechanism: MechanismSCRAM512, Username: "ingress"}}
	plainText := Settings{Brokers: []string{"b:9094"}}
	tests := []struct {
		name string
		s    Settings
		give error
		want string // the Refused's setting; "" when err is passed on unchanged
	}{
		{"sasl failed", scram, kerr.SaslAuthenticationFailed, "KAFKA_SASL_PASSWORD"},
		{"mechanism not offered", scram, kerr.UnsupportedSaslMechanism, "KAFKA_SASL_MECHANISM"},
		{"unknown authority", scram, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "KAFKA_TLS_CA_FILE"},
		{"wrong host", scram, x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b"}, "KAFKA_TLS_SERVER_NAME"},
		{"broker refused the handshake", scram, errors.New("remote error: tls: bad certificate"), "KAFKA_TLS_CERT_FILE"},
		{"plaintext to tls", plainText, errors.New("invalid large response size 352518912 > limit 104857600; the first three bytes received appear to be a tls alert record for TLS v1.2; is this a plaintext connection speaking to a tls endpoint?"), "KAFKA_TLS"},
		{"tls to plaintext", scram, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "KAFKA_TLS"},
		{"topic acl", scram, kerr.TopicAuthorizationFailed, "ACL"},
		{"group acl", scram, kerr.GroupAuthorizationFailed, "ACL"},
		{"transactional id acl", scram, kerr.TransactionalIDAuthorizationFailed, "ACL"},
		{"anything else", scram, errors.New("i/o timeout"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Explain(tt.give, tt.s, "write topic events.raw")
			var refused *Refused
			switch {
			case tt.want == "" && err != tt.give:
				t.Fatalf("Explain changed %v into %v", tt.give, err)
			case tt.want == "":
			case !errors.As(err, &refused) || refused.Setting != tt.want:
				t.Fatalf("Explain(%v) = %v, want a refusal naming %s", tt.give, err, tt.want)
			case !errors.Is(err, tt.give):
				t.Fatalf("the refusal %v does not wrap %v", err, tt.give)
			}
		})
	}
}
