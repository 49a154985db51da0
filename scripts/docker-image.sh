#!/usr/bin/env bash
# Build the zkv container image (zkvd, plus zkv for `docker exec`) without pulling anything:
# a Release build, then a FROM scratch image holding the two binaries and every shared
# library they load, copied from this machine. Needs a Docker engine, no registry.
# Usage: scripts/docker-image.sh [TAG]   (default: $ZKV_IMAGE, else zkv:latest)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-${ZKV_IMAGE:-zkv:latest}}
context=build/docker-context
rootfs=$context/rootfs

bash scripts/build.sh
bins=(build/actors/zkvd build/cli/zkv)

# A fresh context each time, so no library of an older build lingers in the image.
rm -rf "$context"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$context/data"
chmod 1777 "$rootfs/tmp"
install -m 0755 "${bins[@]}" "$rootfs/usr/local/bin/"

# Every library ldd resolves, and the dynamic loader (the one line without "=>"),
# at the same paths as here; cp -L stores the file itself under the name the binary asks for.
ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done

# glibc reads these for name lookups (compose service names) and user names.
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/nonexistent\nzkv:x:10001:10001:zkv:/data:/nonexistent\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nzkv:x:10001:\n' >"$rootfs/etc/group"

cp docker/Dockerfile "$context/Dockerfile"
# Quiet unless it fails: the engine's notes (e.g. on the legacy builder) are not news.
if ! out=$(docker build -t "$tag" "$context" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "docker-image: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
