#!/usr/bin/env bash
# Build zkv and run a local 3-node cluster on 127.0.0.1 in the foreground.
#   scripts/run.sh             the three nodes; Ctrl-C stops them cleanly
#   scripts/run.sh --node N    node N alone, in the foreground, with the cluster's peers,
#                              ports and data directory: a node that died (kill -9) while
#                              the others run starts again this way
# Data lives in ./data (ZKV_RUN_DATA to change). Each node's pid is in <data>/node<N>.pid
# while it runs, so that the cluster's Ctrl-C also stops a node that --node started; only
# a pid whose command line is that node's zkvd is ever signalled.
# Every socket but the metrics port speaks CURVE: on first start scripts/certs.sh makes the
# cluster's certificates in ZKV_CERT_DIR (default ~/.config/zkv), where `zkv` looks by
# default, and later starts reuse them (they outlive ./data). A directory holding a client's
# certificates for another cluster is refused: set ZKV_CERT_DIR to another.
# ZKV_RUN_INSECURE=1 runs the nodes without CURVE (zkvd --insecure; then zkv --insecure).
# For tests: ZKV_RUN_ZKVD=PATH runs that zkvd and builds nothing (certificates are made with
# ZKV_RUN_ZKV, default the zkv of its build tree); ZKV_RUN_PORT_OFFSET=N moves every port N up.
set -euo pipefail
# Where zkv looks too: a relative ZKV_CERT_DIR means the caller's directory, not ours.
certs=${ZKV_CERT_DIR:-${HOME:?}/.config/zkv}
[[ $certs == /* ]] || certs=$PWD/$certs
cd "$(dirname "$0")/.."

node=
case "${1:-}" in
"") ;;
--node)
  node=${2:-}
  if [[ ! $node =~ ^[123]$ ]]; then
    echo "run.sh: --node wants 1, 2 or 3" >&2
    exit 2
  fi
  ;;
*)
  echo "usage: scripts/run.sh [--node 1|2|3]" >&2
  exit 2
  ;;
esac

zkvd=${ZKV_RUN_ZKVD:-}
if [ -z "$zkvd" ]; then
  bash scripts/build.sh
  zkvd=./build/actors/zkvd
fi
zkv=${ZKV_RUN_ZKV:-$(dirname "$zkvd")/../cli/zkv}
data=${ZKV_RUN_DATA:-data}
offset=${ZKV_RUN_PORT_OFFSET:-0}
port() { echo $(($1 + offset)); } # port 7101: node 1's client port, moved
peers=
for i in 1 2 3; do
  peers+="${peers:+,}$i=127.0.0.1:$(port $((7200 + i))):$(port $((7300 + i))):$(port $((7100 + i)))"
done
pids=()

# The nodes' security comes from here alone: a ZKV_INSECURE exported for a client (or a
# ZKV_SERVER_CERT, ...) would contradict the flags below and stop zkvd.
unset ZKV_INSECURE ZKV_SERVER_CERT ZKV_PEER_CERT ZKV_PEER_CERTS ZKV_CLIENT_CERTS
insecure=${ZKV_RUN_INSECURE:-0}
if [ "$insecure" = 1 ]; then
  unset ZKV_TRACE_CERTS ZKV_ACL
else
  bash scripts/certs.sh "$zkv" "$certs" 3 ZKV_CERT_DIR
fi

# security N: node N's security flags, into the array flags.
security() {
  if [ "$insecure" = 1 ]; then
    flags=(--insecure)
  else
    flags=(--server-cert "$certs/server.cert_secret" --peer-cert "$certs/peers/node$1.cert_secret"
      --peer-certs "$certs/peers" --client-certs "$certs/clients")
  fi
}

# start N: node N in the background, its output prefixed, its pid recorded.
start() {
  local i=$1 flags
  mkdir -p "$data"
  security "$i"
  "$zkvd" --id "$i" --peers "$peers" --data-dir "$data/node$i" \
    --trace-port "$(port $((7400 + i)))" --metrics-port "$(port $((7500 + i)))" \
    --watch-port "$(port $((7600 + i)))" "${flags[@]}" > >(sed -u "s/^/[node$i] /") 2>&1 &
  pids+=($!)
  echo $! >"$data/node$i.pid"
}

# recorded N: the pid in <data>/node<N>.pid, if it is still node N's zkvd (not a pid
# reused by another process since).
recorded() {
  local pid
  pid=$(cat "$data/node$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--data-dir $data/node$1 " || return 1
  echo "$pid"
}

# The cluster's stop takes every node's recorded pid (its own, and any --node started);
# a --node run stops its own node.
stop() {
  trap - INT TERM EXIT
  local all=() i pid
  [ ${#pids[@]} -gt 0 ] && all=("${pids[@]}")
  for i in ${node:-1 2 3}; do
    pid=$(recorded "$i") && all+=("$pid")
  done
  if [ ${#all[@]} -gt 0 ]; then
    kill -TERM "${all[@]}" 2>/dev/null || true
    for pid in "${all[@]}"; do # not all are our children: wait by polling, 15 s at most
      for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    done
  fi
  for i in ${node:-1 2 3}; do
    recorded "$i" >/dev/null || rm -f "$data/node$i.pid"
  done
  if [ -n "$node" ]; then
    echo "zkv: node $node stopped; data kept in $data/node$node/"
  else
    echo "zkv: cluster stopped; data kept in $data/"
  fi
}
trap stop INT TERM EXIT

if [ -n "$node" ]; then
  start "$node"
  echo "zkv: node $node on 127.0.0.1 (client port $(port $((7100 + node)))), data in" \
    "$data/node$node/; Ctrl-C stops it, and so does stopping the cluster"
  wait "${pids[@]}" || true
  exit 0
fi

for i in 1 2 3; do
  start "$i"
done
# The banner's word on security, and what another terminal needs beyond its PATH.
client_env=
if [ "$insecure" = 1 ]; then
  said="WARNING: no CURVE (ZKV_RUN_INSECURE=1): every port is plaintext, open to all who reach it"
  client_env="  export ZKV_INSECURE=1"$'\n'
else
  said="CURVE on every port but metrics; certificates in $certs, where zkv finds them"
  if [ -n "${ZKV_CERT_DIR:-}" ]; then
    client_env="  export ZKV_CERT_DIR=$certs"$'\n'
  fi
fi
cat <<EOT
zkv: 3 nodes on 127.0.0.1, data in $data/
$said
  node  client  trace  metrics  watch  peer pub/router
  1     $(port 7101)    $(port 7401)   $(port 7501)     $(port 7601)   $(port 7201)/$(port 7301)
  2     $(port 7102)    $(port 7402)   $(port 7502)     $(port 7602)   $(port 7202)/$(port 7302)
  3     $(port 7103)    $(port 7403)   $(port 7503)     $(port 7603)   $(port 7203)/$(port 7303)
In another terminal (zkv talks to this cluster by default):
  export PATH=\$PWD/build/cli:\$PATH
$client_env  zkv put 100 Alice && zkv get 100
  zkv watch --prefix user/        # and in a third: zkv put user/1 Bob
  zkv status
  zkv trace
  zkv bench --conns 4 --inflight 64 --count 100000
A node that died starts again with: scripts/run.sh --node N (in another terminal)
Ctrl-C stops the cluster, and any node started that way.
EOT
wait "${pids[@]}" || true
