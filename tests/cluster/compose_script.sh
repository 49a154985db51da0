#!/usr/bin/env bash
# scripts/compose.sh without Docker: a stand-in `docker` on PATH prints the command it
# gets. `exec` with stdin not a terminal gets -T (else compose fails: "the input device
# is not a TTY"), once, and only exec; the other commands pass unchanged.
# Usage: compose_script.sh path/to/scripts/compose.sh
set -u
compose=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cat >"$tmp/docker" <<'FAKE'
#!/bin/sh
[ "$1 $2" = "compose version" ] && exit 0
shift 3 # compose -f FILE
echo "$*"
FAKE
chmod +x "$tmp/docker"

# check NAME WANT ARGS...: what compose.sh runs, stdin not a terminal.
check() {
  name=$1 want=$2
  shift 2
  got=$(PATH="$tmp:$PATH" bash "$compose" "$@" </dev/null)
  [ "$got" = "$want" ] || {
    echo "FAIL: $name: got '$got', want '$want'"
    failures=$((failures + 1))
  }
}

check exec "exec -T zkv2 zkv status" exec zkv2 zkv status
check exec-given "exec -T zkv2 zkv get k" exec -T zkv2 zkv get k
check exec-project "-p t exec -T zkv1 zkv put k v" -p t exec zkv1 zkv put k v
check up "up -d" up -d
check logs "logs zkv1" logs zkv1

[ "$failures" -eq 0 ] || exit 1
echo "all passed"
