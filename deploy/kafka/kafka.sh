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
#
# KAFKA_SECURE=true (read by `up`) adds two secured listeners to the same broker, with a CA and
# certificates generated at start under $KAFKA_STATE/tls (never in the repository):
#   KAFKA_SASL_PORT (KAFKA_PORT+2)  SASL_SSL, SCRAM-SHA-512; users admin, ingress, forwarder, dlq
#                                   with random passwords in $KAFKA_STATE/secrets/<user>.password
#   KAFKA_MTLS_PORT (KAFKA_PORT+3)  SSL, a client certificate required; $KAFKA_STATE/tls/<user>.pem
#                                   and <user>-key.pem, principal User:<CN> (same names as SCRAM)
# with StandardAuthorizer and allow.everyone.if.no.acl.found=false: a service principal gets only
# the ACLs given to it (bin/kafka-acls, from deploy/acls). User:admin is a super user, and so is the
# PLAINTEXT listener on KAFKA_PORT (User:ANONYMOUS): it stays the loopback-only back door for
# the inter-broker traffic, the tests' own tools and the other tests. $KAFKA_STATE/secure.env
# lists the ports and paths. With KAFKA_OAUTH_JWKS_FILE (a JWKS file of the keys that sign
# tokens) the SASL_SSL listener also takes OAUTHBEARER, validating the tokens' signature, expiry
# and audience (KAFKA_OAUTH_AUDIENCE, default kafka); the principal is the token's sub.
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

secure=${KAFKA_SECURE:-false}
jwks=${KAFKA_OAUTH_JWKS_FILE:-}
sasl_port=${KAFKA_SASL_PORT:-$((port + 2))}
mtls_port=${KAFKA_MTLS_PORT:-$((port + 3))}
users="admin ingress forwarder dlq"

write_config() {
  local data=$1
  local listeners="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ "$secure" = true ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port,SSL://127.0.0.1:$mtls_port"
    protocols="$protocols,SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
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
  if [ "$secure" = true ]; then
    local tls=$state/tls
    cat >>"$data/server.properties" <<PROPS
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
sasl.enabled.mechanisms=SCRAM-SHA-512${jwks:+,OAUTHBEARER}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)(,.*)?\$/\$1/,DEFAULT
PROPS
  fi
  if [ "$secure" = true ] && [ -n "$jwks" ]; then
    cat >>"$data/server.properties" <<PROPS
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
sasl.oauthbearer.jwks.endpoint.url=file://$jwks
sasl.oauthbearer.expected.audience=${KAFKA_OAUTH_AUDIENCE:-kafka}
# A session ends when its token expires (at most after this): clients re-authenticate with a
# fresh token on their open connections (KIP-368).
listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms=600000
PROPS
    # Kafka reads a JWKS file only when the JVM allows it by name.
    echo "-Dorg.apache.kafka.sasl.oauthbearer.allowed.files=$jwks" >"$data/jvm.opts"
  fi
}

# make_tls writes a CA, the broker's certificate (127.0.0.1 and localhost) and one client
# certificate per user, all PEM, under $state/tls.
make_tls() {
  command -v openssl >/dev/null || die "openssl is not installed: the secured broker's certificates need it"
  local tls=$state/tls
  rm -rf "$tls"; mkdir -p "$tls"; chmod 700 "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=eventfwd test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    sign() { # name subject [extension]
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        ${3:+-extfile <(printf '%s' "$3")} -out "$1.pem" 2>/dev/null
      rm -f "$1.csr"
    }
    sign broker "/CN=localhost" "subjectAltName=IP:127.0.0.1,DNS:localhost"
    # Kafka's PEM keystore: the PKCS#8 key and its certificate in one file.
    openssl pkcs8 -topk8 -nocrypt -in broker-key.pem -out broker-p8.pem
    cat broker-p8.pem broker.pem >broker-keystore.pem
    for u in $users; do sign "$u" "/CN=$u"; done
  )
}

make_secrets() {
  mkdir -p "$state/secrets"; chmod 700 "$state/secrets"
  local scram=() u
  for u in $users; do
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$state/secrets/$u.password"
    scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(cat "$state/secrets/$u.password")]")
  done
  printf '%s\n' "${scram[@]}" >"$state/secrets/format.args"
  cat >"$state/secure.env" <<ENV
KAFKA_PLAIN_BROKERS=127.0.0.1:$port
KAFKA_SASL_BROKERS=127.0.0.1:$sasl_port
KAFKA_MTLS_BROKERS=127.0.0.1:$mtls_port
KAFKA_TLS_CA_FILE=$state/tls/ca.pem
KAFKA_TLS_DIR=$state/tls
KAFKA_SECRETS_DIR=$state/secrets
ENV
}

start_broker() {
  local data
  data=$(cat "$state/datadir" 2>/dev/null) || die "no data folder: run 'kafka.sh up' first"
  [ -d "$data" ] || die "data folder $data is gone: run 'kafka.sh up'"
  : >"$state/kafka.log"
  # The broker runs in its own session so that the caller's Ctrl-C or exit does not reach it.
  local opts=()
  [ -f "$data/jvm.opts" ] && mapfile -t opts <"$data/jvm.opts"
  setsid java -Xms"$heap" -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logfile="$state/kafka.log" "${opts[@]}" kafka.Kafka "$data/server.properties" \
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
    scram=()
    if [ "$secure" = true ]; then
      make_tls
      make_secrets
      mapfile -t scram <"$state/secrets/format.args"
    else
      rm -f "$state/secure.env"
    fi
    cluster_id=$(java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool random-uuid)
    java_cmd -Dkafka.logfile="$state/format.log" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$data/server.properties" "${scram[@]}" >"$state/format.out" 2>&1 \
      || { cat "$state/format.out" >&2; die "formatting the storage failed"; }
    start_broker
    if [ "$secure" = true ]; then
      echo "kafka.sh: secured listeners: SASL_SSL (SCRAM-SHA-512) 127.0.0.1:$sasl_port, mutual TLS 127.0.0.1:$mtls_port; CA $state/tls/ca.pem, passwords in $state/secrets (see $state/secure.env)"
    fi
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
    rm -rf "$state/tls" "$state/secrets" "$state/secure.env"
    echo "kafka.sh: stopped, data removed"
    ;;
  status)
    if running; then echo "running (pid $(cat "$state/pid"))"; else echo "not running"; exit 1; fi
    ;;
  *)
    sed -n '2,26p' "$0" >&2; exit 2 ;;
esac
