# Shared by the compose tests (sourced): bring a project up from a fresh image.
# The caller defines compose (its own project), log, now_ms, root and ZKV_IMAGE.

# The cluster's certificates: scripts/compose.sh makes them at `up` in a directory of this
# test's own (never the developer's data/compose-certs), kept in build/ for the next run.
# The host's zkv, and zkv-fault --target compose, take their keys from ZKV_CERT and
# ZKV_SERVER_KEY; whatever the caller's shell says about keys is not this cluster's.
export ZKV_COMPOSE_CERTS=${ZKV_COMPOSE_CERTS:-$root/build/compose-test-certs/$(basename "$0" .sh)}
export ZKV_CERT=$ZKV_COMPOSE_CERTS/client.cert ZKV_SERVER_KEY=$ZKV_COMPOSE_CERTS/server.cert
unset ZKV_INSECURE ZKV_CERT_DIR

# Every node's container healthy by its image's HEALTHCHECK; waits at most 30 s.
wait_healthy() {
  local deadline=$(($(now_ms) + 30000)) states ids
  mapfile -t ids < <(compose ps -q)
  while [ "$(now_ms)" -lt "$deadline" ]; do
    states=$(docker inspect -f '{{.State.Health.Status}}' "${ids[@]}" | sort -u)
    [ "$states" = healthy ] && return 0
    sleep 0.5
  done
  log "containers not healthy within 30 s: $states" >&2
  return 1
}

# Build the image, `up -d`, wait until healthy. Exits on failure.
compose_start() {
  local t0 out
  t0=$(now_ms)
  bash "$root/scripts/docker-image.sh" "$ZKV_IMAGE" >/dev/null
  log "image $ZKV_IMAGE built in $(($(now_ms) - t0)) ms"
  if ! out=$(compose up -d 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  wait_healthy
}

# The EXIT trap of a compose test: on failure the last log lines of each container, then
# the project down with its volumes. Arguments: compose's own (e.g. --profile metrics).
# trap 'compose_cleanup ARGS' EXIT
compose_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    log "FAIL; last lines of each container's log:"
    compose "$@" logs --no-color --tail 20 2>&1 || true
  fi
  compose "$@" down -v -t 5 >/dev/null 2>&1 || true
  exit "$rc"
}

# Run "$@" until it succeeds, at most 30 s.
retry() {
  local deadline=$(($(now_ms) + 30000))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      log "gave up after 30 s: $*"
      "$@" || true
      return 1
    fi
    sleep 0.3
  done
}
