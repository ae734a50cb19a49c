package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	kaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/martech/eventfwd/libs/config"
)

// The SASL mechanisms KAFKA_SASL_MECHANISM takes.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAM256    = "SCRAM-SHA-256"
	MechanismSCRAM512    = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
	MechanismMSKIAM      = "AWS_MSK_IAM"
)

// Security says how a client protects its connections (TLS) and who it is (SASL or a client
// certificate). The zero value is plaintext without authentication.
type Security struct {
	TLS                bool
	CAFile             string // empty: the system's roots
	CertFile, KeyFile  string // mutual TLS
	ServerName         string // empty: each broker's host name
	InsecureSkipVerify bool

	Mechanism    string // empty: no SASL
	Username     string
	PasswordFile string
	// TokenURL, Scopes and Extensions are OAUTHBEARER's: the client-credentials token endpoint
	// (client id and secret are the username and password) and the SASL extensions some clouds
	// want (Confluent Cloud's logicalCluster and identityPoolId).
	TokenURL   string
	Scopes     []string
	Extensions map[string]string

	password string
	tls      *tls.Config
	sasl     sasl.Mechanism
}

// LogValue names the mechanism and files, never the password.
func (s Security) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("tls", s.TLS)}
	if s.TLS {
		attrs = append(attrs, slog.String("tls_ca_file", orNone(s.CAFile, "(system roots)")),
			slog.String("tls_cert_file", orNone(s.CertFile, "(none)")))
		if s.ServerName != "" {
			attrs = append(attrs, slog.String("tls_server_name", s.ServerName))
		}
		if s.InsecureSkipVerify {
			attrs = append(attrs, slog.Bool("tls_insecure_skip_verify", true))
		}
	}
	attrs = append(attrs, slog.String("sasl_mechanism", orNone(s.Mechanism, "(none)")))
	switch s.Mechanism {
	case "", MechanismMSKIAM:
	case MechanismOAuthBearer:
		attrs = append(attrs, slog.String("sasl_client_id", s.Username), slog.String("sasl_oauth_token_url", s.TokenURL),
			slog.String("sasl_client_secret", config.Mask(s.password)))
	default:
		attrs = append(attrs, slog.String("sasl_username", s.Username), slog.String("sasl_password", config.Mask(s.password)))
	}
	return slog.GroupValue(attrs...)
}

func orNone(v, none string) string {
	if v == "" {
		return none
	}
	return v
}

// The security settings, declared once (see Vars); README.md's "Connecting to your cluster" says
// more about each.
var (
	tlsVar              = config.Bool("KAFKA_TLS", false, "true: TLS to the brokers (TLS 1.2 or newer)")
	tlsCAFileVar        = config.String("KAFKA_TLS_CA_FILE", "", "PEM file of the CA(s) that signed the brokers' certificates; unset: the system's roots")
	tlsCertFileVar      = config.String("KAFKA_TLS_CERT_FILE", "", "PEM client certificate, for mutual TLS (with KAFKA_TLS_KEY_FILE)")
	tlsKeyFileVar       = config.String("KAFKA_TLS_KEY_FILE", "", "PEM client key, for mutual TLS (with KAFKA_TLS_CERT_FILE)")
	tlsServerNameVar    = config.String("KAFKA_TLS_SERVER_NAME", "", "the name to verify the brokers' certificates against, when not their host names")
	tlsInsecureVar      = config.Bool("KAFKA_TLS_INSECURE_SKIP_VERIFY", false, "true turns certificate verification off (warned at every start); never in production")
	saslMechanismVar    = config.String("KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM; unset: none")
	saslUsernameVar     = config.String("KAFKA_SASL_USERNAME", "", "the user (PLAIN, SCRAM), or the OAuth2 client id (OAUTHBEARER)")
	saslPasswordVar     = config.String("KAFKA_SASL_PASSWORD", "", "its password or client secret (or KAFKA_SASL_PASSWORD_FILE)").Secret()
	saslPasswordFileVar = config.String("KAFKA_SASL_PASSWORD_FILE", "", "a file whose first line is the password or client secret (for mounted secrets)")
	oauthTokenURLVar    = config.String("KAFKA_SASL_OAUTH_TOKEN_URL", "", "OAUTHBEARER: the OAuth2 token endpoint (client-credentials grant)")
	oauthScopesVar      = config.List("KAFKA_SASL_OAUTH_SCOPES", nil, "OAUTHBEARER: scopes to ask for, comma-separated")
	oauthExtensionsVar  = config.List("KAFKA_SASL_OAUTH_EXTENSIONS", nil, "OAUTHBEARER: SASL extensions as key=value,key=value")
)

var securityVars = []config.Decl{tlsVar, tlsCAFileVar, tlsCertFileVar, tlsKeyFileVar, tlsServerNameVar, tlsInsecureVar,
	saslMechanismVar, saslUsernameVar, saslPasswordVar, saslPasswordFileVar, oauthTokenURLVar, oauthScopesVar, oauthExtensionsVar}

// readSecurity reads the KAFKA_TLS* and KAFKA_SASL_* variables, loads the files they name and
// builds the TLS configuration and SASL mechanism, recording each problem against its variable.
func readSecurity(env *config.Env) Security {
	s := Security{
		TLS:                tlsVar.Read(env),
		CAFile:             tlsCAFileVar.Read(env),
		CertFile:           tlsCertFileVar.Read(env),
		KeyFile:            tlsKeyFileVar.Read(env),
		ServerName:         tlsServerNameVar.Read(env),
		InsecureSkipVerify: tlsInsecureVar.Read(env),
		Mechanism:          strings.ToUpper(saslMechanismVar.Read(env)),
		Username:           saslUsernameVar.Read(env),
		PasswordFile:       saslPasswordFileVar.Read(env),
		TokenURL:           oauthTokenURLVar.Read(env),
		Scopes:             oauthScopesVar.Read(env),
	}
	if s.TLS {
		s.tls = buildTLS(env, s)
	} else {
		for _, set := range []struct{ name, value string }{{"KAFKA_TLS_CA_FILE", s.CAFile}, {"KAFKA_TLS_CERT_FILE", s.CertFile},
			{"KAFKA_TLS_KEY_FILE", s.KeyFile}, {"KAFKA_TLS_SERVER_NAME", s.ServerName}} {
			if set.value != "" {
				env.Fail(set.name, "is set but KAFKA_TLS is not true; set KAFKA_TLS=true to use TLS")
			}
		}
		if s.InsecureSkipVerify {
			env.Fail("KAFKA_TLS_INSECURE_SKIP_VERIFY", "is set but KAFKA_TLS is not true")
		}
	}
	s.password = readPassword(env, s.PasswordFile)
	s.Extensions = readExtensions(env)
	s.sasl = buildSASL(env, &s)
	return s
}

func buildTLS(env *config.Env, s Security) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		switch {
		case err != nil:
			env.Fail("KAFKA_TLS_CA_FILE", "cannot read %s: %v", s.CAFile, errors.Unwrap(err))
		default:
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				env.Fail("KAFKA_TLS_CA_FILE", "%s holds no PEM certificate", s.CAFile)
			}
		}
	}
	switch {
	case s.CertFile == "" && s.KeyFile == "":
	case s.CertFile == "":
		env.Fail("KAFKA_TLS_CERT_FILE", "is required with KAFKA_TLS_KEY_FILE (mutual TLS needs both)")
	case s.KeyFile == "":
		env.Fail("KAFKA_TLS_KEY_FILE", "is required with KAFKA_TLS_CERT_FILE (mutual TLS needs both)")
	default:
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			env.Fail("KAFKA_TLS_CERT_FILE", "cannot load the client certificate %s with key KAFKA_TLS_KEY_FILE %s: %v", s.CertFile, s.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// readPassword takes KAFKA_SASL_PASSWORD or the first line of KAFKA_SASL_PASSWORD_FILE.
func readPassword(env *config.Env, file string) string {
	inline := saslPasswordVar.Read(env)
	if file == "" {
		return inline
	}
	if inline != "" {
		env.Fail("KAFKA_SASL_PASSWORD_FILE", "and KAFKA_SASL_PASSWORD are both set; set one")
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		env.Fail("KAFKA_SASL_PASSWORD_FILE", "cannot read %s: %v", file, errors.Unwrap(err))
		return ""
	}
	pw := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	if pw == "" {
		env.Fail("KAFKA_SASL_PASSWORD_FILE", "%s is empty", file)
	}
	return pw
}

func readExtensions(env *config.Env) map[string]string {
	items := oauthExtensionsVar.Read(env)
	if len(items) == 0 {
		return nil
	}
	ext := make(map[string]string, len(items))
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			env.Fail("KAFKA_SASL_OAUTH_EXTENSIONS", "%q is not key=value", item)
			continue
		}
		ext[k] = v
	}
	return ext
}

func buildSASL(env *config.Env, s *Security) sasl.Mechanism {
	needCredentials := func(user, pass string) bool {
		ok := true
		if s.Username == "" {
			env.Fail("KAFKA_SASL_USERNAME", "is required with KAFKA_SASL_MECHANISM=%s (%s)", s.Mechanism, user)
			ok = false
		}
		if s.password == "" && s.PasswordFile == "" {
			env.Fail("KAFKA_SASL_PASSWORD", "is required, or KAFKA_SASL_PASSWORD_FILE, with KAFKA_SASL_MECHANISM=%s (%s)", s.Mechanism, pass)
			ok = false
		}
		return ok
	}
	if s.Mechanism != MechanismOAuthBearer {
		if s.TokenURL != "" {
			env.Fail("KAFKA_SASL_OAUTH_TOKEN_URL", "is only used with KAFKA_SASL_MECHANISM=OAUTHBEARER")
		}
	}
	switch s.Mechanism {
	case "":
		if s.Username != "" {
			env.Fail("KAFKA_SASL_USERNAME", "is set but KAFKA_SASL_MECHANISM is not; set the mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...)")
		}
		return nil
	case MechanismPlain:
		if !needCredentials("the user", "its password") {
			return nil
		}
		return plain.Auth{User: s.Username, Pass: s.password}.AsMechanism()
	case MechanismSCRAM256, MechanismSCRAM512:
		if !needCredentials("the user", "its password") {
			return nil
		}
		a := scram.Auth{User: s.Username, Pass: s.password}
		if s.Mechanism == MechanismSCRAM256 {
			return a.AsSha256Mechanism()
		}
		return a.AsSha512Mechanism()
	case MechanismOAuthBearer:
		if s.TokenURL == "" {
			env.Fail("KAFKA_SASL_OAUTH_TOKEN_URL", "is required with KAFKA_SASL_MECHANISM=OAUTHBEARER (the OAuth2 token endpoint)")
			return nil
		}
		if !needCredentials("the OAuth2 client id", "the client secret") {
			return nil
		}
		return oauthMechanism(s.TokenURL, s.Username, s.password, s.Scopes, s.Extensions)
	case MechanismMSKIAM:
		if !s.TLS {
			env.Fail("KAFKA_TLS", "must be true with KAFKA_SASL_MECHANISM=AWS_MSK_IAM (MSK's IAM listener is TLS only)")
		}
		if s.Username != "" || s.password != "" {
			env.Fail("KAFKA_SASL_USERNAME", "is not used with AWS_MSK_IAM, which takes the AWS default credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, an instance or task role)")
		}
		return mskIAMMechanism()
	default:
		env.Fail("KAFKA_SASL_MECHANISM", "%q is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM", s.Mechanism)
		return nil
	}
}

// oauthMechanism fetches tokens with the client-credentials grant. oauth2's reusable token source
// hands out the cached token until shortly before it expires and then fetches a new one, so each
// new connection, and each re-authentication the broker asks for (connections.max.reauth.ms),
// gets a fresh token.
func oauthMechanism(tokenURL, id, secret string, scopes []string, ext map[string]string) sasl.Mechanism {
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL, Scopes: scopes}
	var once sync.Once
	var src oauth2.TokenSource
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		once.Do(func() {
			// The token source keeps the context for later fetches: a background one, bounded per
			// request by the HTTP client's timeout.
			hc := &httpClient
			src = oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc)), time.Minute)
		})
		tok, err := src.Token()
		var answered *oauth2.RetrieveError
		switch {
		case errors.As(err, &answered):
			// The endpoint answered with an error: the client id or secret, or the endpoint
			// itself, is wrong; asking again will not help.
			return oauth.Auth{}, &Refused{Setting: "KAFKA_SASL_OAUTH_TOKEN_URL", Err: err,
				Reason: fmt.Sprintf("the token endpoint %s refused client %q (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD): %v", tokenURL, id, err)}
		case err != nil:
			return oauth.Auth{}, fmt.Errorf("KAFKA_SASL_OAUTH_TOKEN_URL: get a token from %s for client %s: %w", tokenURL, id, err)
		}
		return oauth.Auth{Token: tok.AccessToken, Extensions: ext}, nil
	})
}

// mskIAMMechanism signs in with the AWS default credential chain (environment, shared config and
// credentials files, web identity, ECS and EC2 roles), loaded on first use and refreshed by the
// SDK's credential cache.
func mskIAMMechanism() sasl.Mechanism {
	var once sync.Once
	var creds aws.CredentialsProvider
	var loadErr error
	return kaws.ManagedStreamingIAM(func(ctx context.Context) (kaws.Auth, error) {
		once.Do(func() {
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			creds, loadErr = cfg.Credentials, err
		})
		if loadErr != nil {
			return kaws.Auth{}, fmt.Errorf("AWS_MSK_IAM: load the AWS configuration: %w", loadErr)
		}
		if creds == nil {
			return kaws.Auth{}, errors.New("AWS_MSK_IAM: no AWS credentials found in the default chain")
		}
		c, err := creds.Retrieve(ctx)
		if err != nil {
			return kaws.Auth{}, fmt.Errorf("AWS_MSK_IAM: AWS credentials: %w", err)
		}
		return kaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
	})
}

// httpClient fetches OAuth2 tokens; a token endpoint that hangs must not hold a connection forever.
var httpClient = http.Client{Timeout: 10 * time.Second}

// securityOpts are the client options for s, and a warning logged when verification is off.
func securityOpts(s Security, log *slog.Logger) []kgo.Opt {
	var opts []kgo.Opt
	if s.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(s.tls.Clone()))
		if s.InsecureSkipVerify {
			log.Warn("KAFKA_TLS_INSECURE_SKIP_VERIFY is true: the brokers' certificates are NOT verified; anyone on the path can read and change the traffic")
		}
	}
	if s.sasl != nil {
		opts = append(opts, kgo.SASL(s.sasl))
	}
	return opts
}
