// Package kafka holds the Kafka client setup the services share: connection settings read from the
// environment, base client options, and creating the topics a service needs at start.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/martech/eventfwd/libs/config"
)

// Default topic names (CONTRACT.md).
const (
	DefaultEventsTopic = "events.raw"
	DefaultDLQTopic    = "events.dlq"
)

// Settings says how to reach the cluster and how to create missing topics.
type Settings struct {
	Brokers           []string
	Partitions        int32
	ReplicationFactor int16
	// MinInsyncReplicas is min.insync.replicas of created topics; 0 leaves the broker's default.
	MinInsyncReplicas int
	Security          Security
}

// The connection and topic-creation settings every binary with a Kafka client reads, declared
// once; each binary's config.Set includes Vars (and EventsTopicVar, DLQTopicVar if it reads them).
var (
	BrokersVar     = config.Brokers("KAFKA_BROKERS", []string{"127.0.0.1:9092"}, "Kafka bootstrap brokers, comma-separated host:port")
	PartitionsVar  = config.Int("TOPIC_PARTITIONS", 6, 1, 10000, "partitions of a topic created at start")
	ReplicationVar = config.Int("TOPIC_REPLICATION_FACTOR", 1, 1, 32, "replication factor of a topic created at start")
	MinInsyncVar   = config.Int("TOPIC_MIN_INSYNC_REPLICAS", 0, 1, 32, "min.insync.replicas of a topic created at start; unset: the broker's")
	EventsTopicVar = config.String("EVENTS_TOPIC", DefaultEventsTopic, "the events topic")
	DLQTopicVar    = config.String("DLQ_TOPIC", DefaultDLQTopic, "the dead-letter topic")
	// The forwarder's marker topic and group, which kafka-acls grants rights on too.
	DedupeTopicVar = config.String("DEDUPE_TOPIC", "events.delivered", "compacted topic of the forwarder's delivered markers")
	GroupVar       = config.String("CONSUMER_GROUP", "adeventsx-forwarder", "the forwarder's consumer group")
)

// Vars are the settings ReadSettings reads (security.go's included), and the Kafka client's log level.
var Vars = append([]config.Decl{BrokersVar, PartitionsVar, ReplicationVar, MinInsyncVar}, append(securityVars, config.KafkaLogLevelVar)...)

// ReadSettings reads KAFKA_BROKERS, the KAFKA_TLS* and KAFKA_SASL_* security settings,
// TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR and TOPIC_MIN_INSYNC_REPLICAS. Files the settings
// name (CA, client certificate, password) are read here, so a bad one stops the binary at start.
func ReadSettings(env *config.Env) Settings {
	s := Settings{
		Brokers:           BrokersVar.Read(env),
		Partitions:        int32(PartitionsVar.Read(env)),
		ReplicationFactor: int16(ReplicationVar.Read(env)),
		MinInsyncReplicas: MinInsyncVar.Read(env),
		Security:          readSecurity(env),
	}
	if s.MinInsyncReplicas > int(s.ReplicationFactor) {
		env.Fail("TOPIC_MIN_INSYNC_REPLICAS", "%d is above TOPIC_REPLICATION_FACTOR %d: no write could ever succeed",
			s.MinInsyncReplicas, s.ReplicationFactor)
	}
	return s
}

// ClientOpts returns the options every client of ours starts from: the seed brokers, TLS and SASL
// as the settings say, a client id and franz-go's own logging routed to slog, at the level of
// log's handler (with a handler from config.Logging, KAFKA_LOG_LEVEL: the logger gets the
// component config.KafkaComponent). It logs how the client connects (the mechanism, never a secret).
func ClientOpts(s Settings, clientID string, log *slog.Logger) []kgo.Opt {
	log.Info("kafka client", "client_id", clientID, "brokers", strings.Join(s.Brokers, ","), "security", s.Security)
	return append([]kgo.Opt{
		kgo.SeedBrokers(s.Brokers...),
		kgo.ClientID(clientID),
		kgo.WithLogger(kslog.New(log.With("component", config.KafkaComponent))),
		kgo.RetryTimeout(30 * time.Second),
	}, securityOpts(s.Security, log)...)
}

// Topic is a topic a service needs.
type Topic struct {
	Name string
	// Partitions overrides Settings.Partitions when set.
	Partitions int32
	Configs    map[string]*string
	// Need are the operations the service will perform on the topic (Read, Write). EnsureTopics
	// checks that the cluster allows them, so that a missing ACL stops the service at start with
	// a line naming the topic instead of failing each request later.
	Need []Op
}

// Op is an operation an ACL allows.
type Op = kmsg.ACLOperation

// The operations services need on topics and groups.
const (
	Read  Op = kmsg.ACLOperationRead
	Write Op = kmsg.ACLOperationWrite
)

// EnsureTopics creates the topics that do not exist yet and returns each topic's partition count,
// once the brokers show every created one ready to use. An existing topic is left as it is: no
// create rights are needed when every topic exists. It then checks each topic's Need, and warns
// (through the client's logger) about topics that one broker's loss would stop. Errors a setting
// or an ACL must fix are a *Refused naming it.
func EnsureTopics(ctx context.Context, cl *kgo.Client, s Settings, topics ...Topic) (map[string]int32, error) {
	adm := kadm.NewClient(cl) // a view of cl: closing cl is the caller's
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		if err := Explain(err, s, "describe topics "+strings.Join(names, ", ")); IsRefused(err) {
			return nil, err
		}
		return nil, fmt.Errorf("list topics on %s: %w", strings.Join(s.Brokers, ","), err)
	}
	counts := make(map[string]int32, len(topics))
	created := map[string]int32{}
	for _, t := range topics {
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			counts[t.Name] = int32(len(d.Partitions))
			continue
		}
		parts := t.Partitions
		if parts == 0 {
			parts = s.Partitions
		}
		configs := t.Configs
		if s.MinInsyncReplicas > 0 {
			configs = maps.Clone(configs)
			if configs == nil {
				configs = map[string]*string{}
			}
			configs["min.insync.replicas"] = kmsg.StringPtr(strconv.Itoa(s.MinInsyncReplicas))
		}
		resp, err := adm.CreateTopic(ctx, parts, s.ReplicationFactor, configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			// Another instance created it between our list and our create, with its own
			// partition count; it may be as new to the brokers as one of ours.
			created[t.Name] = anyCount
			continue
		}
		if err != nil {
			if err := Explain(err, s, "create topic "+t.Name+" (create it beforehand, or allow CREATE)"); IsRefused(err) {
				return nil, err
			}
			return nil, fmt.Errorf("create topic %s (%d partitions, replication factor %d): %w",
				t.Name, parts, s.ReplicationFactor, err)
		}
		counts[t.Name] = parts
		created[t.Name] = parts
	}
	details, err := waitUsable(ctx, metadataNow(cl), servedNow(cl), created)
	if err != nil {
		return nil, err
	}
	for name, n := range created {
		if n == anyCount {
			counts[name] = int32(len(details[name].Partitions))
		}
	}
	if err := checkAccess(ctx, cl, s, topics); err != nil {
		return nil, err
	}
	warnFragile(ctx, cl, names)
	return counts, nil
}

// anyCount, as the partitions waitUsable wants, takes any number of them but none.
const anyCount = 0

// waitUsable waits until the brokers' metadata shows each topic in want with its number of
// partitions, every one of them led, and the leaders serve them (serve). The controller
// acknowledges a CreateTopics before the brokers have applied it, so a request right after it (a
// ListOffsets, a fetch, a produce) can meet UNKNOWN_TOPIC_OR_PARTITION; a loaded machine showed a
// 150 ms gap. A produce that meets it waits for franz-go's next metadata refresh, up to 5 s.
func waitUsable(ctx context.Context, list func(context.Context, ...string) (kadm.TopicDetails, error),
	serve func(context.Context, kadm.TopicDetails) error, want map[string]int32) (kadm.TopicDetails, error) {
	if len(want) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	var last error
	var details kadm.TopicDetails
	check := func() error {
		var err error
		details, err = list(ctx, names...)
		if err != nil {
			last = err
			return err
		}
		for name, n := range want {
			if err := usable(details[name], n); err != nil {
				last = fmt.Errorf("topic %s: %w", name, err)
				return last
			}
		}
		// The metadata can name a leader before that broker serves the partition.
		if err := serve(ctx, details); err != nil {
			last = err
			return err
		}
		return nil
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(10*time.Millisecond),
		backoff.WithMaxInterval(500*time.Millisecond), backoff.WithMaxElapsedTime(0))
	err := backoff.Retry(check, backoff.WithContext(b, ctx))
	if err != nil && err != last && last != nil {
		err = fmt.Errorf("%w; last seen: %w", err, last)
	}
	if err != nil {
		return nil, fmt.Errorf("created topics %v not visible on the brokers in time: %w", names, err)
	}
	return details, nil
}

// metadataNow lists topics with a metadata request of its own. kadm's ListTopics answers from
// the client's metadata cache, which keeps "unknown topic" for MetadataMinAge (5 s) after the
// lookup that found the topic missing.
func metadataNow(cl *kgo.Client) func(context.Context, ...string) (kadm.TopicDetails, error) {
	return func(ctx context.Context, names ...string) (kadm.TopicDetails, error) {
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range names {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, t)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		details := kadm.TopicDetails{}
		for _, t := range resp.Topics {
			if t.Topic == nil {
				continue
			}
			d := kadm.TopicDetail{Topic: *t.Topic, Err: kerr.ErrorForCode(t.ErrorCode), Partitions: kadm.PartitionDetails{}}
			for _, p := range t.Partitions {
				d.Partitions[p.Partition] = kadm.PartitionDetail{Topic: *t.Topic, Partition: p.Partition,
					Leader: p.Leader, Err: kerr.ErrorForCode(p.ErrorCode)}
			}
			details[*t.Topic] = d
		}
		return details, nil
	}
}

// servedNow asks each partition's leader, in a ListOffsets request of its own (no client cache),
// for the partition's end: an error says a leader does not serve it yet.
func servedNow(cl *kgo.Client) func(context.Context, kadm.TopicDetails) error {
	return func(ctx context.Context, details kadm.TopicDetails) error {
		byLeader := map[int32]*kmsg.ListOffsetsRequest{}
		for name, d := range details {
			for _, p := range d.Partitions {
				req := byLeader[p.Leader]
				if req == nil {
					req = kmsg.NewPtrListOffsetsRequest()
					req.ReplicaID = -1
					byLeader[p.Leader] = req
				}
				i := slices.IndexFunc(req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return t.Topic == name })
				if i < 0 {
					t := kmsg.NewListOffsetsRequestTopic()
					t.Topic = name
					req.Topics = append(req.Topics, t)
					i = len(req.Topics) - 1
				}
				part := kmsg.NewListOffsetsRequestTopicPartition()
				part.Partition = p.Partition
				part.Timestamp = -1 // the end
				req.Topics[i].Partitions = append(req.Topics[i].Partitions, part)
			}
		}
		for leader, req := range byLeader {
			resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
			if err != nil {
				return fmt.Errorf("list offsets on broker %d: %w", leader, err)
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						return fmt.Errorf("topic %s partition %d on broker %d: %w", t.Topic, p.Partition, leader, err)
					}
				}
			}
		}
		return nil
	}
}

// usable says what keeps a topic's metadata from showing it ready, or nil.
func usable(d kadm.TopicDetail, partitions int32) error {
	if d.Err != nil {
		return d.Err
	}
	if len(d.Partitions) == 0 {
		return errors.New("no partitions known yet")
	}
	if partitions != anyCount && int32(len(d.Partitions)) != partitions {
		return fmt.Errorf("%d of %d partitions known", len(d.Partitions), partitions)
	}
	for _, p := range d.Partitions {
		if p.Err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, p.Err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader yet", p.Partition)
		}
	}
	return nil
}

// Ping asks the cluster for its metadata; readiness checks use it.
func Ping(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}
