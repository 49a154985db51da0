#!/usr/bin/env bash
# Docker Compose on the project's docker-compose.yml, as `docker compose` (the v2 plugin)
# or `docker-compose` (v1), whichever this machine has; both are in use.
# Usage: scripts/compose.sh [compose arguments], e.g. scripts/compose.sh up -d
# `exec` without a terminal on stdin (a script, a pipe, CI) gets -T: compose would
# otherwise ask for a TTY and fail ("the input device is not a TTY").
set -euo pipefail
file="$(cd "$(dirname "$0")/.." && pwd)/docker-compose.yml"

if [ ! -t 0 ] && [[ " $* " != *" -T "* ]]; then
  args=()
  added=
  for arg in "$@"; do
    args+=("$arg")
    if [ -z "$added" ] && [ "$arg" = exec ]; then
      args+=(-T)
      added=1
    fi
  done
  set -- "${args[@]}"
fi

if docker compose version >/dev/null 2>&1; then
  exec docker compose -f "$file" "$@"
elif command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose -f "$file" "$@"
fi
echo "compose: neither 'docker compose' nor 'docker-compose' is installed" >&2
exit 1
