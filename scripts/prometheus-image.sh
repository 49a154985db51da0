#!/usr/bin/env bash
# Build the Prometheus image of the compose cluster (docker-compose.yml, profile "metrics")
# without pulling anything: a FROM scratch image (docker/Dockerfile.prometheus) holding this
# machine's Debian prometheus, the libraries it loads, its web UI and docker/prometheus.yml.
# Needs a Docker engine and the prometheus package (scripts/deps.sh installs it), no registry.
# Usage: scripts/prometheus-image.sh [TAG]   (default: $ZKV_PROMETHEUS_IMAGE, else
# zkv-prometheus:latest)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-${ZKV_PROMETHEUS_IMAGE:-zkv-prometheus:latest}}
context=build/prometheus-context
rootfs=$context/rootfs
bin=/usr/bin/prometheus
web=/usr/share/prometheus/web

if [ ! -x "$bin" ] || [ ! -d "$web" ]; then
  echo "prometheus-image: Debian's prometheus package is not installed (scripts/deps.sh installs it)" >&2
  exit 1
fi
# A broken config would only show as a container that exits at start.
if command -v promtool >/dev/null 2>&1 && ! out=$(promtool check config docker/prometheus.yml 2>&1); then
  echo "$out" >&2
  exit 1
fi

# A fresh context each time, so nothing of an older build lingers in the image.
rm -rf "$context"
mkdir -p "$rootfs/usr/bin" "$rootfs/usr/share" "$rootfs/etc/prometheus" "$context/data"
install -m 0755 "$bin" "$rootfs/usr/bin/"
install -m 0644 docker/prometheus.yml "$rootfs/etc/prometheus/prometheus.yml"

# Every library ldd resolves (only libc today: a Go binary built with cgo), and the dynamic
# loader (the one line without "=>"), at the same paths as here.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done

# The classic web UI: templates and static files, which Debian links to its libjs-* packages
# (tar -h stores the files themselves). moment-timezone's data/ is 200 MB of per-zone JSON
# the UI never loads; it loads moment-timezone-with-data.min.js.
tar -C /usr/share -chf - --exclude=prometheus/web/static/moment-timezone/data prometheus |
  tar -C "$rootfs/usr/share" -xf -

# glibc reads these for name lookups (the nodes' service names) and user names.
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/nonexistent\nprometheus:x:10002:10002:prometheus:/prometheus:/nonexistent\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nprometheus:x:10002:\n' >"$rootfs/etc/group"

cp docker/Dockerfile.prometheus "$context/Dockerfile"
# Quiet unless it fails: the engine's notes (e.g. on the legacy builder) are not news.
if ! out=$(docker build -t "$tag" "$context" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "prometheus-image: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
