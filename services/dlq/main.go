// Command dlq is the operators' tool for the dead-letter topic: stats, list and show to look
// into it, replay to send records back through the forwarder. `dlq -h` documents the commands,
// the environment and the exit codes; the work is in internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/martech/eventfwd/services/dlq/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.IO{
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		StderrIsTTY: isTerminal(os.Stderr),
		Env:         cli.Environment.FromOS(),
		Now:         time.Now,
	})
	stop()
	code := cli.ExitCode(err)
	if code != cli.ExitOK {
		fmt.Fprintln(os.Stderr, "dlq:", err)
	}
	os.Exit(code)
}

// isTerminal reports whether f is a character device, as a terminal is; enough to choose
// between a redrawn progress bar and plain lines, without a dependency for it.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
