package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/deadletter"
	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/services/dlq/internal/replay"
)

// common are the flags every command has; empty means "from the environment".
type common struct {
	brokers     string
	dlqTopic    string
	eventsTopic string
	timeout     time.Duration
}

func (c *common) register(fs *flag.FlagSet, withEvents bool) {
	fs.StringVar(&c.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default $KAFKA_BROKERS, else 127.0.0.1:9092)")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "the dead-letter topic (default $DLQ_TOPIC, else events.dlq)")
	if withEvents {
		fs.StringVar(&c.eventsTopic, "events-topic", "", "the topic replayed records go to (default $EVENTS_TOPIC, else events.raw)")
	}
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to try to reach Kafka before giving up with exit code 3")
}

// Environment are the variables dlq reads, declared once: its -h, README table and tests derive
// from them. EVENT_NAMES and MAX_RECORD_BYTES are the forwarder's: set them as it has them. The
// Kafka client's log is off unless LOG_LEVEL asks for it: what the operator needs is in the
// command's own output and error.
var Environment = config.NewSet("dlq", "", kafka.Vars...).Add(kafka.DLQTopicVar, kafka.EventsTopicVar,
	event.NamesVar, deadletter.MaxRecordBytesVar, txnTimeoutVar, config.LogLevelVar.WithDefault("off"),
	config.LogFormatVar.WithDefault("text"))

// txnTimeoutVar is replay's; every command reads it, so a bad value stops any of them.
var txnTimeoutVar = config.Duration("REPLAY_TRANSACTION_TIMEOUT", replay.DefaultTransactionTimeout, time.Second, time.Minute,
	"how long the broker lets a replay batch's transaction stay open before aborting it (--transaction-timeout); a killed replay's open transaction holds the forwarder's reads of the partitions it wrote to until then")

// Settings are a command's resolved settings.
type Settings struct {
	Kafka       kafka.Settings
	DLQTopic    string
	EventsTopic string
	Names       event.Names
	// MaxRecordBytes is the forwarder's MAX_RECORD_BYTES: replay holds back larger records.
	MaxRecordBytes int
	// TransactionTimeout is REPLAY_TRANSACTION_TIMEOUT; replay's --transaction-timeout wins.
	TransactionTimeout time.Duration
	Timeout            time.Duration
	Log                *slog.Logger
}

// settings reads the environment and lets the flags win; the error names the variable or flag.
func (c common) settings(std IO) (Settings, error) {
	env := std.Env
	s := Settings{
		Kafka:              kafka.ReadSettings(env),
		DLQTopic:           kafka.DLQTopicVar.Read(env),
		EventsTopic:        kafka.EventsTopicVar.Read(env),
		Names:              event.NewNames(event.NamesVar.Read(env)...),
		MaxRecordBytes:     deadletter.MaxRecordBytesVar.Read(env),
		TransactionTimeout: txnTimeoutVar.Read(env),
		Timeout:            c.timeout,
		Log:                config.ReadLogging(env).Logger(std.Stderr, ""),
	}
	if err := env.Err(); err != nil {
		return Settings{}, &Error{Code: ExitUsage, Err: err}
	}
	if c.brokers != "" {
		s.Kafka.Brokers = nil
		for _, b := range strings.Split(c.brokers, ",") {
			b = strings.TrimSpace(b)
			if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
				return Settings{}, exitErr(ExitUsage, "--brokers: %q is not host:port", b)
			}
			s.Kafka.Brokers = append(s.Kafka.Brokers, b)
		}
	}
	if c.dlqTopic != "" {
		s.DLQTopic = c.dlqTopic
	}
	if c.eventsTopic != "" {
		s.EventsTopic = c.eventsTopic
	}
	if s.Timeout <= 0 {
		return Settings{}, exitErr(ExitUsage, "--timeout: %s is not a positive duration", s.Timeout)
	}
	return s, nil
}

// Opts are the base client options of every client of a command.
func (s Settings) Opts() []kgo.Opt { return kafka.ClientOpts(s.Kafka, "dlq", s.Log) }

// connect opens a client and checks, within the timeout, that the cluster answers.
func connect(ctx context.Context, s Settings) (*kgo.Client, error) {
	cl, err := kgo.NewClient(s.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := kafka.Explain(err, s.Kafka, "connect"); kafka.IsRefused(err) {
			return nil, exitErr(ExitUnreachable, "%v", err)
		}
		return nil, exitErr(ExitUnreachable, "cannot reach Kafka at %s within %s: %v",
			strings.Join(s.Kafka.Brokers, ","), s.Timeout, err)
	}
	return cl, nil
}

// partitions checks that topic exists and returns its partition count. what says which setting
// names it, for the message.
func partitions(ctx context.Context, adm *kadm.Client, s Settings, topic, what string) (int, error) {
	tctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	topics, err := adm.ListTopics(tctx, topic)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, kafka.Explain(fmt.Errorf("describe topic %s: %w", topic, err), s.Kafka, "describe topic "+topic)
	}
	d, ok := topics[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return 0, exitErr(ExitNoTopic, "topic %s does not exist on %s (set by %s)", topic, strings.Join(s.Kafka.Brokers, ","), what)
	}
	if d.Err != nil {
		return 0, kafka.Explain(fmt.Errorf("describe topic %s: %w", topic, d.Err), s.Kafka, "describe topic "+topic)
	}
	return len(d.Partitions), nil
}

// checkPartition is a bad filter when --partition names a partition the topic does not have.
func checkPartition(p int32, count int, topic string) error {
	if p >= int32(count) {
		return exitErr(ExitUsage, "--partition %d: %s has partitions 0..%d", p, topic, count-1)
	}
	return nil
}
