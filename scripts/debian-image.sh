#!/usr/bin/env bash
# Make the base image debian:12-slim from Debian's own packages (debootstrap, minbase) when
# it is missing, so that docker/Dockerfile.debian builds on a machine without a registry.
# Needs root and a Debian mirror (ZKV_DEBIAN_MIRROR, default deb.debian.org). The image
# is a plain bookworm minbase, not Docker Hub's: same suite, not the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=debian:12-slim
if docker image inspect "$tag" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "debian-image: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "${ZKV_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
  >/dev/null
# As in Docker's Debian images: no package lists or caches in the layer.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
echo "debian-image: made $tag from bookworm packages"
