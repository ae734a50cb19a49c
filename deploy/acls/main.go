// Command kafka-acls grants each eventfwd service the Kafka ACLs it needs and nothing more (the
// README's table, "Connecting to your cluster"). It connects like the services do (KAFKA_BROKERS,
// KAFKA_TLS*, KAFKA_SASL_*), as a principal allowed to alter ACLs, and takes the topic and group
// names from the same variables as the services (EVENTS_TOPIC, DLQ_TOPIC, DEDUPE_TOPIC,
// CONSUMER_GROUP).
//
//	kafka-acls -ingress User:ingress -forwarder User:forwarder -dlq User:dlq [-allow-create] [-dry-run]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/martech/eventfwd/libs/config"
	"github.com/martech/eventfwd/libs/kafka"
)

// grant is one ACL: principal may do ops on a resource.
type grant struct {
	principal string
	resource  kmsg.ACLResourceType
	pattern   kadm.ACLPattern
	name      string
	ops       []kadm.ACLOperation
}

func (g grant) String() string {
	kind := map[kmsg.ACLResourceType]string{kmsg.ACLResourceTypeTopic: "topic", kmsg.ACLResourceTypeGroup: "group",
		kmsg.ACLResourceTypeTransactionalId: "transactional id"}[g.resource]
	if g.pattern == kadm.ACLPatternPrefixed {
		kind += " prefix"
	}
	return fmt.Sprintf("%-16s %-24s %-28s %v", g.principal, kind, g.name, g.ops)
}

// names are the topics and groups the grants are about.
type names struct {
	events, dlq, delivered, group, replayPrefix string
}

// grants lists what each service does: the ingress writes events; the forwarder reads them,
// re-publishes misplaced copies, dead-letters and writes and reads its markers in its group;
// dlq reads the DLQ and replays into the events topic in transactions named dlq-replay-<name>,
// whose position is the group of the same name, and keeps its ledger in <DLQ topic>.replays.
// DESCRIBE comes with READ and WRITE.
func grants(n names, ingress, forwarder, dlq string, allowCreate bool) []grant {
	topic := func(p, name string, ops ...kadm.ACLOperation) grant {
		return grant{p, kmsg.ACLResourceTypeTopic, kadm.ACLPatternLiteral, name, ops}
	}
	var out []grant
	if ingress != "" {
		out = append(out, topic(ingress, n.events, kadm.OpWrite))
	}
	if forwarder != "" {
		out = append(out,
			topic(forwarder, n.events, kadm.OpRead, kadm.OpWrite),
			topic(forwarder, n.dlq, kadm.OpWrite),
			topic(forwarder, n.delivered, kadm.OpRead, kadm.OpWrite),
			grant{forwarder, kmsg.ACLResourceTypeGroup, kadm.ACLPatternLiteral, n.group, []kadm.ACLOperation{kadm.OpRead}})
	}
	if dlq != "" {
		out = append(out,
			topic(dlq, n.dlq, kadm.OpRead),
			topic(dlq, n.events, kadm.OpWrite),
			topic(dlq, n.dlq+".replays", kadm.OpRead, kadm.OpWrite),
			grant{dlq, kmsg.ACLResourceTypeGroup, kadm.ACLPatternPrefixed, n.replayPrefix, []kadm.ACLOperation{kadm.OpRead}},
			grant{dlq, kmsg.ACLResourceTypeTransactionalId, kadm.ACLPatternPrefixed, n.replayPrefix, []kadm.ACLOperation{kadm.OpWrite}})
	}
	if allowCreate {
		// Only for services that create their topics at start; with the topics made beforehand
		// none of this is needed.
		if ingress != "" {
			out = append(out, topic(ingress, n.events, kadm.OpCreate))
		}
		if forwarder != "" {
			out = append(out, topic(forwarder, n.events, kadm.OpCreate), topic(forwarder, n.dlq, kadm.OpCreate),
				topic(forwarder, n.delivered, kadm.OpCreate))
		}
		if dlq != "" {
			out = append(out, topic(dlq, n.dlq+".replays", kadm.OpCreate))
		}
	}
	return out
}

// settings are every variable kafka-acls reads: it connects like the services and takes the
// topic and group names from their variables. README.md lists them (main_test.go checks).
var settings = config.NewSet("kafka-acls", "", kafka.Vars...).Add(kafka.EventsTopicVar, kafka.DLQTopicVar,
	kafka.DedupeTopicVar, kafka.GroupVar, config.LogLevelVar.WithDefault("warn"), config.LogFormatVar.WithDefault("text"))

func main() {
	if err := run(context.Background(), os.Args[1:], settings.FromOS(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-acls:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, env *config.Env, out io.Writer) error {
	fs := flag.NewFlagSet("kafka-acls", flag.ContinueOnError)
	ingress := fs.String("ingress", "", "the ingress's principal, e.g. User:ingress")
	forwarder := fs.String("forwarder", "", "the forwarder's principal")
	dlq := fs.String("dlq", "", "the dlq tool's principal")
	allowCreate := fs.Bool("allow-create", false, "also allow the services to create their topics at start")
	dryRun := fs.Bool("dry-run", false, "print the ACLs, change nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kafka-acls -ingress User:ingress -forwarder User:forwarder -dlq User:dlq [-allow-create] [-dry-run]")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nEnvironment:\n"+settings.EnvUsage())
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := kafka.ReadSettings(env)
	n := names{
		events:       kafka.EventsTopicVar.Read(env),
		dlq:          kafka.DLQTopicVar.Read(env),
		delivered:    kafka.DedupeTopicVar.Read(env),
		group:        kafka.GroupVar.Read(env),
		replayPrefix: "dlq-replay-",
	}
	logging := config.ReadLogging(env)
	if err := env.Err(); err != nil {
		return err
	}
	if *ingress == "" && *forwarder == "" && *dlq == "" {
		return fmt.Errorf("name at least one principal: -ingress, -forwarder, -dlq")
	}
	gs := grants(n, *ingress, *forwarder, *dlq, *allowCreate)
	for _, g := range gs {
		fmt.Fprintln(out, g)
	}
	if *dryRun {
		return nil
	}
	log := logging.Logger(os.Stderr, "")
	cl, err := kgo.NewClient(kafka.ClientOpts(s, "kafka-acls", log)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b := kadm.NewACLs()
	for _, g := range gs {
		b = b.Allow(g.principal).AllowHosts("*")
		b.Operations(g.ops...).ResourcePatternType(g.pattern)
		switch g.resource {
		case kmsg.ACLResourceTypeTopic:
			b.Topics(g.name)
		case kmsg.ACLResourceTypeGroup:
			b.Groups(g.name)
		case kmsg.ACLResourceTypeTransactionalId:
			b.TransactionalIDs(g.name)
		}
		results, err := kadm.NewClient(cl).CreateACLs(ctx, b)
		if err != nil {
			return kafka.Explain(err, s, "create ACLs")
		}
		for _, r := range results {
			if r.Err != nil {
				return kafka.Explain(fmt.Errorf("%s: %w", g, r.Err), s, "create ACLs (alter on the cluster)")
			}
		}
		b = kadm.NewACLs()
	}
	fmt.Fprintf(out, "created %d ACLs\n", len(gs))
	return nil
}
