package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// E2E_KAFKA=container starts the suite's broker with testcontainers-go's Kafka module instead of
// the jar broker of deploy/kafka, the usual way for Go projects on machines with a container
// engine (Docker, Podman). E2E_KAFKA_IMAGE picks the image (a confluent-local one, the module's
// kind). Tests that stop, restart or reconfigure brokers need the jar scripts and skip there.

const defaultKafkaImage = "confluentinc/confluent-local:7.9.0"

// errNoEngine says no container engine answered.
var errNoEngine = errors.New("no container engine answers")

func containerMode() bool { return os.Getenv("E2E_KAFKA") == "container" }

// startContainerKafka starts the broker and returns its address and how to remove it.
func startContainerKafka() (addr string, stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := engineHealth(ctx); err != nil {
		return "", nil, fmt.Errorf("%w (%v)", errNoEngine, err)
	}
	img := os.Getenv("E2E_KAFKA_IMAGE")
	if img == "" {
		img = defaultKafkaImage
	}
	c, err := tckafka.Run(ctx, img, tckafka.WithClusterID("eventfwd-e2e"))
	stop = func() {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
	}
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("start %s: %w", img, err)
	}
	brokers, err := c.Brokers(ctx)
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("broker address of %s: %w", img, err)
	}
	return strings.Join(brokers, ","), stop, nil
}

// engineHealth asks the container engine testcontainers finds (DOCKER_HOST, the usual
// sockets) whether it answers; the library panics on some set-ups without one.
func engineHealth(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	p, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Health(ctx)
}

// runInContainer is TestMain's path for E2E_KAFKA=container: the exit code of the run, or 0 with
// one line when no engine answers.
func runInContainer(run func() int) int {
	addr, stop, err := startContainerKafka()
	if errors.Is(err, errNoEngine) {
		fmt.Printf("SKIP e2e with E2E_KAFKA=container: %v; the jar broker (make test, without E2E_KAFKA) is the default\n",
			firstLines(err.Error(), 1))
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "E2E_KAFKA=container:", err)
		return 1
	}
	defer stop()
	brokers, kafkaCtl = addr, ""
	os.Setenv("E2E_KAFKA_BROKERS", addr)
	fmt.Fprintln(os.Stderr, "e2e: broker started with testcontainers-go at", addr)
	return run()
}
