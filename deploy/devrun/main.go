// Command devrun is `make run`: the whole pipeline on one machine, in the foreground. Unless
// KAFKA_BROKERS is set it embeds a Kafka-protocol broker (franz-go's kfake, data kept under
// .data/kfake), then starts the AdEventsX simulator, the ingress and the forwarder from bin/ with
// generated development credentials, waits until they are ready and prints a token + event
// example. Ctrl-C stops everything cleanly.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/martech/eventfwd/libs/config"
)

const about = `devrun (make run): the whole pipeline on this machine, in the foreground; Ctrl-C stops it.
The services it starts read their own settings from the environment too (bin/<service> -h);
it gives them LOG_FORMAT=text and KAFKA_LOG_LEVEL=warn unless those are set, for a console a
person reads (the services log JSON by default, for production).`

// devrun's settings; README.md's Configuration section lists them (main_test.go checks).
var (
	binVar          = config.String("BIN_DIR", "bin", "where the service binaries are (make build)")
	dataVar         = config.String("DATA_DIR", ".data", "where the embedded broker keeps its data (DATA_DIR/kfake)")
	ingressAddrVar  = config.Addr("INGRESS_ADDR", "127.0.0.1:8080", "the ingress's listen address")
	adminAddrVar    = config.Addr("FORWARDER_ADMIN_ADDR", "127.0.0.1:8081", "the forwarder's admin address")
	ingressAdminVar = config.Addr("INGRESS_ADMIN_ADDR", "127.0.0.1:8082", "the ingress's admin address")
	simAddrVar      = config.Addr("SIM_ADDR", "127.0.0.1:8090", "the simulator's listen address")
	clientSecretVar = config.String("DEV_CLIENT_SECRET", "", `the secret of the development client "dashboard"; generated when unset`).Secret()
	jwtSecretVar    = config.String("JWT_SECRET", "", "the ingress's signing key; generated when unset").Secret()
	apiKeyVar       = config.String("ADEVENTSX_API_KEY", "", "the simulator's and the forwarder's API key; generated when unset").Secret()
	brokersVar      = config.String("KAFKA_BROKERS", "", "a Kafka cluster to use; unset: an embedded broker (franz-go's kfake)")
)

var settings = config.NewSet("devrun", about, binVar, dataVar, ingressAddrVar, ingressAdminVar, adminAddrVar, simAddrVar,
	clientSecretVar, jwtSecretVar, apiKeyVar, brokersVar, config.LogLevelVar,
	config.LogFormatVar.WithDefault("text"))

func main() {
	if len(os.Args) > 1 {
		if a := os.Args[1]; a == "-h" || a == "-help" || a == "--help" {
			fmt.Print(settings.Usage())
			return
		}
		fmt.Fprintf(os.Stderr, "make run: unexpected argument %q; settings come from the environment, see bin/devrun -h\n", os.Args[1])
		os.Exit(2)
	}
	s, err := loadSettings(settings.FromOS())
	if err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(2)
	}
	log := s.log.Logger(os.Stderr, "devrun")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, s); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		stop()
		os.Exit(1)
	}
}

// devSettings are what make run was given, and the development credentials it generated.
type devSettings struct {
	bin, data              string
	ingressAddr, adminAddr string
	ingressAdminAddr       string
	simAddr                string
	clientID, clientSecret string
	jwtSecret, apiKey      string
	brokers                string
	log                    config.Logging
}

func loadSettings(env *config.Env) (devSettings, error) {
	s := devSettings{
		bin:              binVar.Read(env),
		data:             dataVar.Read(env),
		ingressAddr:      ingressAddrVar.Read(env),
		adminAddr:        adminAddrVar.Read(env),
		ingressAdminAddr: ingressAdminVar.Read(env),
		simAddr:          simAddrVar.Read(env),
		clientID:         "dashboard",
		clientSecret:     orRandom(clientSecretVar.Read(env), 16),
		jwtSecret:        orRandom(jwtSecretVar.Read(env), 32),
		apiKey:           apiKeyVar.Read(env),
		brokers:          brokersVar.Read(env),
		log:              config.ReadLogging(env),
	}
	if s.apiKey == "" {
		s.apiKey = "dev-" + randomHex(12)
	}
	return s, env.Err()
}

func orRandom(v string, n int) string {
	if v == "" {
		return randomHex(n)
	}
	return v
}

// consoleDefaults are what the services get unless the environment says otherwise: text lines
// and the Kafka client at warn (its info lines, a dozen per start, are for production logs).
var consoleDefaults = []string{"LOG_FORMAT=text", "KAFKA_LOG_LEVEL=warn"}

// childEnv is a service's environment: base (the process's), then the console defaults for what
// base does not set, then extra, which wins.
func childEnv(base []string, extra ...string) []string {
	env := slices.Clone(base)
	for _, kv := range consoleDefaults {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(base, func(b string) bool { return strings.HasPrefix(b, name+"=") }) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func run(ctx context.Context, log *slog.Logger, s devSettings) error {
	for _, addr := range []string{s.ingressAddr, s.ingressAdminAddr, s.adminAddr, s.simAddr} {
		if err := portFree(addr); err != nil {
			return err
		}
	}

	if s.brokers == "" {
		dir := filepath.Join(s.data, "kfake")
		opts := []kfake.Opt{kfake.DataDir(dir), kfake.NumBrokers(1)}
		if portFree("127.0.0.1:9092") == nil {
			opts = append(opts, kfake.Ports(9092))
		}
		cluster, err := kfake.NewCluster(opts...)
		if err != nil {
			return fmt.Errorf("embedded kafka (kfake, data in %s): %w", dir, err)
		}
		defer cluster.Close()
		s.brokers = strings.Join(cluster.ListenAddrs(), ",")
		log.Info("embedded kafka (kfake) up", "brokers", s.brokers, "data", dir)
	} else {
		log.Info("using the kafka cluster in KAFKA_BROKERS", "brokers", s.brokers)
	}

	common := []string{"KAFKA_BROKERS=" + s.brokers, "ADEVENTSX_API_KEY=" + s.apiKey}
	procs := []struct {
		name  string
		env   []string
		ready string
	}{
		{"adeventsx-sim", []string{"SIM_ADDR=" + s.simAddr}, "http://" + s.simAddr + "/healthz"},
		{"ingress", []string{
			"INGRESS_ADDR=" + s.ingressAddr,
			"INGRESS_ADMIN_ADDR=" + s.ingressAdminAddr,
			"AUTH_CLIENTS=" + s.clientID + ":" + s.clientSecret,
			"JWT_SECRET=" + s.jwtSecret,
		}, "http://" + s.ingressAdminAddr + "/readyz"},
		{"forwarder", []string{
			"FORWARDER_ADMIN_ADDR=" + s.adminAddr,
			"ADEVENTSX_URL=http://" + s.simAddr,
		}, "http://" + s.adminAddr + "/readyz"},
	}

	var wg sync.WaitGroup
	exited := make(chan string, len(procs))
	var started []*exec.Cmd
	defer func() {
		// Ctrl-C in a terminal reaches the children too; SIGTERM covers the other ways to stop.
		for _, c := range started {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		wg.Wait()
	}()
	for _, p := range procs {
		cmd := exec.Command(filepath.Join(s.bin, p.name))
		cmd.Env = childEnv(os.Environ(), append(common, p.env...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s (run `make build` first?): %w", p.name, err)
		}
		started = append(started, cmd)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			err := cmd.Wait()
			log.Info("process exited", "name", name, "err", err)
			exited <- name
		}(p.name)
		if err := waitReady(ctx, p.ready, exited); err != nil {
			return fmt.Errorf("%s did not become ready: %w", p.name, err)
		}
	}
	printBanner(s)

	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case name := <-exited:
		return fmt.Errorf("%s exited; stopping the rest", name)
	}
}

func waitReady(ctx context.Context, url string, exited <-chan string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case name := <-exited:
			return errors.New(name + " exited")
		case <-tick.C:
		}
	}
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (is another `make run` going?): %w", addr, err)
	}
	return ln.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func printBanner(s devSettings) {
	fmt.Printf(`
=====================================================================
 eventfwd is running (Ctrl-C stops it)
   ingress        http://%[1]s      client %[3]s / %[4]s
   ingress admin  http://%[7]s/metrics
   forwarder      http://%[2]s/metrics
   adeventsx-sim  http://%[5]s/_sim/received
   kafka          %[6]s

 Get a token, then send an event:

   TOKEN=$(curl -s -X POST http://%[1]s/auth/token \
     -H 'Content-Type: application/json' \
     -d '{"client_id":"%[3]s","client_secret":"%[4]s"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

   curl -i -X POST http://%[1]s/events \
     -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
     -d '{"event_id":"'$(cat /proc/sys/kernel/random/uuid)'","user_id":"u-1","event_name":"purchase","event_time":"2026-11-24T10:00:00Z","value":19.99,"campaign_id":"c-1"}'

   curl -s http://%[5]s/_sim/received
=====================================================================
`, s.ingressAddr, s.adminAddr, s.clientID, s.clientSecret, s.simAddr, s.brokers, s.ingressAdminAddr)
}
