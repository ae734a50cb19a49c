package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Refused is a connection or request the cluster refused for a reason a setting or an ACL must
// fix; retrying does not help. Its message names the setting or the resource.
type Refused struct {
	// Setting is the variable to look at (KAFKA_SASL_PASSWORD, KAFKA_TLS_CA_FILE, ...), or "ACL".
	Setting string
	Reason  string
	Err     error
}

func (e *Refused) Error() string { return e.Setting + ": " + e.Reason }
func (e *Refused) Unwrap() error { return e.Err }

// Explain turns err, from a request to the cluster, into a Refused naming the setting or ACL to
// fix when it is one of those, and returns it unchanged otherwise. what names the request and its
// resource ("list topics events.raw", "join group adeventsx-forwarder").
func Explain(err error, s Settings, what string) error {
	if err == nil {
		return nil
	}
	var r *Refused
	if errors.As(err, &r) {
		return err
	}
	refused := func(setting, format string, args ...any) error {
		return &Refused{Setting: setting, Reason: fmt.Sprintf(format, args...), Err: err}
	}
	sec := s.Security
	who := "the client"
	if sec.Username != "" {
		who = fmt.Sprintf("user %q", sec.Username)
	} else if sec.CertFile != "" {
		who = "the certificate of KAFKA_TLS_CERT_FILE"
	}
	brokers := strings.Join(s.Brokers, ",")

	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var verifyErr *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var firstEOF *kgo.ErrFirstReadEOF
	msg := err.Error()
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return refused("KAFKA_SASL_PASSWORD", "the brokers at %s refused the %s login of %s: wrong KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD", brokers, sec.Mechanism, who)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return refused("KAFKA_SASL_MECHANISM", "the brokers at %s do not offer %s on this listener", brokers, orNone(sec.Mechanism, "(none)"))
	case errors.Is(err, kerr.IllegalSaslState):
		return refused("KAFKA_SASL_MECHANISM", "the brokers at %s refused the SASL exchange: does this listener use SASL?", brokers)
	case errors.As(err, &hostErr):
		return refused("KAFKA_TLS_SERVER_NAME", "the certificate of the broker at %s is not valid for %q: %v", brokers, hostErr.Host, hostErr)
	case errors.As(err, &unknownCA):
		return refused("KAFKA_TLS_CA_FILE", "the certificate of the broker at %s is not trusted by %s: %v", brokers, orNone(sec.CAFile, "the system's roots"), unknownCA)
	case errors.As(err, &verifyErr):
		return refused("KAFKA_TLS_CA_FILE", "the certificate of the broker at %s is not trusted by %s: %v", brokers, orNone(sec.CAFile, "the system's roots"), verifyErr.Err)
	case strings.Contains(msg, "remote error: tls:"):
		// The broker's side of the handshake failed: with mutual TLS, almost always our
		// certificate (missing, or signed by a CA the broker does not trust).
		alert := msg[strings.Index(msg, "remote error: tls:"):]
		if sec.CertFile == "" {
			return refused("KAFKA_TLS_CERT_FILE", "the broker at %s refused the TLS handshake (%s): this listener wants a client certificate (KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE)", brokers, alert)
		}
		return refused("KAFKA_TLS_CERT_FILE", "the broker at %s refused the client certificate %s (%s)", brokers, sec.CertFile, alert)
	case errors.As(err, &header), errors.As(err, &firstEOF) && sec.TLS && strings.Contains(msg, "after a dial"):
		return refused("KAFKA_TLS", "the broker at %s does not speak TLS on this port: set KAFKA_TLS=false or use the TLS listener's port", brokers)
	case strings.Contains(msg, "plaintext connection speaking to a tls endpoint"):
		return refused("KAFKA_TLS", "the broker at %s speaks TLS on this port but KAFKA_TLS is not true", brokers)
	case errors.As(err, &firstEOF):
		switch {
		case !sec.TLS:
			return refused("KAFKA_TLS", "the broker at %s closed the connection at the first request: this port expects TLS (KAFKA_TLS=true) or SASL (KAFKA_SASL_MECHANISM)", brokers)
		case sec.Mechanism == "":
			return refused("KAFKA_SASL_MECHANISM", "the broker at %s closed the connection at the first request: this listener expects SASL (KAFKA_SASL_MECHANISM), or a client certificate (KAFKA_TLS_CERT_FILE)", brokers)
		}
		return refused("KAFKA_SASL_MECHANISM", "the broker at %s closed the connection at the first request: check KAFKA_TLS and KAFKA_SASL_MECHANISM against this listener", brokers)
	case errors.Is(err, kerr.TopicAuthorizationFailed),
		errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return refused("ACL", "%s may not %s (%s); README \"Connecting to your cluster\" lists the ACLs each service needs", who, what, kerrName(err))
	}
	return err
}

func kerrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// IsRefused says whether err is a refusal that retrying will not fix.
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}
