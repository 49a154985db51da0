#!/usr/bin/env bash
# zkvd's start-up mistakes, each one line on stderr: a port in use named with its role
# and the reason; a member host given as a name (localhost) resolved and served, not a
# failed bind; a port out of range or used twice in --peers refused before anything
# starts; no certificates, or certificates and --insecure both, a secret others may read
# and another node's peer certificate refused the same way. A node with certificates
# (made with zkv cert new) serves a client that has its key; one with --insecure says it
# runs in plaintext, loudly, and serves a client that says --insecure. And --version, from
# the project's version.
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
# (a * matches anything).
refused() {
  name=$1 want_rc=$2 want=$3
  shift 3
  timeout 10 "$zkvd" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, want $want_rc: $(cat "$tmp/err")"
  # shellcheck disable=SC2053 # $want is a pattern: its * matches
  [[ "$(cat "$tmp/err")" == $want ]] || fail "$name: stderr
---- got
$(cat "$tmp/err")
---- want
$want"
}

[ "$("$zkvd" --version)" = "zkvd $version" ] || fail "zkvd --version: $("$zkvd" --version)"

# Node 1's certificates, as an operator makes them; the flags name the public files (the
# secret ones are found beside them). The environment says nothing of keys.
unset ZKV_INSECURE ZKV_CERT ZKV_SERVER_KEY ZKV_CERT_DIR ZKV_SERVER_CERT ZKV_PEER_CERT \
  ZKV_PEER_CERTS ZKV_CLIENT_CERTS ZKV_TRACE_CERTS ZKV_ACL
c=$tmp/certs
{
  "$zkv" cert new server --dir "$c" &&
    "$zkv" cert new node1 --dir "$c/peers" --node-id 1 &&
    "$zkv" cert new client --dir "$c/clients"
} >/dev/null || fail "zkv cert new"
secure=(--server-cert "$c/server.cert" --peer-cert "$c/peers/node1.cert" --peer-certs "$c/peers"
  --client-certs "$c/clients")
client=(--cert "$c/clients/client.cert" --server-key "$c/server.cert")

# A member host that is a name: resolved, and the node serves.
"$zkvd" --id 1 --peers "1=localhost:$((p + 1)):$((p + 2)):$((p + 3))" --trace-port $((p + 4)) \
  --watch-port $((p + 5)) --metrics-port $((p + 6)) --data-dir "$tmp/a" "${secure[@]}" \
  2>"$tmp/a.err" &
node=$!
served=
for _ in $(seq 100); do
  if "$zkv" "${client[@]}" --endpoints "127.0.0.1:$((p + 3))" --timeout 1s put k v >/dev/null 2>&1; then
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
  --metrics-port $((p + 16)) --data-dir "$tmp/b" "${secure[@]}"
refused client-port-in-use 1 \
  "zkvd: cannot bind tcp://127.0.0.1:$((p + 3)) (the client port, in --peers): Address already in use" \
  --id 1 --peers "1=127.0.0.1:$((p + 11)):$((p + 12)):$((p + 3))" --trace-port $((p + 14)) \
  --watch-port $((p + 15)) --metrics-port $((p + 16)) --data-dir "$tmp/b" "${secure[@]}"

# --peers mistakes: refused at parse time, exit 2.
refused port-out-of-range 2 \
  "zkvd: --peers: member 2: port 99999 is out of range (1 to 65535) in 'h:1:2:99999' (HOST:PUB:ROUTER:CLIENT)" \
  --id 1 --peers "$peers2,2=h:1:2:99999" --data-dir "$tmp/b" "${secure[@]}"
refused port-zero 2 \
  "zkvd: --peers: member 2: port 0 is out of range (1 to 65535) in 'h:0:2:3' (HOST:PUB:ROUTER:CLIENT)" \
  --id 1 --peers "$peers2,2=h:0:2:3" --data-dir "$tmp/b" "${secure[@]}"
refused same-host-port 2 \
  "zkvd: --peers: members 1 and 2 both use 127.0.0.1:$((p + 13)) (CLIENT and PUB)" \
  --id 1 --peers "$peers2,2=127.0.0.1:$((p + 13)):$((p + 22)):$((p + 23))" --data-dir "$tmp/b" "${secure[@]}"
refused unresolvable 2 \
  "zkvd: cannot listen on 'nosuch.invalid' (--listen, else this member's host in --peers): *" \
  --id 1 --peers "1=nosuch.invalid:$((p + 11)):$((p + 12)):$((p + 13))" --data-dir "$tmp/b" "${secure[@]}"

# Security mistakes: refused at parse time, exit 2, before any port is bound.
refused no-certificates 2 "zkvd: no certificates: give --server-cert, --peer-cert, *--insecure*" \
  --id 1 --peers "$peers2" --data-dir "$tmp/b"
refused insecure-and-certificates 2 "zkvd: --insecure and certificates both given*" \
  --id 1 --peers "$peers2" --data-dir "$tmp/b" --insecure --client-certs "$c/clients"
mkdir "$tmp/open"
cp "$c/server.cert" "$c/server.cert_secret" "$tmp/open/"
chmod 0644 "$tmp/open/server.cert_secret"
refused secret-others-read 2 \
  "zkvd: --server-cert: secret key file $tmp/open/server.cert_secret may be read by others (mode 0644)*" \
  --id 1 --peers "$peers2" --data-dir "$tmp/b" "${secure[@]}" --server-cert "$tmp/open/server.cert"
refused another-nodes-peer-cert 2 "zkvd: --peer-cert $c/peers/node1.cert is node 1's, not node 2's*" \
  --id 2 --peers "2=127.0.0.1:$((p + 11)):$((p + 12)):$((p + 13))" --data-dir "$tmp/b" "${secure[@]}"

kill -TERM "$node"
wait "$node" || fail "the node on localhost did not stop cleanly: $(cat "$tmp/a.err")"
node=

# --insecure: said on stderr at start, and a client without keys that says --insecure is
# served (on the first node's ports, now free).
"$zkvd" --id 1 --peers "1=127.0.0.1:$((p + 1)):$((p + 2)):$((p + 3))" --trace-port $((p + 4)) \
  --watch-port $((p + 5)) --metrics-port $((p + 6)) --data-dir "$tmp/i" --insecure \
  2>"$tmp/i.err" &
node=$!
served=
for _ in $(seq 100); do
  if "$zkv" --insecure --endpoints "127.0.0.1:$((p + 3))" --timeout 1s put k v >/dev/null 2>&1; then
    served=1
    break
  fi
  sleep 0.1
done
[ -n "$served" ] || fail "an --insecure node does not serve zkv --insecure: $(cat "$tmp/i.err")"
grep -q "^zkvd: WARNING: --insecure" "$tmp/i.err" ||
  fail "an --insecure node does not warn: $(cat "$tmp/i.err")"
kill -TERM "$node"
wait "$node" || fail "the --insecure node did not stop cleanly: $(cat "$tmp/i.err")"
node=

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
