#!/usr/bin/env bash
# The fault run against the compose cluster: builds the image (scripts/docker-image.sh),
# brings up docker-compose.yml as its own project (zkv-fault) on its own host ports and
# network, runs zkv-fault --target compose against it (docker kill/stop/start/pause and
# per-link iptables cuts inside the containers' network namespaces), and takes the project
# down with its volumes at the end, also on failure. Exit 77 (ctest: skipped) with one line
# when no Docker engine is reachable.
#
# Usage: fault_compose.sh ZKV_FAULT HISTORY [more zkv-fault options]
# Host ports: ZKV_FAULT_PORT_BASE + 1..3 (client), + 11..13 (metrics), + 301..303 (trace) and
# + 501..503 (watch), default 61200 (the ghost-data test uses 61100, the integration tests
# 10000-32000); network ZKV_FAULT_NET_PREFIX (default 172.28.73); image ZKV_TEST_IMAGE
# (default zkv:test, as the ghost-data test); ZKV_FAULT_DURATION seconds (default 45).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fault=${1:?usage: fault_compose.sh ZKV_FAULT HISTORY [zkv-fault options]}
history=${2:?usage: fault_compose.sh ZKV_FAULT HISTORY [zkv-fault options]}
shift 2

if ! docker info >/dev/null 2>&1; then
  echo "docker: no engine reachable; fault_compose not run"
  exit 77
fi

base=${ZKV_FAULT_PORT_BASE:-61200}
project=${ZKV_FAULT_PROJECT:-zkv-fault}
export ZKV_IMAGE=${ZKV_TEST_IMAGE:-zkv:test}
export ZKV_NET_PREFIX=${ZKV_FAULT_NET_PREFIX:-172.28.73}
for n in 1 2 3; do
  export "ZKV${n}_CLIENT_PORT=$((base + n))" "ZKV${n}_TRACE_PORT=$((base + 300 + n))" \
    "ZKV${n}_WATCH_PORT=$((base + 500 + n))" "ZKV${n}_METRICS_PORT=$((base + 10 + n))"
done

compose() { "$root/scripts/compose.sh" -p "$project" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "fault-compose: $*"; }
# shellcheck source=tests/cluster/compose_lib.sh
. "$root/tests/cluster/compose_lib.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local ids
  ids=$(compose ps -q 2>/dev/null || true)
  # A container left paused by a run that died cannot be stopped.
  for id in $ids; do
    if [ "$(docker inspect -f '{{.State.Paused}}' "$id" 2>/dev/null)" = true ]; then
      docker unpause "$id" >/dev/null 2>&1 || true
    fi
  done
  if [ "$rc" -ne 0 ]; then
    log "FAIL; last lines of each node's log:"
    compose logs --no-color --tail 20 2>&1 || true
  fi
  compose down -v -t 5 >/dev/null 2>&1 || true
  exit "$rc"
}

# A leftover project from a run that was killed (ctest timeout) would hold the ports.
compose down -v -t 5 >/dev/null 2>&1 || true
trap cleanup EXIT
trap 'exit 130' INT TERM

compose_start
log "project $project up and healthy (nodes $ZKV_NET_PREFIX.11-13, client ports $((base + 1))-$((base + 3)))"

"$fault" --target compose --project "$project" --port-base "$base" \
  --net-prefix "$ZKV_NET_PREFIX" --duration "${ZKV_FAULT_DURATION:-45}" --clients 6 --keys 8 \
  --hold-ms 2000-3500 --gap-ms 500-1500 --history "$history" \
  --require-partitions --require-all-faults "$@"
