#!/usr/bin/env bash
# Docker Compose on the project's docker-compose.yml, as `docker compose` (the v2 plugin)
# or `docker-compose` (v1), whichever this machine has; both are in use.
# Usage: scripts/compose.sh [compose arguments], e.g. scripts/compose.sh up -d
# `exec` without a terminal on stdin (a script, a pipe, CI) gets -T: compose would
# otherwise ask for a TTY and fail ("the input device is not a TTY").
# `up`, `create` and `run` first make the cluster's CURVE certificates where missing, in
# ZKV_COMPOSE_CERTS (default data/compose-certs; scripts/certs.sh, with the zkv of
# ZKV_COMPOSE_ZKV, default build/cli/zkv, else the one on PATH), and copy them into the
# project's volume "certs", owned by the nodes' user: docker-compose.yml says why.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
file=$root/docker-compose.yml

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose -f "$file")
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose -f "$file")
else
  echo "compose: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 1
fi

# The global options (-p NAME, --profile P, ...) and the command that follows them.
globals=()
command=
while [ $# -gt 0 ]; do
  case $1 in
  -p | --project-name | -f | --file | --profile | --env-file | --project-directory | \
    --ansi | --progress | -c | --context | -H | --host | --log-level | --parallel)
    globals+=("$1" "${2:-}")
    shift 2 || shift
    ;;
  -*)
    globals+=("$1")
    shift
    ;;
  *)
    command=$1
    shift
    break
    ;;
  esac
done

if [ "$command" = exec ] && [ ! -t 0 ] && [[ " $* " != *" -T "* ]]; then
  set -- -T "$@"
fi

# The uid:gid zkvd runs as in the image (docker/Dockerfile, USER).
owner=10001

# Make the certificates if missing, then copy them into the volume through the service
# "certs", created for that and removed: tar sets the owner, docker cp keeps it.
certs_volume() {
  local certs=${ZKV_COMPOSE_CERTS:-$root/data/compose-certs} zkv=${ZKV_COMPOSE_ZKV:-} out id
  if [ -z "$zkv" ]; then
    zkv=$root/build/cli/zkv
    [ -x "$zkv" ] || zkv=$(command -v zkv || echo "$zkv")
  fi
  bash "$root/scripts/certs.sh" "$zkv" "$certs" 4 ZKV_COMPOSE_CERTS
  if ! out=$("${compose[@]}" "${globals[@]}" --profile certs up --no-start certs 2>&1) ||
    ! id=$("${compose[@]}" "${globals[@]}" --profile certs ps -a -q certs) || [ -z "$id" ]; then
    echo "$out" >&2
    echo "compose: could not create the service certs to fill the volume of certificates" >&2
    exit 1
  fi
  tar -C "$certs" -c --owner="$owner" --group="$owner" --numeric-owner . |
    docker cp - "$id:/certs"
  # -v: also the anonymous volume the image's VOLUME /data gave it.
  docker rm -f -v "$id" >/dev/null
}

case $command in
up | create | run) certs_volume ;;
esac

exec "${compose[@]}" "${globals[@]}" ${command:+"$command"} "$@"
