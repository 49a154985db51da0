#!/usr/bin/env bash
# zkvd's start-up mistakes, each one line on stderr: a port in use named with its role
# and the reason; a member host given as a name (localhost) resolved and served, not a
# failed bind; a port out of range or used twice in --peers refused before anything
# starts. And --version, from the project's version.
# Usage: zkvd_start.sh ZKVD ZKV VERSION
set -u
zkvd=$1 zkv=$2 version=$3
tmp=$(mktemp -d)
node=
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

cleanup() {
  [ -n "$node" ] && kill -KILL "$node" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

listening() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Six free ports from p+1, below the ephemeral range.
p=
for try in $(seq 0 19); do
  candidate=$((21000 + (($$ + try) % 40) * 100))
  taken=
  for i in 1 2 3 4 5 6; do
    listening $((candidate + i)) && taken=1
  done
  if [ -z "$taken" ]; then
    p=$candidate
    break
  fi
done
[ -n "$p" ] || { echo "no free block of ports"; exit 1; }

# refused NAME RC LINE ARGS...: zkvd exits with RC within 10 s, its stderr exactly LINE
# (a trailing * matches anything).
refused() {
  name=$1 want_rc=$2 want=$3
  shift 3
  timeout 10 "$zkvd" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, want $want_rc: $(cat "$tmp/err")"
  # shellcheck disable=SC2053 # $want is a pattern: its trailing * matches
  [[ "$(cat "$tmp/err")" == $want ]] || fail "$name: stderr
---- got
$(cat "$tmp/err")
---- want
$want"
}

[ "$("$zkvd" --version)" = "zkvd $version" ] || fail "zkvd --version: $("$zkvd" --version)"

# A member host that is a name: resolved, and the node serves.
"$zkvd" --id 1 --peers "1=localhost:$((p + 1)):$((p + 2)):$((p + 3))" --trace-port $((p + 4)) \
  --watch-port $((p + 5)) --metrics-port $((p + 6)) --data-dir "$tmp/a" 2>"$tmp/a.err" &
node=$!
served=
for _ in $(seq 100); do
  if "$zkv" --endpoints "127.0.0.1:$((p + 3))" --timeout 1s put k v >/dev/null 2>&1; then
    served=1
    break
  fi
  sleep 0.1
done
[ -n "$served" ] || fail "a node on host localhost does not serve: $(cat "$tmp/a.err")"

# Ports in use, each named with its role.
peers2="1=127.0.0.1:$((p + 11)):$((p + 12)):$((p + 13))"
refused trace-port-in-use 1 \
  "zkvd: cannot bind tcp://127.0.0.1:$((p + 3)) (the trace port, --trace-port): Address already in use" \
  --id 1 --peers "$peers2" --trace-port $((p + 3)) --watch-port $((p + 15)) \
  --metrics-port $((p + 16)) --data-dir "$tmp/b"
refused client-port-in-use 1 \
  "zkvd: cannot bind tcp://127.0.0.1:$((p + 3)) (the client port, in --peers): Address already in use" \
  --id 1 --peers "1=127.0.0.1:$((p + 11)):$((p + 12)):$((p + 3))" --trace-port $((p + 14)) \
  --watch-port $((p + 15)) --metrics-port $((p + 16)) --data-dir "$tmp/b"

# --peers mistakes: refused at parse time, exit 2.
refused port-out-of-range 2 \
  "zkvd: --peers: member 2: port 99999 is out of range (1 to 65535) in 'h:1:2:99999' (HOST:PUB:ROUTER:CLIENT)" \
  --id 1 --peers "$peers2,2=h:1:2:99999" --data-dir "$tmp/b"
refused port-zero 2 \
  "zkvd: --peers: member 2: port 0 is out of range (1 to 65535) in 'h:0:2:3' (HOST:PUB:ROUTER:CLIENT)" \
  --id 1 --peers "$peers2,2=h:0:2:3" --data-dir "$tmp/b"
refused same-host-port 2 \
  "zkvd: --peers: members 1 and 2 both use 127.0.0.1:$((p + 13)) (CLIENT and PUB)" \
  --id 1 --peers "$peers2,2=127.0.0.1:$((p + 13)):$((p + 22)):$((p + 23))" --data-dir "$tmp/b"
refused unresolvable 2 \
  "zkvd: cannot listen on 'nosuch.invalid' (--listen, else this member's host in --peers): *" \
  --id 1 --peers "1=nosuch.invalid:$((p + 11)):$((p + 12)):$((p + 13))" --data-dir "$tmp/b"

kill -TERM "$node"
wait "$node" || fail "the node on localhost did not stop cleanly: $(cat "$tmp/a.err")"
node=

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
