#!/usr/bin/env bash
# A real three-broker Apache Kafka cluster (KRaft, each process broker+controller, a quorum of
# three) on 127.0.0.1, for the failover tests. Same jars as kafka.sh (fetched by it).
#
#   cluster.sh up        format three fresh data folders, start the three nodes, wait until ready
#   cluster.sh down      stop every node and delete the data
#   cluster.sh kill N    kill -9 node N (1..3), keep its data
#   cluster.sh start N   start node N again on its data, wait until it is ready
#   cluster.sh status    which nodes run
#
# Settings: KAFKA_CLUSTER_PORTS (three broker ports, comma-separated; 29390,29392,29394),
# KAFKA_CLUSTER_CONTROLLER_PORTS (29391,29393,29395), KAFKA_CLUSTER_STATE
# (/tmp/eventfwd-kafka-cluster), KAFKA_HEAP (384m per node). Internal topics get replication 3
# and min.insync.replicas 2; topics made by clients get what they ask for.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
IFS=, read -r -a ports <<<"${KAFKA_CLUSTER_PORTS:-29390,29392,29394}"
IFS=, read -r -a cports <<<"${KAFKA_CLUSTER_CONTROLLER_PORTS:-29391,29393,29395}"
state=${KAFKA_CLUSTER_STATE:-/tmp/eventfwd-kafka-cluster}
heap=${KAFKA_HEAP:-384m}
libs="$here/target/libs"
mkdir -p "$state"

die() { echo "cluster.sh: $*" >&2; exit 1; }
[ ${#ports[@]} -eq 3 ] && [ ${#cports[@]} -eq 3 ] || die "KAFKA_CLUSTER_PORTS and KAFKA_CLUSTER_CONTROLLER_PORTS need three ports each"

java_cmd() { java -Xms"$heap" -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" "$@"; }

pidfile() { echo "$state/node$1.pid"; }
running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }

voters() {
  local v="" i
  for i in 1 2 3; do v="$v${v:+,}$i@127.0.0.1:${cports[$((i - 1))]}"; done
  echo "$v"
}

write_config() { # node data
  local i=$1 data=$2 p=${ports[$(($1 - 1))]} c=${cports[$(($1 - 1))]}
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$c
advertised.listeners=PLAINTEXT://127.0.0.1:$p
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
num.partitions=6
default.replication.factor=3
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# A killed node is fenced, and its partitions led elsewhere, after 4 s without heartbeats.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
PROPS
}

start_node() { # node
  local i=$1 data
  data=$(cat "$state/node$i.datadir" 2>/dev/null) || die "no data folder for node $i: run 'cluster.sh up' first"
  : >"$state/node$i.log"
  setsid java -Xms"$heap" -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -Dkafka.logfile="$state/node$i.log" kafka.Kafka "$data/server.properties" \
    >"$state/node$i.stdout" 2>&1 </dev/null &
  echo $! >"$(pidfile "$i")"
}

wait_node() { # node
  local i=$1 deadline=$((SECONDS + 120))
  until grep -q "Kafka Server started" "$state/node$i.log" 2>/dev/null; do
    running "$i" || { tail -30 "$state/node$i.stdout" "$state/node$i.log" >&2; die "node $i exited while starting (log: $state/node$i.log)"; }
    [ $SECONDS -lt $deadline ] || die "node $i did not start within 120 s (log: $state/node$i.log)"
    sleep 0.2
  done
}

stop_node() { # node
  local i=$1 pid
  running "$i" || { rm -f "$(pidfile "$i")"; return 0; }
  pid=$(cat "$(pidfile "$i")")
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$(pidfile "$i")"
}

node_arg() {
  case "${1:-}" in 1|2|3) echo "$1" ;; *) die "name a node: 1, 2 or 3" ;; esac
}

case "${1:-}" in
  up)
    command -v java >/dev/null || die "java is not installed: the real Kafka brokers need Java 17+"
    [ -f "$libs/.complete" ] || die "the Kafka jars are missing: run 'deploy/kafka/kafka.sh up' once (it fetches them)"
    for i in 1 2 3; do running "$i" && die "node $i already runs (pid $(cat "$(pidfile "$i")")): cluster.sh down first"; done
    cluster_id=$(java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool random-uuid)
    for i in 1 2 3; do
      data=$(mktemp -d /tmp/eventfwd-kafka-cluster-data.XXXXXX)
      echo "$data" >"$state/node$i.datadir"
      write_config "$i" "$data"
      java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$data/server.properties" >"$state/format$i.out" 2>&1 \
        || { cat "$state/format$i.out" >&2; die "formatting node $i failed"; }
    done
    for i in 1 2 3; do start_node "$i"; done
    for i in 1 2 3; do wait_node "$i"; done
    echo "cluster.sh: Apache Kafka three-node cluster ready on 127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
    ;;
  down)
    for i in 1 2 3; do stop_node "$i"; done
    for i in 1 2 3; do
      if [ -f "$state/node$i.datadir" ]; then rm -rf "$(cat "$state/node$i.datadir")" "$state/node$i.datadir"; fi
    done
    echo "cluster.sh: stopped, data removed"
    ;;
  kill)
    i=$(node_arg "${2:-}")
    running "$i" || die "node $i does not run"
    kill -9 "$(cat "$(pidfile "$i")")"
    while running "$i"; do sleep 0.1; done
    rm -f "$(pidfile "$i")"
    echo "cluster.sh: node $i killed (kill -9)"
    ;;
  start)
    i=$(node_arg "${2:-}")
    running "$i" && { echo "cluster.sh: node $i already runs"; exit 0; }
    start_node "$i"
    wait_node "$i"
    echo "cluster.sh: node $i started"
    ;;
  status)
    for i in 1 2 3; do
      if running "$i"; then echo "node $i: running (pid $(cat "$(pidfile "$i")"))"; else echo "node $i: not running"; fi
    done
    ;;
  *)
    sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
