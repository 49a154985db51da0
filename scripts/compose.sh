#!/usr/bin/env bash
# Docker Compose on the project's docker-compose.yml, as `docker compose` (the v2 plugin)
# or `docker-compose` (v1), whichever this machine has; both are in use.
# Usage: scripts/compose.sh [compose arguments], e.g. scripts/compose.sh up -d
set -euo pipefail
file="$(cd "$(dirname "$0")/.." && pwd)/docker-compose.yml"

if docker compose version >/dev/null 2>&1; then
  exec docker compose -f "$file" "$@"
elif command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose -f "$file" "$@"
fi
echo "compose: neither 'docker compose' nor 'docker-compose' is installed" >&2
exit 1
