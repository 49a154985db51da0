#!/usr/bin/env bash
# scripts/run.sh end to end, on ports of its own: the three nodes answer; node 2,
# killed with SIGKILL, starts again alone with `run.sh --node 2` and catches up; the
# cluster's stop (SIGTERM, what Ctrl-C does) stops that node too, and both scripts
# exit with no zkvd of theirs left and no pid file. Certificates: made in a ZKV_CERT_DIR of
# its own (never the developer's ~/.config/zkv), secrets 0600, reused by --node 2 (which
# would not reach the others with new keys); a directory holding another cluster's
# server.cert without its secret is refused before any node starts.
# Usage: run_script.sh ZKVD ZKV RUN_SH
set -u
zkvd=$1 zkv=$2 run=$3
tmp=$(mktemp -d)
data=$tmp/data
# listening PORT: something accepts connections there.
listening() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# An offset for every port, below the ephemeral range and away from the local cluster's
# 7101-7603, where none of the 15 ports is taken.
offset=
for try in $(seq 0 19); do
  candidate=$((12000 + (($$ + try) % 20) * 1000))
  taken=
  for base in 7100 7200 7300 7400 7500 7600; do
    for i in 1 2 3; do
      listening $((base + i + candidate)) && taken=1
    done
  done
  if [ -z "$taken" ]; then
    offset=$candidate
    break
  fi
done
[ -n "$offset" ] || { echo "no free block of ports"; exit 1; }
main= single=
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

cleanup() {
  for pid in $main $single; do kill -TERM "$pid" 2>/dev/null; done
  for i in 1 2 3; do
    pid=$(cat "$data/node$i.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

endpoint() { echo "127.0.0.1:$((7100 + $1 + offset))"; }
endpoints="$(endpoint 1),$(endpoint 2),$(endpoint 3)"

# answers N: node N answers a status request at once.
answers() {
  "$zkv" --endpoints "$(endpoint "$1")" --timeout 1s status -w json 2>/dev/null |
    grep -q "\"endpoint\":\"tcp://$(endpoint "$1")\",\"reachable\":true"
}

# wait_for WHAT COMMAND...: up to 20 s for the command to succeed.
wait_for() {
  what=$1
  shift
  for _ in $(seq 200); do
    "$@" && return 0
    sleep 0.1
  done
  fail "$what: not within 20 s"
  return 1
}

# gone PID: the process ended within 15 s.
gone() {
  for _ in $(seq 150); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# zkv takes its keys from ZKV_CERT_DIR, where run.sh makes them, unless these say otherwise.
unset ZKV_CERT ZKV_SERVER_KEY ZKV_INSECURE ZKV_RUN_INSECURE
export ZKV_RUN_ZKVD=$zkvd ZKV_RUN_ZKV=$zkv ZKV_RUN_DATA=$data ZKV_RUN_PORT_OFFSET=$offset
export ZKV_CERT_DIR=$tmp/certs

bash "$run" --node 4 >/dev/null 2>&1
[ $? -eq 2 ] || fail "run.sh --node 4 is not refused with exit 2"

# A client's credentials for another cluster: refused, left as they were, no node started.
mkdir "$tmp/foreign"
echo "not ours" >"$tmp/foreign/server.cert"
ZKV_CERT_DIR=$tmp/foreign bash "$run" >"$tmp/foreign.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "Set ZKV_CERT_DIR" "$tmp/foreign.out" ||
  fail "run.sh with a foreign server.cert: exit $rc, $(cat "$tmp/foreign.out")"
[ "$(ls "$tmp/foreign")" = server.cert ] || fail "run.sh wrote to the foreign directory"
[ -e "$data" ] && fail "run.sh with a foreign server.cert made $data"

bash "$run" >"$tmp/main.out" 2>&1 &
main=$!
for i in 1 2 3; do
  wait_for "node $i answers" answers "$i"
done
"$zkv" --endpoints "$endpoints" put k v1 >/dev/null || fail "put v1"
for f in server.cert_secret client.cert_secret peers/node1.cert_secret peers/node2.cert_secret \
  peers/node3.cert_secret; do
  [ "$(stat -c %a "$tmp/certs/$f" 2>/dev/null)" = 600 ] || fail "$tmp/certs/$f is not there, mode 0600"
done
cmp -s "$tmp/certs/client.cert" "$tmp/certs/clients/client.cert" ||
  fail "clients/client.cert is not the client.cert zkv uses"
[ -e "$tmp/certs/clients/client.cert_secret" ] && fail "a secret was copied into clients/"

old=$(cat "$data/node2.pid")
kill -KILL "$old"
gone "$old" || fail "node 2 (pid $old) survived SIGKILL"
"$zkv" --endpoints "$endpoints" put k v2 >/dev/null || fail "put v2 with node 2 down"

bash "$run" --node 2 >"$tmp/single.out" 2>&1 &
single=$!
wait_for "node 2, restarted with --node 2, answers" answers 2
new=$(cat "$data/node2.pid" 2>/dev/null)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "node 2's pid file was not rewritten ($old, $new)"
caught_up() {
  [ "$("$zkv" --endpoints "$(endpoint 2)" get k --consistency s 2>/dev/null)" = v2 ]
}
wait_for "node 2 serves the write it missed" caught_up

kill -TERM "$main"
gone "$main" || fail "run.sh did not stop within 15 s"
gone "$single" || fail "run.sh --node 2 did not stop with the cluster"
gone "$new" || fail "node 2 (pid $new, started by --node 2) still runs"
for i in 1 2 3; do
  [ -e "$data/node$i.pid" ] && fail "$data/node$i.pid left behind"
done
grep -q "cluster stopped" "$tmp/main.out" || fail "run.sh: $(tail -3 "$tmp/main.out")"
grep -q "node 2 stopped" "$tmp/single.out" || fail "run.sh --node 2: $(tail -3 "$tmp/single.out")"
main= single=

if [ "$failures" -ne 0 ]; then
  echo "--- run.sh"
  cat "$tmp/main.out"
  echo "--- run.sh --node 2"
  cat "$tmp/single.out"
  exit 1
fi
echo "all passed"
