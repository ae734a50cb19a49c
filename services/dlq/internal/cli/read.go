package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/services/dlq/internal/dlqrecord"
	"github.com/martech/eventfwd/services/dlq/internal/filter"
	"github.com/martech/eventfwd/services/dlq/internal/output"
	"github.com/martech/eventfwd/services/dlq/internal/replay"
	"github.com/martech/eventfwd/services/dlq/internal/scan"
	"github.com/martech/eventfwd/services/dlq/internal/stats"
)

// dlq is the DLQ topic opened for reading: settings, an admin client and the bounds of every
// partition, taken once.
type dlq struct {
	s      Settings
	cl     *kgo.Client
	adm    *kadm.Client // a view of cl
	bounds map[int32]scan.Bounds
}

func (d *dlq) close() { d.cl.Close() }

// openDLQ reaches Kafka, checks the DLQ topic and the --partition filter, and takes the bounds.
// A --held-by filter (spec.HeldBy) is resolved here, from the ledger: f comes back narrowed to
// the records that replay held back.
func openDLQ(ctx context.Context, std IO, c common, spec filter.Spec, f *filter.Filter) (*dlq, error) {
	s, err := c.settings(std)
	if err != nil {
		return nil, err
	}
	var name string
	var decisions []string
	if spec.HeldBy != "" {
		if name, decisions, err = replay.ParseHeldBy(spec.HeldBy); err != nil {
			return nil, &Error{Code: ExitUsage, Err: err}
		}
	}
	cl, err := connect(ctx, s)
	if err != nil {
		return nil, err
	}
	d := &dlq{s: s, cl: cl, adm: kadm.NewClient(cl)}
	adm := d.adm
	n, err := partitions(ctx, adm, s, s.DLQTopic, "DLQ_TOPIC or --dlq-topic")
	if err == nil {
		err = checkPartition(f.Partition(), n, s.DLQTopic)
	}
	if err == nil {
		d.bounds, err = scan.Offsets(ctx, adm, s.DLQTopic)
	}
	if err == nil && name != "" {
		var l replay.Ledger
		if l, err = replay.ReadLedger(ctx, s.Opts(), adm, s.DLQTopic, name); err == nil {
			*f = f.Only(l.Held(decisions...))
		}
	}
	if err != nil {
		d.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return d, nil
}

// plan is what a read with filter f covers: the partitions and offsets that can match.
func (d *dlq) plan(f filter.Filter) scan.Plan {
	plan := scan.Plan{}
	for p, b := range d.bounds {
		if f.InScope(p) {
			start, end := f.Range(p, b.Low, b.High)
			plan[p] = scan.Range{Start: start, End: end}
		}
	}
	return plan
}

// latest narrows f, when spec asks for --latest, to the newest copy of each event among the
// records of plan: it reads them once first.
func (d *dlq) latest(ctx context.Context, spec filter.Spec, plan scan.Plan, f filter.Filter) (filter.Filter, error) {
	if !spec.Latest {
		return f, nil
	}
	n := filter.NewNewest()
	err := scan.Read(ctx, d.s.Opts(), d.s.DLQTopic, plan, func(r *kgo.Record) bool {
		n.Add(r, dlqrecord.Read(r))
		return true
	})
	if err != nil {
		return f, fmt.Errorf("--latest: read %s: %w", d.s.DLQTopic, err)
	}
	return f.With(n.Is), nil
}

// readFlags are the flags list, show and stats share.
type readFlags struct {
	common
	spec   filter.Spec
	output string
}

func (r *readFlags) register(fs *flag.FlagSet) {
	r.common.register(fs, false)
	r.spec.Register(fs)
	fs.StringVar(&r.output, "output", "table", "table (text for people) or json (for jq)")
}

func (r *readFlags) check(now time.Time) (filter.Filter, output.Format, error) {
	format, err := output.ParseFormat(r.output)
	if err != nil {
		return filter.Filter{}, "", &Error{Code: ExitUsage, Err: err}
	}
	f, err := r.spec.Build(now)
	if err != nil {
		return filter.Filter{}, "", &Error{Code: ExitUsage, Err: err}
	}
	return f, format, nil
}

// interrupted is the error of a command stopped by a signal.
func interrupted(what string) error {
	return &Error{Code: ExitInterrupted, Err: fmt.Errorf("%s: interrupted", what)}
}

const statsAbout = `dlq stats [flags]: counts the DLQ's records (those the filters select) by dlq.reason,
dlq.http_status, event_name (read leniently from the value; "unknown" when there is none) and age
of dlq.failed_at (<1h, 1h-24h, 1d-7d, >7d); the oldest and newest record; and the offsets each
partition holds (low = log start, high = end).`

func runStats(ctx context.Context, args []string, std IO) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	var rf readFlags
	rf.register(fs)
	if err := parse(fs, args, std, statsAbout); err != nil {
		return err
	}
	now := std.Now()
	f, format, err := rf.check(now)
	if err != nil {
		return err
	}
	d, err := openDLQ(ctx, std, rf.common, rf.spec, &f)
	if err != nil {
		return err
	}
	defer d.close()

	st := stats.New(now)
	start := time.Now()
	if f, err = d.latest(ctx, rf.spec, d.plan(f), f); err != nil {
		if ctx.Err() != nil {
			return interrupted("stats")
		}
		return err
	}
	err = scan.Read(ctx, d.s.Opts(), d.s.DLQTopic, d.plan(f), func(r *kgo.Record) bool {
		if fl := dlqrecord.Read(r); f.Match(r, fl) {
			st.Add(r, fl)
		}
		return true
	})
	if ctx.Err() != nil {
		return interrupted("stats")
	}
	if err != nil {
		return fmt.Errorf("stats %s: %w", d.s.DLQTopic, err)
	}
	st.Finish()
	return output.WriteStats(std.Stdout, format, output.NewStatsReport(d.s.DLQTopic, st, d.bounds, time.Since(start)))
}

const listAbout = `dlq list [flags]: the DLQ's records that the filters select, oldest offset first within a
partition. table: one line each (partition, offset, dlq.failed_at, reason, HTTP status, attempts,
replay count, event_id, dlq.error). json: one object per line (NDJSON) with topic, partition,
offset, timestamp, key, value (value_base64 when not UTF-8) and headers, e.g.
  dlq list --reason rejected --output json | jq -r '.headers["dlq.error"]' | sort | uniq -c`

func runList(ctx context.Context, args []string, std IO) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var rf readFlags
	rf.register(fs)
	limit := fs.Int64("max", 0, "list at most this many records; 0 for all")
	if err := parse(fs, args, std, listAbout); err != nil {
		return err
	}
	_, _, err := eachMatch(ctx, std, "list", rf, *limit, output.ListHeader, func(p printer, r *kgo.Record) error {
		if p.format == output.JSON {
			return p.lines.Write(output.NewRecord(r))
		}
		_, err := p.w.WriteString(output.ListRow(r))
		return err
	})
	return err
}

// printer is where list and show write: NDJSON lines or a table, buffered.
type printer struct {
	format output.Format
	w      *bufio.Writer
	lines  *output.Lines
	names  event.Names // the accepted event_name values, for show's transform preview
}

// eachMatch checks the filters and --max, opens the DLQ, writes tableHeader (for the table
// format) and hands each record the filters select to print, at most limit of them (0: all),
// then flushes. It returns how many matched and
// the DLQ topic, with the command's error (exit codes included).
func eachMatch(ctx context.Context, std IO, cmd string, rf readFlags, limit int64, tableHeader string,
	print func(printer, *kgo.Record) error) (int64, string, error) {
	f, format, err := rf.check(std.Now())
	if err != nil {
		return 0, "", err
	}
	if limit < 0 {
		return 0, "", exitErr(ExitUsage, "--max: %d is negative", limit)
	}
	d, err := openDLQ(ctx, std, rf.common, rf.spec, &f)
	if err != nil {
		return 0, "", err
	}
	defer d.close()

	w := bufio.NewWriterSize(std.Stdout, 64<<10)
	p := printer{format: format, w: w, lines: output.NewLines(w), names: d.s.Names}
	if format == output.Table {
		w.WriteString(tableHeader)
	}
	if f, err = d.latest(ctx, rf.spec, d.plan(f), f); err != nil {
		if ctx.Err() != nil {
			return 0, d.s.DLQTopic, interrupted(cmd)
		}
		return 0, d.s.DLQTopic, err
	}
	var n int64
	var werr error
	err = scan.ReadInOrder(ctx, d.s.Opts(), d.s.DLQTopic, d.plan(f), func(r *kgo.Record) bool {
		if !f.Match(r, dlqrecord.Read(r)) {
			return true
		}
		n++
		werr = print(p, r)
		return werr == nil && (limit == 0 || n < limit)
	})
	if werr == nil {
		werr = p.lines.Flush()
	}
	if werr == nil {
		werr = w.Flush()
	}
	switch {
	case ctx.Err() != nil:
		return n, d.s.DLQTopic, interrupted(cmd)
	case err != nil:
		return n, d.s.DLQTopic, fmt.Errorf("%s %s: %w", cmd, d.s.DLQTopic, err)
	case werr != nil:
		return n, d.s.DLQTopic, fmt.Errorf("%s: write output: %w", cmd, werr)
	}
	return n, d.s.DLQTopic, nil
}

const showAbout = `dlq show [flags]: the DLQ's records that the filters select, in full: key, every header,
the value, and what the forwarder would make of it (the AdEventsX body, or why it is not a valid
event; judged with EVENT_NAMES). One record: --partition P --offset O. One event: --event-id ID
(every time it was dead-lettered). json: one object per line, as dlq list's with "conversion" or
"transform_error" added. Exit code 1 when no record matches.`

func runShow(ctx context.Context, args []string, std IO) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	var rf readFlags
	rf.register(fs)
	offset := fs.Int64("offset", -1, "with --partition: the one record at this offset")
	limit := fs.Int64("max", 0, "show at most this many records; 0 for all")
	if err := parse(fs, args, std, showAbout); err != nil {
		return err
	}
	if *offset >= 0 {
		if rf.spec.FromOffset >= 0 || rf.spec.ToOffset >= 0 {
			return exitErr(ExitUsage, "--offset: give either --offset or --from-offset/--to-offset")
		}
		if rf.spec.Partition < 0 {
			return exitErr(ExitUsage, "--offset needs --partition: offsets are per partition")
		}
		rf.spec.FromOffset, rf.spec.ToOffset = *offset, *offset
	}
	n, topic, err := eachMatch(ctx, std, "show", rf, *limit, "", func(p printer, r *kgo.Record) error {
		raw, invalid := replay.Preview(r, p.names)
		if p.format == output.JSON {
			return p.lines.Write(output.NewRecord(r).WithPreview(raw, invalid))
		}
		return output.Show(p.w, r, raw, invalid, true)
	})
	if err == nil && n == 0 {
		return &Error{Code: ExitError, Err: errors.New("show: no record in " + topic + " matches")}
	}
	return err
}
