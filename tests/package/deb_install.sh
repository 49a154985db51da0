#!/usr/bin/env bash
# The Debian package, built and installed as a user would: scripts/package.sh makes the .deb
# in a build directory of its own (RelWithDebInfo, no sanitizers, whatever build runs this
# test); on the host its control fields and contents are checked, its binaries shown not to
# be sanitized, and its unit passed through `systemd-analyze verify` (when installed); then
# a clean Debian 12 container (debian:12-slim, made by scripts/debian-image.sh when missing:
# no registry needed) installs it with apt-get, runs three nodes from it as zkvd@1..3 would
# (deb_container.sh, which reads the unit: no systemd there), writes and reads through them,
# and removes and purges the package. Last, where this engine can boot systemd in a
# container (it needs CAP_SYS_ADMIN and the host's cgroups; without them this part is
# skipped, and says so), the same Debian with systemd installed runs the nodes as the units
# themselves, hardening included.
#
# Exit 77 (ctest: skipped) when no Docker engine is reachable, or when the container cannot
# reach a Debian mirror to install the package's dependencies. The containers have names of
# their own and are removed at the end with the image made for systemd, also on failure or
# interrupt.
# Usage: deb_install.sh [BUILD_DIR]   (default: build-deb at the top of the checkout)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root/build-deb}
here=$root/tests/package

now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "deb-install: $*"; }
fail() {
  echo "deb-install: FAIL: $*" >&2
  exit 1
}

if ! docker info >/dev/null 2>&1; then
  echo "docker: no engine reachable; package test not run"
  exit 77
fi
t0=$(now_ms)

# --- the package, on the host ---------------------------------------------------------------
if ! out=$(bash "$root/scripts/package.sh" "$dir" 2>&1); then
  echo "$out" >&2
  fail "scripts/package.sh failed"
fi
deb=$(ls "$dir"/zkv_*.deb)
log "built $(basename "$deb"): $(stat -c %s "$deb") bytes, in $(($(now_ms) - t0)) ms"

version=$(sed -nE 's/^project\(zkv VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt")
[ "$(dpkg-deb -f "$deb" Package)" = zkv ] || fail "Package is not zkv"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is not the project's $version"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libczmq4 libzmq5 libprotobuf-c1; do
  grep -qE "(^|, )$lib( |,|\$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/zkv/zkvd.env ] || fail "conffiles is not /etc/zkv/zkvd.env"
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for path in ./usr/sbin/zkvd ./usr/bin/zkv ./usr/share/man/man1/zkv.1.gz \
  ./usr/share/man/man8/zkvd.8.gz ./usr/lib/systemd/system/zkvd@.service ./etc/zkv/zkvd.env \
  ./usr/share/doc/zkv/copyright ./usr/share/doc/zkv/examples/zkvd-1.env; do
  grep -qxF "$path" <<<"$contents" || fail "the package lacks $path"
done

tree=$(mktemp -d)
name=zkv-pkg-test-$$-$RANDOM
sd_image=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  docker rm -f "$name" "$name-systemd" >/dev/null 2>&1 || true
  [ -z "$sd_image" ] || docker rmi "$sd_image" >/dev/null 2>&1 || true
  rm -rf "$tree"
  exit "$rc"
}
trap cleanup EXIT INT TERM

dpkg-deb -x "$deb" "$tree"
for bin in "$tree/usr/sbin/zkvd" "$tree/usr/bin/zkv"; do
  if readelf -d "$bin" | grep -qE 'NEEDED.*lib(a|ub|t)san'; then
    fail "$(basename "$bin") in the package is a sanitized build"
  fi
  readelf -d "$bin" | grep -q BIND_NOW || fail "$(basename "$bin") lacks Debian's hardening flags"
done

if command -v systemd-analyze >/dev/null; then
  # Verified inside the package's own tree (ExecStart= must exist there, man: links resolve
  # to its pages), with the host's units beside it for the targets it orders itself after.
  cp -an /usr/lib/systemd/system/. "$tree/usr/lib/systemd/system/" 2>/dev/null || true
  # verify exits 0 on unknown keys and bad values, only saying so: any output fails.
  if ! out=$(MANPATH=$tree/usr/share/man systemd-analyze --root="$tree" verify zkvd@1.service 2>&1) ||
    [ -n "$out" ]; then
    fail "systemd-analyze verify zkvd@1.service: $out"
  fi
  log "systemd-analyze verify: zkvd@.service passes"
else
  log "systemd-analyze not installed: unit not verified"
fi

# --- the package, in a clean Debian 12 ------------------------------------------------------
t1=$(now_ms)
if ! out=$(bash "$root/scripts/debian-image.sh" 2>&1); then
  echo "$out" >&2
  fail "no debian:12-slim image and scripts/debian-image.sh could not make one"
fi
# sleep as the container's life: it ends by itself even if this script is killed outright.
docker run -d --name "$name" --label zkv-test=package debian:12-slim sleep 900 >/dev/null
docker cp "$deb" "$name:/tmp/"
docker cp "$here/deb_container.sh" "$name:/tmp/"
rc=0
timeout 600 docker exec "$name" bash /tmp/deb_container.sh "/tmp/$(basename "$deb")" || rc=$?
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || fail "in the container (exit $rc)"
log "container part in $(($(now_ms) - t1)) ms"

# --- the unit under systemd, where a container can boot it ----------------------------------
t2=$(now_ms)
sd=$name-systemd
docker run -d --name "$sd" --label zkv-test=package debian:12-slim sleep 900 >/dev/null
timeout 300 docker exec "$sd" bash -c 'apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv' \
  >/dev/null 2>&1 || fail "systemd could not be installed in the container"
sd_image=$(docker commit "$sd")
docker rm -f "$sd" >/dev/null
docker run -d --name "$sd" --label zkv-test=package --cap-add SYS_ADMIN --tmpfs /run \
  --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro -e container=docker "$sd_image" \
  /sbin/init >/dev/null
# Booted once it says running (or degraded: a unit of the image failed); at most 30 s.
state=
for _ in $(seq 60); do
  state=$(docker exec "$sd" systemctl is-system-running 2>/dev/null) || true
  [ "$state" = running ] || [ "$state" = degraded ] && break
  sleep 0.5
done
if [ "$state" = running ] || [ "$state" = degraded ]; then
  docker cp "$deb" "$sd:/tmp/"
  docker cp "$here/deb_container.sh" "$sd:/tmp/"
  rc=0
  timeout 300 docker exec "$sd" bash /tmp/deb_container.sh --systemd "/tmp/$(basename "$deb")" || rc=$?
  [ "$rc" -eq 0 ] || fail "under systemd in the container (exit $rc)"
  log "systemd part in $(($(now_ms) - t2)) ms"
else
  log "systemd does not boot in a container here (state '${state:-none}'): units not run"
fi
log "PASS in $(($(now_ms) - t0)) ms"
