// Package cli is the dlq command line: the subcommands (stats, list, show, replay), their
// flags and environment, and the exit code of every outcome. main only hands it the process's
// arguments, streams and signals, and exits with ExitCode.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/martech/eventfwd/libs/config"
)

// Exit codes (documented in usage).
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitUnreachable = 3
	ExitNoTopic     = 4
	ExitInterrupted = 130
)

// Error is an error with the exit code it ends the process with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func exitErr(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// ExitCode is the process exit code for the outcome err: ExitOK for nil, the code of an *Error,
// ExitInterrupted for a cancelled context, ExitError otherwise.
func ExitCode(err error) int {
	var e *Error
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitError
}

// IO is what a run reads and writes besides Kafka.
type IO struct {
	Stdout, Stderr io.Writer
	StderrIsTTY    bool // draw the replay's progress bar
	Env            *config.Env
	Now            func() time.Time
}

// usage is what dlq -h prints; the environment part comes from Environment.
var usage = strings.Replace(usageFormat, "{{environment}}\n", Environment.EnvUsage(), 1)

const usageFormat = `dlq: look into and replay the dead-letter topic of the event-forwarding pipeline.

Usage:
  dlq stats  [flags]   counts by reason, HTTP status, event_name and age; the oldest and newest
                       record; offsets per partition
  dlq list   [flags]   the records, one line each (or one JSON object per line)
  dlq show   [flags]   the records in full: key, headers, value, and what the forwarder's transform
                       makes of them
  dlq replay [flags]   re-publish the selected records to the events topic; resumable by --name

'dlq <command> -h' lists a command's flags. list, show, stats and replay take the same filters
(--reason, --status, --since, --until, --event-id, --partition, --from-offset, --to-offset,
--replayed, --replay-name, --latest, --held-by).
Every command reads the DLQ up to its end as it was when the command started.

Environment (--brokers, --dlq-topic and --events-topic win over KAFKA_BROKERS, DLQ_TOPIC and
EVENTS_TOPIC; set EVENT_NAMES and MAX_RECORD_BYTES as the forwarder has them: show and replay
judge records with them, and replay holds back larger records even with --force):
{{environment}}

Exit codes:
  0    done (also: -h)
  1    a runtime error: Kafka failed mid-way, a replay could not commit, another run of the same
       replay name took over (nothing is lost), show found nothing
  2    bad usage: unknown command or flag, a bad flag value or filter, a bad environment variable
  3    Kafka cannot be reached at the brokers given (checked within --timeout, 10s by default)
  4    a topic does not exist: the DLQ topic, or for replay the events topic
  130  interrupted (Ctrl-C or SIGTERM); a replay keeps the position of its last committed batch
`

// Run runs the command in args (without the program name).
func Run(ctx context.Context, args []string, std IO) error {
	if len(args) == 0 {
		fmt.Fprint(std.Stderr, usage)
		return exitErr(ExitUsage, "no command given: stats, list, show or replay")
	}
	var cmd func(context.Context, []string, IO) error
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(std.Stdout, usage)
		return nil
	case "stats":
		cmd = runStats
	case "list":
		cmd = runList
	case "show":
		cmd = runShow
	case "replay":
		cmd = runReplay
	default:
		return exitErr(ExitUsage, "unknown command %q: stats, list, show or replay (dlq -h)", args[0])
	}
	return cmd(ctx, args[1:], std)
}

// parse parses a command's flags. Help goes to stdout; a bad flag is one line naming it.
func parse(fs *flag.FlagSet, args []string, std IO, about string) error {
	// The flag package would print its own error and the whole usage; one line is wanted.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(std.Stdout, "%s\nFlags:\n", about)
		fs.SetOutput(std.Stdout)
		fs.PrintDefaults()
		fmt.Fprint(std.Stdout, "\nEnvironment and exit codes: dlq -h\n")
		return err
	case err != nil:
		return exitErr(ExitUsage, "%s: %v (dlq %s -h)", fs.Name(), err, fs.Name())
	case fs.NArg() > 0:
		return exitErr(ExitUsage, "%s: unexpected argument %q; every option is a flag (dlq %s -h)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}
