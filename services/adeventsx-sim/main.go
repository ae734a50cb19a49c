// Command adeventsx-sim stands in for the AdEventsX conversions API in local runs, end-to-end
// and fault tests, and benchmarks: it accepts POST /v1/conversions as the real API would,
// records what it accepted, and injects failures on demand (see internal/sim for the API).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/martech/eventfwd/services/adeventsx-sim/internal/sim"
)

const shutdownTimeout = 10 * time.Second

func main() {
	settings.HandleArgs("adeventsx-sim", os.Args[1:])

	// The configuration comes first: LOG_LEVEL and LOG_FORMAT shape the logger.
	env := settings.FromOS()
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "adeventsx-sim: %v\n", err)
		os.Exit(2)
	}
	log := cfg.Log.Logger(os.Stderr, "adeventsx-sim")
	log.Info("starting", "config", env.LogValue())

	if err := run(context.Background(), log, cfg); err != nil {
		log.Error("adeventsx-sim stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfg Config) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	handler, err := sim.New(sim.Options{
		APIKey:    cfg.APIKey,
		Settings:  cfg.Settings,
		Seed:      cfg.Seed,
		MaxEvents: cfg.MaxEvents,
		Log:       log,
	})
	if err != nil {
		return fmt.Errorf("build simulator: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: a simulated timeout holds a request for up to timeout_hold_ms, which
		// control can raise at run time; the handler bounds every wait itself (sim.MaxHold).
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	serverErrors := make(chan error, 1)
	go func() {
		// The actual address, so that SIM_ADDR=127.0.0.1:0 is usable by whoever reads the log.
		log.Info("adeventsx-sim listening", "addr", ln.Addr().String())
		serverErrors <- srv.Serve(ln)
	}()

	select {
	case err := <-serverErrors:
		return fmt.Errorf("serve on %s: %w", cfg.Addr, err)
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	}

	handler.Stop() // held and waiting requests answer 503 now instead of holding Shutdown up
	shctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
