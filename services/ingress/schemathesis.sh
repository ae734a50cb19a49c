#!/usr/bin/env bash
# Runs schemathesis (from PyPI, in a virtualenv under /tmp) against a running ingress started
# here from bin/ingress on the brokers in KAFKA_BROKERS, with a real token. It fails on any 5xx
# and on any answer (status, content type, body) that the OpenAPI document does not allow.
#
#   KAFKA_BROKERS=127.0.0.1:9092 services/ingress/schemathesis.sh
#
# Settings: KAFKA_BROKERS (127.0.0.1:9092), BIN_DIR (bin/ at the repository root),
# ST_MAX_EXAMPLES (40 per operation), ST_MAX_TIME (seconds, 90), ST_VENV (/tmp/eventfwd-schemathesis).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${BIN_DIR:-$root/bin}
brokers=${KAFKA_BROKERS:-127.0.0.1:9092}
venv=${ST_VENV:-/tmp/eventfwd-schemathesis}
max_examples=${ST_MAX_EXAMPLES:-40}
max_time=${ST_MAX_TIME:-90}

die() { echo "schemathesis.sh: $*" >&2; exit 1; }

[ -x "$bin/ingress" ] || die "$bin/ingress is missing: run 'make build'"
if [ ! -x "$venv/bin/st" ]; then
  echo "schemathesis.sh: installing schemathesis into $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$venv/bin/pip" install -q 'schemathesis>=4.3,<5' || die "pip install schemathesis failed"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin_port=$(free_port)
url="http://127.0.0.1:$port"
admin="http://127.0.0.1:$admin_port"
secret="st-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work=$(mktemp -d /tmp/eventfwd-schemathesis-run.XXXXXX)
INGRESS_ADDR=127.0.0.1:$port INGRESS_ADMIN_ADDR=127.0.0.1:$admin_port KAFKA_BROKERS=$brokers EVENTS_TOPIC="schemathesis.$port" \
  AUTH_CLIENTS="st:$secret" JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$bin/ingress" >"$work/ingress.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fsS "$admin/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/ingress.log" >&2; die "the ingress exited while starting"; }
  sleep 0.2
done
curl -fsS "$admin/readyz" >/dev/null || { tail -20 "$work/ingress.log" >&2; die "the ingress is not ready at $url"; }

token=$(curl -fsS -H 'Content-Type: application/json' -d "{\"client_id\":\"st\",\"client_secret\":\"$secret\"}" "$url/auth/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || die "could not get a token"

echo "schemathesis.sh: testing $url against its /openapi.json"
status=0
"$venv/bin/st" run "$url/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --max-examples "$max_examples" --max-time "$max_time" \
  --seed 4 --no-color --report-dir "$work/report" || status=$?
if grep -q '"level":"ERROR"' "$work/ingress.log"; then
  echo "schemathesis.sh: the ingress logged errors:" >&2
  grep '"level":"ERROR"' "$work/ingress.log" | head -5 >&2
  status=1
fi
exit $status
