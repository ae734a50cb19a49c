package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// unknownOps is the authorized-operations value of a broker that did not say (older brokers,
// kfake).
const unknownOps = math.MinInt32

// checkAccess asks the cluster which operations it allows us on each topic with a Need (a
// metadata request with IncludeTopicAuthorizedOperations) and refuses when one is missing.
func checkAccess(ctx context.Context, cl *kgo.Client, s Settings, topics []Topic) error {
	req := kmsg.NewPtrMetadataRequest()
	req.IncludeTopicAuthorizedOperations = true
	need := map[string][]Op{}
	for _, t := range topics {
		if len(t.Need) == 0 {
			continue
		}
		need[t.Name] = t.Need
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t.Name)
		req.Topics = append(req.Topics, rt)
	}
	if len(need) == 0 {
		return nil
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("check access: %w", Explain(err, s, "describe topics"))
	}
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return Explain(fmt.Errorf("topic %s: %w", name, err), s, "describe topic "+name)
		}
		if t.AuthorizedOperations == unknownOps {
			continue
		}
		if err := allowed(t.AuthorizedOperations, need[name], s, "topic "+name); err != nil {
			return err
		}
	}
	return nil
}

// allowed refuses when ops (a bit per operation) lacks one of need.
func allowed(ops int32, need []Op, s Settings, resource string) error {
	var missing []string
	for _, op := range need {
		if ops&(1<<int(op)) == 0 {
			missing = append(missing, op.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return Explain(fmt.Errorf("%s: %w", resource, kerr.TopicAuthorizationFailed), s,
		strings.Join(missing, " and ")+" "+resource)
}

// CheckGroup refuses, naming the group, when the cluster does not allow us to read (join and
// commit in) the consumer group. The group need not exist yet.
// A group coordinator still loading (a new cluster creating __consumer_offsets) is waited for.
func CheckGroup(ctx context.Context, cl *kgo.Client, s Settings, group string) error {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	req.IncludeAuthorizedOperations = true
	var resp *kmsg.DescribeGroupsResponse
	check := func() error {
		var err error
		resp, err = req.RequestWith(ctx, cl)
		if err == nil && len(resp.Groups) == 1 {
			err = kerr.ErrorForCode(resp.Groups[0].ErrorCode)
			// Newer brokers say so of a group that does not exist yet, once they found us
			// allowed to describe it; its authorized operations are then unknown.
			if errors.Is(err, kerr.GroupIDNotFound) {
				resp.Groups[0].AuthorizedOperations = unknownOps
				err = nil
			}
		}
		if err != nil && !kerr.IsRetriable(err) {
			return backoff.Permanent(err)
		}
		return err
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(time.Second), backoff.WithMaxElapsedTime(0))
	if err := backoff.Retry(check, backoff.WithContext(b, ctx)); err != nil {
		return Explain(fmt.Errorf("describe group %s: %w", group, err), s, "READ group "+group)
	}
	for _, g := range resp.Groups {
		if g.AuthorizedOperations == unknownOps {
			continue
		}
		if g.AuthorizedOperations&(1<<int(Read)) == 0 {
			return Explain(fmt.Errorf("group %s: %w", group, kerr.GroupAuthorizationFailed), s, "READ group "+group)
		}
	}
	return nil
}

// warnFragile logs a warning for each topic that a multi-broker cluster keeps on one replica, or
// acknowledges acks=all writes of with one in-sync replica (min.insync.replicas=1): the loss of a
// single broker then stops the topic, or can lose acknowledged records. Best effort: a principal
// without DESCRIBE_CONFIGS on a topic simply gets no min.insync.replicas check.
func warnFragile(ctx context.Context, cl *kgo.Client, topics []string) {
	logger, _ := cl.OptValue(kgo.WithLogger).(kgo.Logger)
	if logger == nil || len(topics) == 0 {
		return
	}
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, topics...)
	if err != nil || len(md.Brokers) < 2 {
		return
	}
	replicas := map[string]int{} // the topics with more than one replica
	for _, name := range topics {
		d, ok := md.Topics[name]
		if !ok || d.Err != nil {
			continue
		}
		if rf := d.Partitions.NumReplicas(); rf > 1 {
			replicas[name] = rf
			continue
		}
		logger.Log(kgo.LogLevelWarn, "topic has one replica on a multi-broker cluster: losing one broker stops it; TOPIC_REPLICATION_FACTOR sets it for created topics",
			"topic", name, "brokers", len(md.Brokers))
	}
	if len(replicas) == 0 {
		return
	}
	rc, err := adm.DescribeTopicConfigs(ctx, slices.Sorted(maps.Keys(replicas))...)
	if err != nil {
		return
	}
	for _, c := range rc {
		if c.Err != nil {
			continue
		}
		for _, kv := range c.Configs {
			if kv.Key == "min.insync.replicas" && kv.MaybeValue() == "1" {
				logger.Log(kgo.LogLevelWarn, "topic has min.insync.replicas=1 on a multi-broker cluster: an acks=all write can be acknowledged by one broker alone and lost with it; TOPIC_MIN_INSYNC_REPLICAS sets it for created topics",
					"topic", c.Name, "replication_factor", replicas[c.Name])
			}
		}
	}
}
