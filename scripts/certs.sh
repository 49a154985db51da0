#!/usr/bin/env bash
# The CURVE certificates of a cluster this project runs (scripts/run.sh, scripts/compose.sh),
# made in DIR with `zkv cert new` where missing, reused where present: they outlive the
# cluster's data, so a cluster started again from an empty data directory keeps its keys
# and its clients keep working. Each secret exists once, mode 0600; only public files are
# copied.
#   DIR/server.cert, server.cert_secret      the key pair of the client, watch and trace
#                                            sockets, shared by every node
#   DIR/peers/nodeN.cert, nodeN.cert_secret  node N's peer key pair (node-id N), N in 1..NODES
#   DIR/client.cert, client.cert_secret      the client: `zkv` with ZKV_CERT_DIR=DIR (default
#                                            ~/.config/zkv) uses it and server.cert beside it
#   DIR/clients/client.cert                  a copy of its public half: the nodes' allowed clients
# A DIR holding someone's credentials for another cluster (a server.cert without its secret,
# or a client.cert without a server.cert) is refused and left as it is.
# Usage: scripts/certs.sh ZKV DIR NODES [SETTING]
#   ZKV: the zkv program to make them with; SETTING: the variable that chose DIR, which a
#   refusal tells to set.
set -euo pipefail
if [ $# -lt 3 ] || [ $# -gt 4 ] || [[ ! $3 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/certs.sh ZKV DIR NODES [SETTING]" >&2
  exit 2
fi
zkv=$1 dir=$2 nodes=$3 setting=${4:-}

die() {
  echo "certs: $*" >&2
  exit 1
}
foreign() {
  echo "certs: $1; not this project's, so nothing there is used or changed." >&2
  if [ -n "$setting" ]; then
    echo "  Set $setting to a directory of the local cluster's own, e.g." \
      "$setting=\$HOME/.config/zkv-local" >&2
  fi
  exit 1
}

# A client of a real cluster holds its nodes' public certificate and its own pair: never
# mix the local cluster's keys into those, nor take them for ours.
if [ -e "$dir/server.cert" ] && [ ! -e "$dir/server.cert_secret" ]; then
  foreign "$dir/server.cert has no secret beside it: a client's copy of another cluster's key"
fi
if [ ! -e "$dir/server.cert" ] && [ -e "$dir/client.cert" ]; then
  foreign "$dir/client.cert has no server.cert beside it: a client certificate for another cluster"
fi

# pair PATH [NODE_ID]: PATH (NAME.cert) and PATH_secret, made unless both are there (zkv
# cert new makes the directories, mode 0700). One without the other is a half-made
# certificate: zkv cert new never overwrites, so say so.
made=()
pair() {
  local path=$1 id=${2:-}
  if [ -e "$path" ] && [ -e "${path}_secret" ]; then
    return 0
  fi
  if [ -e "$path" ] || [ -e "${path}_secret" ]; then
    die "$path: only one half of the certificate is there; remove it to make a new pair"
  fi
  command -v "$zkv" >/dev/null || die "no zkv program at $zkv to make $path with (build it first)"
  local name
  name=$(basename "$path" .cert)
  "$zkv" cert new "$name" --dir "$(dirname "$path")" ${id:+--node-id "$id"} >/dev/null
  made+=("$name")
}

pair "$dir/server.cert"
for i in $(seq "$nodes"); do
  pair "$dir/peers/node$i.cert" "$i"
done
pair "$dir/client.cert"
# The nodes allow the client whose public certificate is in clients/; kept equal to the
# one zkv uses, also when clients/ was lost.
mkdir -p -m 0700 "$dir/clients"
if ! cmp -s "$dir/client.cert" "$dir/clients/client.cert"; then
  install -m 0644 "$dir/client.cert" "$dir/clients/client.cert"
fi
if [ ${#made[@]} -gt 0 ]; then
  echo "certs: made ${made[*]} in $dir" >&2
fi
