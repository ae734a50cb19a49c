// Command ingress is the pipeline's front door: it issues access tokens to API clients and
// accepts their conversion events over HTTP, answering 202 only once Kafka acknowledged an
// event (see CONTRACT.md, "Ingress HTTP API").
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/martech/eventfwd/libs/event"
	"github.com/martech/eventfwd/libs/kafka"
	"github.com/martech/eventfwd/libs/tracing"
	"github.com/martech/eventfwd/services/ingress/internal/api"
	"github.com/martech/eventfwd/services/ingress/internal/auth"
	"github.com/martech/eventfwd/services/ingress/internal/connlimit"
	"github.com/martech/eventfwd/services/ingress/internal/publish"
)

const (
	clientID        = "eventfwd-ingress"
	startTimeout    = 30 * time.Second
	shutdownTimeout = 10 * time.Second
	flushTimeout    = 5 * time.Second
)

// openAPI is the API's OpenAPI 3 document, kept beside this file and served at /openapi.json.
//
//go:embed openapi.json
var openAPI []byte

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-secret" {
		if err := hashSecret(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "ingress hash-secret: %v\n", err)
			os.Exit(2)
		}
		return
	}
	settings.HandleArgs("ingress", os.Args[1:])

	// The configuration comes first: LOG_LEVEL and LOG_FORMAT shape the logger.
	env := settings.FromOS()
	cfg, err := loadConfig(env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ingress: %v\n", err)
		os.Exit(2)
	}
	// stderr, like the other binaries: stdout stays for what a command prints.
	log := cfg.Log.Logger(os.Stderr, "ingress")
	log.Info("starting", "config", env.LogValue())

	// Every request allocates a little and keeps nothing, and the live heap is a few MiB: the
	// collector's default pace spends a fifth of the CPU under load for memory nobody needs
	// back. GOGC, when set, still decides.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}

	// Tracing from the OTEL_* variables: exporting only with OTEL_EXPORTER_OTLP_ENDPOINT.
	stopTracing, err := tracing.SetupFromEnv(context.Background(), "ingress")
	if err != nil {
		fmt.Fprintf(os.Stderr, "ingress: %v\n", err)
		os.Exit(2)
	}
	err = run(context.Background(), log, cfg)
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if terr := stopTracing(tctx); terr != nil {
		log.Warn("flush traces", "err", terr)
	}
	cancel()
	if err != nil {
		log.Error("ingress stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, cfg Config) error {
	// SIGINT/SIGTERM also cut the start-up short, e.g. while the brokers are unreachable.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("register go metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("register process metrics: %w", err)
	}

	// Each record carries its request's trace (W3C traceparent) in its headers.
	cl, err := kgo.NewClient(append(append(kafka.ClientOpts(cfg.Kafka, clientID, log), publish.ClientOpts()...),
		kgo.WithHooks(tracing.NewKafkaHooks(clientID, "", cfg.EventsTopic)))...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer func() {
		// Every request waited for its record, so what is left here belongs to requests that
		// already answered 503: worth a short try, but a dead broker must not hold the exit.
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := cl.Flush(fctx); err != nil {
			log.Warn("flush kafka client", "err", err)
		}
		cl.Close()
	}()

	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if _, err := kafka.EnsureTopics(sctx, cl, cfg.Kafka, kafka.Topic{Name: cfg.EventsTopic, Need: []kafka.Op{kafka.Write}}); err != nil {
		return fmt.Errorf("ensure topic %s: %w", cfg.EventsTopic, err)
	}

	producer, err := publish.New(cl, cfg.EventsTopic, reg)
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}

	tokens := auth.NewTokens(cfg.Keys, cfg.JWTIssuer, cfg.JWTAudience, cfg.TokenTTL)
	if cfg.External != nil {
		ext := *cfg.External
		ext.Log = log
		external, err := auth.NewExternal(ctx, ext)
		if err != nil {
			return fmt.Errorf("JWT_JWKS_URL: %w", err)
		}
		tokens.AcceptExternal(external)
	}

	handler, err := api.New(api.Config{
		Log:            log,
		Publisher:      producer,
		Clients:        cfg.Clients,
		Tokens:         tokens,
		Names:          event.NewNames(cfg.EventNames...),
		ProduceTimeout: cfg.ProduceTimeout,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		EventLimit:     cfg.EventLimit,
		TokenLimit:     cfg.TokenLimit,
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		OpenAPI:        openAPI,
		Registry:       reg,
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("INGRESS_ADDR: listen on %s: %w", cfg.Addr, err)
	}
	limited := connlimit.New(ln, cfg.MaxConnections)
	defer limited.Close()
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("INGRESS_ADMIN_ADDR: listen on %s: %w", cfg.AdminAddr, err)
	}
	defer adminLn.Close()

	// Requests to the event routes are traced (a server span, the caller's traceparent continued).
	srv := publicServer(tracing.HTTPHandler(handler, "/events", "/events/batch"), limited, log)
	admin := &http.Server{
		Handler:           api.NewAdmin(log, producer, reg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	serverErrors := make(chan error, 2)
	go func() {
		log.Info("listening", "addr", cfg.Addr, "admin_addr", cfg.AdminAddr)
		serverErrors <- fmt.Errorf("serve on %s: %w", cfg.Addr, srv.Serve(limited))
	}()
	go func() {
		serverErrors <- fmt.Errorf("serve admin on %s: %w", cfg.AdminAddr, admin.Serve(adminLn))
	}()

	select {
	case err := <-serverErrors:
		return err
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	}

	shctx, cancelShutdown := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancelShutdown()
	// The admin listener goes last, so that /metrics can be scraped while requests finish.
	err = srv.Shutdown(shctx)
	if err != nil {
		_ = srv.Close()
	}
	_ = admin.Shutdown(shctx)
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// maxHeaderBytes bounds a request's headers on the public port. Our tokens are under 2 KB, an
// identity provider's up to a few (Entra ID's with group claims near 8); net/http allows 4 KiB
// over this, and answers 431 past it.
const maxHeaderBytes = 16 << 10

// publicServer is the http.Server of the public port, serving handler on a connection-capped
// listener.
func publicServer(handler http.Handler, ln *connlimit.Listener, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         ln.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// maxSecretInput bounds what hash-secret reads; bcrypt uses 72 bytes at most anyway.
const maxSecretInput = 4096

// hashSecret is `ingress hash-secret [-cost N]`: it reads a client secret on stdin (never from
// the command line, where ps and shell history would see it) and prints its bcrypt hash for
// AUTH_CLIENTS_FILE. One trailing newline is dropped, so `echo` and a typed line both work.
func hashSecret(args []string, stdin io.Reader, stdout io.Writer) error {
	cost := auth.MinBcryptCost
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "-cost":
		n, err := strconv.Atoi(args[1])
		if err != nil || n < auth.MinBcryptCost || n > 14 {
			return fmt.Errorf("-cost must be an integer in %d..14", auth.MinBcryptCost)
		}
		cost = n
	default:
		return errors.New("usage: ingress hash-secret [-cost N] < secret")
	}
	in, err := io.ReadAll(io.LimitReader(stdin, maxSecretInput+1))
	if err != nil {
		return fmt.Errorf("read the secret from stdin: %w", err)
	}
	if len(in) > maxSecretInput {
		return fmt.Errorf("stdin holds more than %d bytes", maxSecretInput)
	}
	secret := strings.TrimSuffix(strings.TrimSuffix(string(in), "\n"), "\r")
	hash, err := auth.HashSecret([]byte(secret), cost)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}
