package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
	"github.com/martech/eventfwd/services/dlq/internal/output"
	"github.com/martech/eventfwd/services/dlq/internal/replay"
)

const replayAbout = `dlq replay --name NAME [filters] [flags]: re-publishes the DLQ records the filters select to
the events topic, with their key, value and headers, dlq.replay_count one higher and
dlq.replayed_at, dlq.replayed_from (topic/partition/offset in the DLQ) and dlq.replay_name added.
The forwarder takes them like any event: one it already delivered is not delivered again (dedupe),
one it did not deliver is.

Resumable: the replay's position is the consumer group dlq-replay-NAME, moved by Kafka
transactions (transactional id dlq-replay-NAME) that also carry the records sent, so an
interrupted or killed replay never sends the same DLQ record twice: run it again with the same
--name and it continues after its last committed batch. It stops at the end the DLQ had when it
started. Every record it looks at moves the position, also those the filters leave out or that are
held back or capped: a name stands for one selection; for another selection use another name.
--partition limits the replay to one partition; the others keep their position; with
--from-offset the records before it are passed over, and the replay warns first.

Order: partition after partition (lowest first), each in offset order; a dry run reads the same
way, so --dry-run --max N shows exactly the N records the replay then sends.

Transactions are sized by the records they send (--batch), not by those looked at; one also
ends a second after its first send. REPLAY_TRANSACTION_TIMEOUT (--transaction-timeout, 5s) is
how long a killed run's open transaction can hold the forwarder's reads back.

Ledger: each committed batch also writes its counts and the records it held back or capped to
the topic <DLQ topic>.replays, in its transaction: the summary adds up every run of the name,
and --held-by NAME[:held-old] selects what it held back, once its position is past them.

Copies: a record the forwarder dead-lettered twice (same dlq.source_* and key) is sent once;
the other copies are skipped, also those an earlier run of the name selected within the 10000
records before its position.

Not sent, and reported: records with dlq.replay_count at or above --max-replays (skipped), and,
unless --force: records that are not a valid event for the forwarder (held-invalid, judged with
EVENT_NAMES) and records whose event_time is older than --max-age (held-old; AdEventsX refuses
events older than about 7 days). Never sent, even with --force: records over MAX_RECORD_BYTES,
key, value and headers counted, or dead-lettered without their payload for that (dlq.omitted)
(held-too-large; the forwarder would dead-letter them again).

--dry-run changes nothing (no record written, no group or transaction used): it lists what would
be sent, from the position of --name if given, else from the start, with what the forwarder's
transform would make of each record; table, or with --output json one object per line on stdout
(the summary then goes to stderr).

A progress bar with an ETA is drawn on stderr when it is a terminal, a plain line every 5s
otherwise (records looked at, selected, sent with the send rate, held back); the summary goes to
stdout and says why the run stopped.`

// minCoordinatorWait is the least time a replay waits for its group's coordinator (a variable
// for tests).
var minCoordinatorWait = 30 * time.Second

func runReplay(ctx context.Context, args []string, std IO) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var c common
	c.register(fs, true)
	var spec filter.Spec
	spec.Register(fs)
	var (
		name       = fs.String("name", "", "the replay's name (letters, digits, . _ -): its position is kept under it (required, except with --dry-run)")
		dryRun     = fs.Bool("dry-run", false, "show what would be sent and what the transform would make of it; change nothing")
		rateFlag   = fs.Float64("rate", 0, "send at most this many records per second; 0 for no limit")
		limit      = fs.Int64("max", 0, "send at most this many records in this run; 0 for no limit")
		maxAge     = fs.String("max-age", "7d", "hold back records whose event_time is older than this (e.g. 6d, 36h); 0 for no bound")
		force      = fs.Bool("force", false, "send held-back records too: too old, or not a valid event")
		maxReplays = fs.Int("max-replays", 3, "skip records whose dlq.replay_count is at or above this; 0 for no cap")
		batch      = fs.Int("batch", 500, "records sent per transaction at most (with --rate, at most about a second's worth); records looked at and not sent do not count")
		out        = fs.String("output", "table", "table or json (the dry run's records, the summary)")
		txnTimeout = fs.Duration("transaction-timeout", 0, "how long the broker lets a batch's transaction stay open before aborting it (default $REPLAY_TRANSACTION_TIMEOUT, else 5s; 1s..60s)")
	)
	if err := parse(fs, args, std, replayAbout); err != nil {
		return err
	}
	now := std.Now()
	format, err := output.ParseFormat(*out)
	if err != nil {
		return &Error{Code: ExitUsage, Err: err}
	}
	f, err := spec.Build(now)
	if err != nil {
		return &Error{Code: ExitUsage, Err: err}
	}
	age, err := filter.ParseAge(*maxAge)
	switch {
	case err != nil:
		return exitErr(ExitUsage, "--max-age: %v", err)
	case *name == "" && !*dryRun:
		return exitErr(ExitUsage, "--name is required: the replay's position is kept under it (or use --dry-run)")
	case *name != "" && !dlqrecord.ValidReplayName(*name):
		return exitErr(ExitUsage, "--name: %q must be 1..200 letters, digits, '.', '_' or '-'", *name)
	case *rateFlag < 0:
		return exitErr(ExitUsage, "--rate: %g is negative", *rateFlag)
	case *limit < 0:
		return exitErr(ExitUsage, "--max: %d is negative", *limit)
	case *maxReplays < 0:
		return exitErr(ExitUsage, "--max-replays: %d is negative", *maxReplays)
	case *batch < 1 || *batch > 10000:
		return exitErr(ExitUsage, "--batch: %d is outside 1..10000", *batch)
	}
	s, err := c.settings(std)
	if err != nil {
		return err
	}
	timeout := s.TransactionTimeout
	switch {
	case *txnTimeout == 0:
	case *txnTimeout < time.Second || *txnTimeout > time.Minute:
		return exitErr(ExitUsage, "--transaction-timeout: %s is outside 1s..1m0s", *txnTimeout)
	default:
		timeout = *txnTimeout
	}
	if s.EventsTopic == s.DLQTopic {
		return exitErr(ExitUsage, "--events-topic and --dlq-topic are both %s; a replay reads one and writes the other", s.DLQTopic)
	}
	d, err := openDLQ(ctx, std, c, spec, &f)
	if err != nil {
		return err
	}
	defer d.close()
	if _, err := partitions(ctx, d.adm, s, s.EventsTopic, "EVENTS_TOPIC or --events-topic"); err != nil {
		return err
	}

	what := "replay"
	if *name != "" {
		what = "replay " + *name
	}
	if !*dryRun {
		// Before reading the position: a transaction a killed run left open is aborted now, so
		// the position read next is final.
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := replay.Fence(fctx, s.Opts(), *name, timeout)
		cancel()
		if ctx.Err() != nil {
			return interrupted(what)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := ensureLedger(ctx, d); err != nil {
			if ctx.Err() != nil {
				return interrupted(what)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	positions := map[int32]int64{}
	if *name != "" {
		// Positions retries while the group coordinator is unavailable; on a fresh cluster that
		// can take a while (the offsets topic is being created), but not forever.
		pctx, cancel := context.WithTimeout(ctx, max(s.Timeout, minCoordinatorWait))
		positions, err = replay.Positions(pctx, d.adm, *name, s.DLQTopic)
		cancel()
		switch {
		case ctx.Err() != nil:
			return interrupted(what)
		case errors.Is(err, context.DeadlineExceeded):
			return &Error{Code: ExitUnreachable, Err: fmt.Errorf("%s: the coordinator of group %s did not answer within %s: %w",
				what, replay.GroupID(*name), max(s.Timeout, minCoordinatorWait), err)}
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	plan := replay.PlanFor(d.bounds, positions, f)
	if f, err = d.latest(ctx, spec, plan, f); err != nil {
		if ctx.Err() != nil {
			return interrupted(what)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	cfg := replay.Config{
		Name: *name, DLQTopic: s.DLQTopic, EventsTopic: s.EventsTopic,
		Plan:   plan,
		Filter: f,
		Policy: replay.Policy{MaxReplays: *maxReplays, MaxAge: age, MaxRecordBytes: s.MaxRecordBytes, Force: *force, Names: s.Names, Name: *name},
		Max:    *limit, Rate: *rateFlag, Batch: *batch,
		TransactionTimeout: timeout,
		Now:                std.Now,
	}
	if !*dryRun {
		cfg.Ledger = replay.LedgerTopic(s.DLQTopic)
	}
	for p, r := range replay.PassedOver(cfg.Plan, f) {
		would := "this replay moves"
		if *dryRun {
			would = "a replay would move"
		}
		fmt.Fprintf(std.Stderr, "%s: warning: partition %d offsets %d..%d (%d records) are before --from-offset %d: %s the position of %s past them without looking at them, and it will not replay them later\n",
			what, p, r.Start, r.End-1, r.End-r.Start, f.FromOffset(), would, what)
	}
	info := output.SummaryInfo{EventsTopic: s.EventsTopic, MaxReplays: *maxReplays, MaxAge: age, MaxRecordBytes: s.MaxRecordBytes, Max: *limit}
	if *dryRun {
		return dryRunReplay(ctx, std, s, cfg, format, info, what)
	}

	fmt.Fprintf(std.Stderr, "%s: %d records of %s to look at from the replay's position (the filters select among them), sending to %s\n",
		what, cfg.Plan.Records(), s.DLQTopic, s.EventsTopic)
	progress := output.NewProgress(std.Stderr, std.StderrIsTTY, what, cfg.Plan.Records(), std.Now)
	cfg.Progress = func(done int64, sum replay.Summary) { progress.Update(done, sum.Counts) }
	sum, err := replay.Run(ctx, s.Opts(), cfg)
	progress.Done()
	if ctx.Err() == nil {
		// What the name did over all its runs: this one and the committed batches of the
		// earlier ones, killed ones included.
		if l, lerr := replay.ReadLedger(ctx, s.Opts(), d.adm, s.DLQTopic, *name); lerr == nil {
			sum.AllRuns = &replay.Total{Runs: l.Runs(), Counts: l.Total()}
		} else if err == nil {
			err = lerr
		}
	}
	if werr := output.WriteSummary(std.Stdout, format, sum, info); werr != nil && err == nil {
		err = werr
	}
	switch {
	case ctx.Err() != nil:
		return &Error{Code: ExitInterrupted, Err: fmt.Errorf(
			"%s: interrupted; what was sent is committed with the position: run again with --name %s to continue", what, *name)}
	case errors.Is(err, replay.ErrTakenOver):
		return fmt.Errorf("%s: another run named %s took over; this run stopped, nothing is lost", what, *name)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ensureLedger creates the replay ledger of the DLQ topic when it is missing: one partition,
// the DLQ's retention (what it names is gone with the DLQ records anyway).
func ensureLedger(ctx context.Context, d *dlq) error {
	configs := map[string]*string{}
	if rc, err := d.adm.DescribeTopicConfigs(ctx, d.s.DLQTopic); err == nil {
		if c, err := rc.On(d.s.DLQTopic, nil); err == nil {
			for _, kv := range c.Configs {
				if kv.Key == "retention.ms" && kv.Value != nil {
					configs["retention.ms"] = kv.Value
				}
			}
		}
	}
	tctx, cancel := context.WithTimeout(ctx, max(d.s.Timeout, 30*time.Second))
	defer cancel()
	topic := replay.LedgerTopic(d.s.DLQTopic)
	if _, err := kafka.EnsureTopics(tctx, d.cl, d.s.Kafka, kafka.Topic{Name: topic, Partitions: 1, Configs: configs}); err != nil {
		return fmt.Errorf("replay ledger %s: %w", topic, err)
	}
	return nil
}

func dryRunReplay(ctx context.Context, std IO, s Settings, cfg replay.Config, format output.Format,
	info output.SummaryInfo, what string) error {
	w := bufio.NewWriterSize(std.Stdout, 64<<10)
	lines := output.NewLines(w)
	if format == output.Table {
		w.WriteString(output.DryRunHeader)
	}
	var werr error
	sum, err := replay.DryRun(ctx, s.Opts(), cfg, func(it replay.Item) {
		if werr != nil {
			return
		}
		if format == output.JSON {
			werr = lines.Write(output.DryRunRecord(it))
		} else {
			_, werr = w.WriteString(output.DryRunRow(it))
		}
	})
	if werr == nil {
		werr = lines.Flush()
	}
	if format == output.Table && werr == nil {
		w.WriteString("\n")
		werr = output.WriteSummary(w, format, sum, info)
	}
	if werr == nil {
		werr = w.Flush()
	}
	if format == output.JSON {
		// stdout holds only the records, one per line, for jq.
		output.WriteSummary(std.Stderr, output.Table, sum, info)
	}
	switch {
	case ctx.Err() != nil:
		return interrupted(what + " (dry run)")
	case err != nil:
		return fmt.Errorf("%s (dry run): %w", what, err)
	case werr != nil:
		return fmt.Errorf("%s (dry run): write output: %w", what, werr)
	}
	return nil
}
