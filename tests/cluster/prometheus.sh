#!/usr/bin/env bash
# The compose cluster with its Prometheus (profile "metrics"): build both images, bring the
# nodes up without the profile (only the three nodes may start), then `--profile metrics
# up -d`, wait until Prometheus reports the three node targets up (and zkv4, listed but not
# running, down), write through the cluster, and check through Prometheus's HTTP API that
# sum(zkv_client_requests_total{op="put",status="OK"}) rose by at least the puts made.
#
# Runs its own compose project (zkv-metrics) on its own host ports and network; removes its
# containers and volumes at the end, also on failure. Exit 77 (ctest: skipped) when no
# Docker engine is reachable. Host ports: ZKV_TEST_PORT_BASE (default 61800) + 1..3
# (client), + 11..13 (metrics), + 90 (Prometheus), + 301..303 (trace), + 501..503 (watch);
# ZKV_TEST_NET_PREFIX (default 172.28.74); images ZKV_TEST_IMAGE (default zkv:test) and
# ZKV_TEST_PROMETHEUS_IMAGE (default zkv-prometheus:test). Needs curl (scripts/deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if ! docker info >/dev/null 2>&1; then
  echo "docker: no engine reachable; compose tests not run"
  exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "prometheus: curl is not installed (scripts/deps.sh installs it)"
  exit 1
fi

base=${ZKV_TEST_PORT_BASE:-61800}
export ZKV_IMAGE=${ZKV_TEST_IMAGE:-zkv:test}
export ZKV_PROMETHEUS_IMAGE=${ZKV_TEST_PROMETHEUS_IMAGE:-zkv-prometheus:test}
export ZKV_NET_PREFIX=${ZKV_TEST_NET_PREFIX:-172.28.74}
export ZKV_PROMETHEUS_PORT=$((base + 90))
for n in 1 2 3; do
  export "ZKV${n}_CLIENT_PORT=$((base + n))" "ZKV${n}_TRACE_PORT=$((base + 300 + n))" \
    "ZKV${n}_WATCH_PORT=$((base + 500 + n))" "ZKV${n}_METRICS_PORT=$((base + 10 + n))"
done
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
prom="http://127.0.0.1:$ZKV_PROMETHEUS_PORT"
zkv="$root/build/cli/zkv"
project=zkv-metrics
puts=25

compose() { "$root/scripts/compose.sh" -p "$project" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "prometheus: $*"; }
# shellcheck source=tests/cluster/compose_lib.sh
. "$root/tests/cluster/compose_lib.sh"

# The value of an instant query whose result is one sample ("" when it has none or
# Prometheus does not answer), from the JSON by sed: {"value":[<time>,"<value>"]}.
query() {
  local json
  json=$(curl -s --max-time 2 -G --data-urlencode "query=$1" "$prom/api/v1/query" || true)
  sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p' <<<"$json"
}

# Poll query "$1" until its value is at least "$2", at most "$3" seconds; prints the value.
wait_at_least() {
  local deadline=$(($(now_ms) + $3 * 1000)) v=""
  while [ "$(now_ms)" -lt "$deadline" ]; do
    v=$(query "$1")
    if [ -n "$v" ] && awk -v v="$v" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'; then
      echo "$v"
      return 0
    fi
    sleep 0.5
  done
  log "'$1' did not reach $2 within $3 s (last value: '$v')" >&2
  return 1
}

# "$1" answers HTTP 200 at the URL "$2".
expect_200() {
  local code
  code=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$2" || true)
  [ "$code" = 200 ] || { log "$1: HTTP $code from $2"; exit 1; }
}

# A leftover project from a run that was killed (ctest timeout) would hold the ports.
compose --profile metrics down -v -t 5 >/dev/null 2>&1 || true
trap 'compose_cleanup --profile metrics' EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
bash "$root/scripts/prometheus-image.sh" "$ZKV_PROMETHEUS_IMAGE" >/dev/null
log "image $ZKV_PROMETHEUS_IMAGE built in $(($(now_ms) - t0)) ms"

# Without the profile: the three nodes and nothing else.
compose_start
started=$(docker ps -a --filter "label=com.docker.compose.project=$project" \
  --format '{{.Label "com.docker.compose.service"}}' | sort | tr '\n' ' ')
[ "$started" = "zkv1 zkv2 zkv3 " ] || { log "up -d without the profile started: $started"; exit 1; }
log "up -d without the profile: only zkv1 zkv2 zkv3, healthy"

# Each node's metrics port, published on the host.
for n in 1 2 3; do
  port=$((base + 10 + n))
  text=$(curl -s --max-time 2 "127.0.0.1:$port/metrics" || true)
  grep -q '^zkv_raft_term ' <<<"$text" ||
    { log "no zkv_raft_term at 127.0.0.1:$port/metrics (node $n)"; exit 1; }
done
log "each node's /metrics answers on its host port ($((base + 11))-$((base + 13)))"

t0=$(now_ms)
if ! out=$(compose --profile metrics up -d 2>&1); then
  echo "$out" >&2
  exit 1
fi
retry "$zkv" --endpoints "$endpoints" --timeout 2s put ready yes
wait_at_least 'count(up{job="zkv"} == 1)' 3 60 >/dev/null
log "prometheus sees the three node targets up $(($(now_ms) - t0)) ms after up -d"
# Each target's first scrape comes at its own offset in the interval: wait for zkv4's too.
wait_at_least 'count(up{job="zkv"})' 4 30 >/dev/null
down=$(query 'up{instance="zkv4:7504"}')
[ "$down" = 0 ] || { log "zkv4 (not running) should be a target that is down, up is '$down'"; exit 1; }
targets=$(curl -s --max-time 2 "$prom/api/v1/targets" || true)
# Its entry, up to its lastError (a JSON string, with \" inside).
err=$(grep -o '"scrapeUrl":"http://zkv4:7504/metrics"[^}]*' <<<"$targets" |
  grep -o '"lastError":"\([^"\\]\|\\.\)*"' || true)
log "zkv4, not running, is a target that is down, the others up (${err:-no lastError})"
expect_200 "the UI" "$prom/classic/graph"
expect_200 "the UI's jquery" "$prom/classic/static/jquery/jquery.min.js"

# The "ready" put counted: every scrape from here on follows it.
ok='sum(zkv_client_requests_total{op="put",status="OK"}) or vector(0)'
before=$(wait_at_least "$ok" 1 30)
for i in $(seq 1 $puts); do
  "$zkv" --endpoints "$endpoints" put "m/$i" "v$i" >/dev/null
done
t0=$(now_ms)
after=$(wait_at_least "$ok" "$((before + puts))" 30)
log "$puts puts: prometheus counted $before before, $after after ($(($(now_ms) - t0)) ms after the last put)"
log "PASS: prometheus scraped the three nodes by service name and counted every put"
