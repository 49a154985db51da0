#!/usr/bin/env bash
# Replace a node whose disk is gone, on the compose cluster: write keys, stop node 3's
# container and remove it with its volume, remove member 3, add member 4 as a learner,
# start the spare container zkv4 (profile "spare", ZKV_JOIN=1), promote it once it has
# caught up, and read every key from node 4 alone. Then the cluster of 1, 2 and 4 takes
# a write, and the member list holds exactly them.
#
# Runs its own compose project (zkv-replace) on its own host ports and network; removes
# its containers and volumes at the end, also on failure. Exit 77 (ctest: skipped) when
# no Docker engine is reachable. Host ports: ZKV_TEST_PORT_BASE (default 61200) + 1..4
# (client), + 11..14 (metrics), + 301..304 (trace) and + 501..504 (watch);
# ZKV_TEST_NET_PREFIX (default 172.28.73).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if ! docker info >/dev/null 2>&1; then
  echo "docker: no engine reachable; compose tests not run"
  exit 77
fi

base=${ZKV_TEST_PORT_BASE:-61200}
export ZKV_IMAGE=${ZKV_TEST_IMAGE:-zkv:test}
export ZKV_NET_PREFIX=${ZKV_TEST_NET_PREFIX:-172.28.73}
for n in 1 2 3 4; do
  export "ZKV${n}_CLIENT_PORT=$((base + n))" "ZKV${n}_TRACE_PORT=$((base + 300 + n))" \
    "ZKV${n}_WATCH_PORT=$((base + 500 + n))" "ZKV${n}_METRICS_PORT=$((base + 10 + n))"
done
endpoints="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 4))"
node4="127.0.0.1:$((base + 4))"
zkv="$root/build/cli/zkv"
keys=300

compose() { "$root/scripts/compose.sh" -p zkv-replace "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "replace-node: $*"; }
# shellcheck source=tests/cluster/compose_lib.sh
. "$root/tests/cluster/compose_lib.sh"

compose --profile spare down -v -t 5 >/dev/null 2>&1 || true
trap 'compose_cleanup --profile spare' EXIT
trap 'exit 130' INT TERM

compose_start
retry "$zkv" --endpoints "$endpoints" --timeout 2s put ready yes
for i in $(seq 1 $keys); do
  echo "put k$i v$i"
done | while read -r _ k v; do "$zkv" --endpoints "$endpoints" put "$k" "$v" >/dev/null; done
log "$keys keys written"

zkv3_id=$(compose ps -q zkv3)
compose stop -t 10 zkv3 >/dev/null 2>&1
compose rm -f zkv3 >/dev/null 2>&1
docker volume rm "zkv-replace_zkv3-data" >/dev/null
[ -z "$(docker ps -aq --filter id="$zkv3_id")" ]
log "node 3's container and volume removed"

"$zkv" --endpoints "$endpoints" member remove 3
"$zkv" --endpoints "$endpoints" member add 4 "$ZKV_NET_PREFIX.14:7204:7304" \
  "$ZKV_NET_PREFIX.14:7104" --learner
compose --profile spare up -d zkv4 >/dev/null 2>&1
retry "$zkv" --endpoints "$endpoints" member promote 4
log "node 4 joined and was promoted"

for i in $(seq 1 $keys); do
  got=$("$zkv" --endpoints "$node4" get "k$i" --consistency s)
  [ "$got" = "v$i" ] || { log "node 4 returned '$got' for k$i"; exit 1; }
done
log "node 4 holds every key"

"$zkv" --endpoints "$endpoints" put after replace >/dev/null
list=$("$zkv" --endpoints "$endpoints" member list -w json)
for id in 1 2 4; do
  grep -q "\"id\":$id," <<<"$list" || { log "member $id missing: $list"; exit 1; }
done
if grep -q '"id":3,' <<<"$list"; then
  log "member 3 still listed: $list"
  exit 1
fi
grep -q '"removed":\[3\]' <<<"$list" || { log "3 not among the removed: $list"; exit 1; }
"$zkv" --endpoints "$endpoints" member list
log "PASS: node 3 (volume gone) replaced by node 4, every key there"
