// Command forwarder consumes events.raw as a consumer group, dedupes by event_id, transforms each
// event into AdEventsX's shape, delivers it with retries and dead-letters what cannot be
// delivered. See README.md for the guarantees and the commit strategy.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	settings.HandleArgs("forwarder", os.Args[1:])
	// The configuration comes first: LOG_LEVEL and LOG_FORMAT shape the logger.
	env := settings.FromOS()
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forwarder:", err)
		os.Exit(2)
	}
	log := cfg.Log.Logger(os.Stderr, "forwarder")
	log.Info("starting", "config", env.LogValue())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, cfg); err != nil {
		var cfgErr configError
		if errors.As(err, &cfgErr) {
			fmt.Fprintln(os.Stderr, "forwarder:", err)
			stop()
			os.Exit(2)
		}
		log.Error("forwarder stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
