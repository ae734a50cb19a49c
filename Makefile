# eventfwd: ingress -> Kafka -> forwarder -> AdEventsX. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULES  = $(shell go list -m -f '{{.Dir}}')
KAFKA    = deploy/kafka/kafka.sh
# Unit tests: every module but the end-to-end one, with the race detector.
UNIT_MODULES = $(filter-out %/e2e,$(MODULES))

.PHONY: help build run test unit-test fuzz e2e-test e2e-brokers-down kafka-up kafka-down tools bench fmt vet clean

help:
	@echo "make run         the whole pipeline on this machine (embedded Kafka unless KAFKA_BROKERS is set)"
	@echo "make test        unit tests, then integration and fault tests on a real Kafka broker"
	@echo "make build       binaries in bin/"
	@echo "make kafka-up    a real single-node Kafka (KRaft) on 127.0.0.1:9092; make kafka-down stops it"
	@echo "                 (KAFKA_SECURE=true adds SASL_SSL/SCRAM on :9094 and mutual TLS on :9095, see README)"
	@echo "make bench       the benchmark suite"

build:
	@mkdir -p bin
	go build -o bin/ingress ./services/ingress
	go build -o bin/forwarder ./services/forwarder
	go build -o bin/adeventsx-sim ./services/adeventsx-sim
	go build -o bin/dlq ./services/dlq
	go build -o bin/devrun ./deploy/devrun
	go build -o bin/kafka-acls ./deploy/acls

run: build
	@./bin/devrun

# kcat is the outside Kafka client the integration tests use as an upstream producer would;
# openssl makes the certificates of the secured broker the security tests start; wrk is the
# outside load generator of make bench.
tools:
	@command -v kcat >/dev/null || { \
	  echo "installing kcat (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq kcat >/dev/null 2>&1 || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq kcat; }; }
	@kcat -V | head -1
	@command -v openssl >/dev/null || { \
	  echo "installing openssl (apt-get): the secured test broker's certificates"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq openssl >/dev/null 2>&1 || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openssl; }; }
	@# jq: the README's dead-letter runbooks pipe bin/dlq into it, and e2e runs them as written.
	@command -v jq >/dev/null || { \
	  echo "installing jq (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq jq >/dev/null 2>&1 || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq jq; }; }
	@jq --version
	@# wrk: make bench compares the ingress with a bare net/http handler under an outside load generator.
	@command -v wrk >/dev/null || { \
	  echo "installing wrk (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }; }
	@wrk --version 2>&1 | head -1 || true

kafka-up:
	@$(KAFKA) up

kafka-down:
	@$(KAFKA) down

unit-test:
	@for m in $(UNIT_MODULES); do echo "== unit: $${m#$(CURDIR)/}"; (cd $$m && go test -race -count=1 ./...); done

# The integration and fault tests build the binaries and run them against the broker in
# KAFKA_BROKERS. Without Java or Maven they fall back, loudly, to the embedded kfake broker.
e2e-test: build tools
	@if command -v java >/dev/null && command -v mvn >/dev/null; then \
	  states=$$(mktemp -d /tmp/eventfwd-e2e-brokers.XXXXXX); \
	  trap '$(KAFKA) down; $(MAKE) -s e2e-brokers-down E2E_STATE_DIR='"$$states"'' EXIT; \
	  $(KAFKA) up; \
	  echo "== e2e: real Apache Kafka on 127.0.0.1:$${KAFKA_PORT:-9092}"; \
	  (cd e2e && E2E_KAFKA_BROKERS=127.0.0.1:$${KAFKA_PORT:-9092} E2E_KAFKA_CTL=$(CURDIR)/$(KAFKA) E2E_BIN=$(CURDIR)/bin \
	    E2E_STATE_DIR=$$states go test -count=1 -timeout 20m -v ./...); \
	  echo "== e2e: the testcontainers-go path (E2E_KAFKA=container; one SKIP line without a container engine)"; \
	  (cd e2e && E2E_KAFKA=container go test -count=1 -timeout 10m -run 'TestPipelineDeliversAnAcceptedEventTransformed' -v ./... | grep -v '^=== RUN'); \
	  echo "== schemathesis: the ingress against its OpenAPI document"; \
	  KAFKA_BROKERS=127.0.0.1:$${KAFKA_PORT:-9092} BIN_DIR=$(CURDIR)/bin services/ingress/schemathesis.sh; \
	else \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!! java or mvn is missing: integration tests run on kfake, NOT real Kafka !!"; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  (cd e2e && E2E_BIN=$(CURDIR)/bin go test -count=1 -timeout 20m -v ./...); \
	fi

# The brokers the e2e tests start themselves (secured, three nodes) keep their state under
# E2E_STATE_DIR; the tests stop them, and this stops whatever a killed or timed-out run left.
e2e-brokers-down:
	@[ -n "$(E2E_STATE_DIR)" ] || { echo "make e2e-brokers-down: set E2E_STATE_DIR" >&2; exit 2; }
	@for s in $(E2E_STATE_DIR)/kafka-sec-e2e-*; do [ -d "$$s" ] && KAFKA_STATE=$$s $(KAFKA) down >/dev/null || true; done
	@for s in $(E2E_STATE_DIR)/kafka-sec-cluster-e2e-*; do [ -d "$$s" ] && KAFKA_CLUSTER_STATE=$$s deploy/kafka/cluster.sh down >/dev/null || true; done
	@rm -rf $(E2E_STATE_DIR)

# Short fuzzing runs of the targets whose corpora are committed (testdata/fuzz).
# The budget is a count of executions (about 6-8 s each here), not a duration:
# a duration-based -fuzztime can fail with a bare "context deadline exceeded"
# and no crasher when a worker is mid-call at the deadline (a race in Go's
# fuzzing coordinator; it failed CI once). A real finding still fails the run
# and writes its input under testdata/fuzz.
fuzz:
	cd libs && go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 400000x -fuzzminimizetime 1s ./event
	cd services/ingress && go test -run '^$$' -fuzz '^FuzzVerifyToken$$' -fuzztime 80000x -fuzzminimizetime 1s ./internal/auth
	cd services/ingress && go test -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime 40000x -fuzzminimizetime 1s ./internal/api

test: unit-test fuzz e2e-test

# Benchmarks print a table and write their figures as JSON in bench-results/. They run on the
# real broker, started here (and stopped afterwards) like in make test.
bench: build tools
	@mkdir -p bench-results
	@trap "$(CURDIR)/$(KAFKA) down" EXIT; $(KAFKA) up; \
	  cd bench && KAFKA_BROKERS=127.0.0.1:$${KAFKA_PORT:-9092} BIN_DIR=$(CURDIR)/bin \
	    go run ./forwarder -out $(CURDIR)/bench-results/forwarder.json; \
	  KAFKA_BROKERS=127.0.0.1:$${KAFKA_PORT:-9092} BIN_DIR=$(CURDIR)/bin \
	    go run ./ingress -out $(CURDIR)/bench-results/ingress.json

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...); done

clean:
	rm -rf bin .data
