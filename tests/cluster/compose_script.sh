#!/usr/bin/env bash
# scripts/compose.sh without Docker: a stand-in `docker` on PATH prints the command it
# gets. `exec` with stdin not a terminal gets -T (else compose fails: "the input device
# is not a TTY"), once, and only exec; the other commands pass unchanged. `up` first makes
# the certificates (scripts/certs.sh, with a stand-in zkv) in ZKV_COMPOSE_CERTS, once, and
# copies them into the volume through the service certs: every file owned by the nodes'
# user 10001, secrets mode 0600; a directory with another cluster's server.cert is refused.
# Usage: compose_script.sh path/to/scripts/compose.sh
set -u
compose=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
# The stand-in docker: `compose -f FILE ARGS` prints ARGS, but `ps` prints a container id;
# every call goes to calls, and what `docker cp -` gets is listed in tar.list.
cat >"$tmp/docker" <<FAKE
#!/bin/bash
echo "\$*" >>"$tmp/calls"
[ "\$1 \$2" = "compose version" ] && exit 0
case "\$1" in
compose) shift 3 ;; # compose -f FILE
cp) tar -tvf - --numeric-owner >"$tmp/tar.list"; exit 0 ;;
*) exit 0 ;;
esac
[[ " \$* " == *" ps -a -q certs "* ]] && { echo c0ffee; exit 0; }
echo "\$*"
FAKE
# The stand-in zkv: cert new NAME --dir DIR [--node-id N], never overwriting.
cat >"$tmp/zkv" <<'FAKE'
#!/bin/bash
[ "$1 $2 $4" = "cert new --dir" ] || exit 9
mkdir -p -m 0700 "$5"
[ -e "$5/$3.cert" ] && exit 2
(umask 077 && echo "secret $3 ${7:-} $RANDOM" >"$5/$3.cert_secret")
echo "public $3 ${7:-} $RANDOM" >"$5/$3.cert"
FAKE
chmod +x "$tmp/docker" "$tmp/zkv"
export ZKV_COMPOSE_ZKV=$tmp/zkv ZKV_COMPOSE_CERTS=$tmp/certs

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# check NAME WANT ARGS...: what compose.sh runs, stdin not a terminal.
check() {
  name=$1 want=$2
  shift 2
  got=$(PATH="$tmp:$PATH" bash "$compose" "$@" </dev/null 2>"$tmp/err")
  [ "$got" = "$want" ] || fail "$name: got '$got', want '$want' ($(cat "$tmp/err"))"
}

check exec "exec -T zkv2 zkv status" exec zkv2 zkv status
check exec-given "exec -T zkv2 zkv get k" exec -T zkv2 zkv get k
check exec-project "-p t exec -T zkv1 zkv put k v" -p t exec zkv1 zkv put k v
check logs "logs zkv1" logs zkv1
check down "down -v" down -v
[ -e "$tmp/certs" ] && fail "down made certificates"

: >"$tmp/calls"
check up "-p t --profile spare up -d" -p t --profile spare up -d
calls="compose version
compose -f $(cd "$(dirname "$compose")/.." && pwd)/docker-compose.yml -p t --profile spare --profile certs up --no-start certs
compose -f $(cd "$(dirname "$compose")/.." && pwd)/docker-compose.yml -p t --profile spare --profile certs ps -a -q certs
cp - c0ffee:/certs
rm -f -v c0ffee
compose -f $(cd "$(dirname "$compose")/.." && pwd)/docker-compose.yml -p t --profile spare up -d"
[ "$(cat "$tmp/calls")" = "$calls" ] || fail "up: docker calls
---- got
$(cat "$tmp/calls")
---- want
$calls"
want="server.cert server.cert_secret peers/node1.cert peers/node1.cert_secret peers/node2.cert
peers/node2.cert_secret peers/node3.cert peers/node3.cert_secret peers/node4.cert
peers/node4.cert_secret client.cert client.cert_secret clients/client.cert"
for f in $want; do
  line=$(grep " \./$f\$" "$tmp/tar.list")
  [ -n "$line" ] || fail "the volume gets no $f: $(cat "$tmp/tar.list")"
  [ "$(awk '{ print $2 }' <<<"$line")" = 10001/10001 ] || fail "$f in the volume is not 10001's: $line"
  case $f in
  *_secret) [[ $line == -rw-------* ]] || fail "$f in the volume is not mode 0600: $line" ;;
  esac
done
cmp -s "$tmp/certs/client.cert" "$tmp/certs/clients/client.cert" ||
  fail "clients/client.cert is not the client.cert beside server.cert"
[ -e "$tmp/certs/clients/client.cert_secret" ] && fail "a secret was copied into clients/"

cp "$tmp/certs/server.cert" "$tmp/server.before"
check up-again "up -d" up -d
cmp -s "$tmp/certs/server.cert" "$tmp/server.before" || fail "a second up made new certificates"
[ -s "$tmp/err" ] && fail "a second up said: $(cat "$tmp/err")"

# Someone's client credentials for another cluster: refused, nothing started or written.
mkdir "$tmp/foreign"
echo "their cluster's key" >"$tmp/foreign/server.cert"
: >"$tmp/calls"
ZKV_COMPOSE_CERTS=$tmp/foreign check foreign "" up -d
grep -q "Set ZKV_COMPOSE_CERTS" "$tmp/err" || fail "foreign: $(cat "$tmp/err")"
grep -q " up " "$tmp/calls" && fail "foreign: compose ran: $(cat "$tmp/calls")"
[ "$(ls "$tmp/foreign")" = server.cert ] || fail "foreign: written to: $(ls "$tmp/foreign")"

[ "$failures" -eq 0 ] || exit 1
echo "all passed"
