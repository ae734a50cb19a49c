#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1, for local runs
# and the integration tests. No Docker: the broker's jars come from Maven Central through pom.xml.
#
#   kafka.sh up     fetch jars if needed, format a fresh temporary data folder, start, wait until ready
#   kafka.sh stop   stop the broker, keep its data (fault tests restart it with `start`)
#   kafka.sh start  start the broker again on the data `up` formatted, wait until ready
#   kafka.sh down   stop the broker and delete its data
#   kafka.sh status say whether it runs
#
# Settings: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_STATE (/tmp/eventfwd-kafka: pid,
# data folder path, log), KAFKA_HEAP (512m).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-9093}
state=${KAFKA_STATE:-/tmp/eventfwd-kafka}
heap=${KAFKA_HEAP:-512m}
libs="$here/target/libs"
mkdir -p "$state"

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_tools() {
  command -v java >/dev/null || die "java is not installed: the real Kafka broker needs Java 17+"
  if [ ! -f "$libs/.complete" ]; then
    command -v mvn >/dev/null || die "mvn is not installed: it fetches the Kafka broker's jars"
    echo "kafka.sh: fetching the Kafka broker's jars from Maven Central (once)"
    rm -rf "$libs"
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >"$state/mvn.log" 2>&1 \
      || { tail -20 "$state/mvn.log" >&2; die "mvn could not fetch the Kafka jars (log: $state/mvn.log)"; }
    touch "$libs/.complete"
  fi
}

java_cmd() { java -Xms"$heap" -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" "$@"; }

running() { [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; }

write_config() {
  local data=$1
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
PROPS
}

start_broker() {
  local data
  data=$(cat "$state/datadir" 2>/dev/null) || die "no data folder: run 'kafka.sh up' first"
  [ -d "$data" ] || die "data folder $data is gone: run 'kafka.sh up'"
  : >"$state/kafka.log"
  # The broker runs in its own session so that the caller's Ctrl-C or exit does not reach it.
  setsid java -Xms"$heap" -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logfile="$state/kafka.log" kafka.Kafka "$data/server.properties" \
    >"$state/stdout.log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  local deadline=$((SECONDS + 90))
  until grep -q "Kafka Server started" "$state/kafka.log" 2>/dev/null; do
    running || { tail -30 "$state/stdout.log" "$state/kafka.log" >&2; die "the broker exited while starting (log: $state/kafka.log)"; }
    [ $SECONDS -lt $deadline ] || die "the broker did not start within 90 s (log: $state/kafka.log)"
    sleep 0.2
  done
  local version
  version=$(grep -o "Kafka version: [^ ]*" "$state/kafka.log" | head -1 | cut -d' ' -f3)
  echo "kafka.sh: Apache Kafka ${version:-?} (KRaft, single node) ready on 127.0.0.1:$port, data in $data"
}

stop_broker() {
  running || { rm -f "$state/pid"; return 0; }
  local pid
  pid=$(cat "$state/pid")
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$state/pid"
}

case "${1:-}" in
  up)
    if running; then
      echo "kafka.sh: Apache Kafka $(grep -o "Kafka version: [^ ]*" "$state/kafka.log" | head -1 | cut -d' ' -f3) already running (pid $(cat "$state/pid"))"
      exit 0
    fi
    need_tools
    data=$(mktemp -d /tmp/eventfwd-kafka-data.XXXXXX)
    echo "$data" >"$state/datadir"
    write_config "$data"
    cluster_id=$(java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool random-uuid)
    java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$data/server.properties" >"$state/format.out" 2>&1 \
      || { cat "$state/format.out" >&2; die "formatting the storage failed"; }
    start_broker
    ;;
  start)
    running && { echo "kafka.sh: already running"; exit 0; }
    start_broker
    ;;
  stop)
    stop_broker
    echo "kafka.sh: stopped (data kept)"
    ;;
  down)
    stop_broker
    if [ -f "$state/datadir" ]; then rm -rf "$(cat "$state/datadir")" "$state/datadir"; fi
    echo "kafka.sh: stopped, data removed"
    ;;
  status)
    if running; then echo "running (pid $(cat "$state/pid"))"; else echo "not running"; exit 1; fi
    ;;
  *)
    sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
