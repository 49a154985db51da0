#!/usr/bin/env bash
# The Debian packages, built and installed as a user would: scripts/package.sh makes zkv,
# libzkv0 and libzkv-dev in a build directory of its own (RelWithDebInfo, no sanitizers,
# whatever build runs this test); on the host their control fields and contents are checked
# (libzkv0's SONAME, shlibs and ldconfig trigger, libzkv-dev's headers and zkv.pc), their
# binaries shown not to be sanitized, and the unit passed through `systemd-analyze verify`
# (when installed); then a clean Debian 12 container (debian:12-slim, made by
# scripts/debian-image.sh when missing: no registry needed) installs the three with apt-get,
# builds examples/basic.c as installed there with cc and pkg-config, runs three nodes from the
# package as zkvd@1..3 would (deb_container.sh, which reads the unit: no systemd there),
# writes and reads through them and with the example, and removes and purges the packages.
# Last, where this engine can boot systemd in a
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
version=$(sed -nE 's/^project\(zkv VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
deb=$dir/zkv_${version}_$arch.deb
lib_deb=$dir/libzkv0_${version}_$arch.deb
dev_deb=$dir/libzkv-dev_${version}_$arch.deb
debs=("$deb" "$lib_deb" "$dev_deb")
for d in "${debs[@]}"; do
  [ -f "$d" ] || fail "scripts/package.sh made no $(basename "$d"): $(ls "$dir"/*.deb)"
  log "built $(basename "$d"): $(stat -c %s "$d") bytes"
done
[ "$(ls "$dir"/*.deb | wc -l)" -eq 3 ] ||
  fail "scripts/package.sh made more than three: $(ls "$dir"/*.deb)"
log "in $(($(now_ms) - t0)) ms"

# Whether the Depends of package $1 hold $2: a name (any version), or "name (op version)".
depends_on() {
  local dep
  while read -r dep; do
    if [ "$dep" = "$2" ] || [ "${dep%% *}" = "$2" ]; then return 0; fi
  done < <(dpkg-deb -f "$1" Depends | sed 's/, /\n/g')
  return 1
}
# The paths package $1 holds, one a line (./usr/...), symbolic links as "path -> target".
contents() {
  dpkg-deb -c "$1" | sed -E 's/^([^ ]+ +){5}//'
}

for d in "${debs[@]}"; do
  [ "$(dpkg-deb -f "$d" Version)" = "$version" ] || fail "$(basename "$d"): Version is not $version"
done
[ "$(dpkg-deb -f "$deb" Package)" = zkv ] || fail "Package is not zkv"
for dep in "libzkv0 (= $version)" libc6 libczmq4 libzmq5 libprotobuf-c1; do
  depends_on "$deb" "$dep" || fail "zkv: Depends lacks $dep: $(dpkg-deb -f "$deb" Depends)"
done
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/zkv/zkvd.env ] || fail "conffiles is not /etc/zkv/zkvd.env"
contents=$(contents "$deb")
for path in ./usr/sbin/zkvd ./usr/bin/zkv ./usr/share/man/man1/zkv.1.gz \
  ./usr/share/man/man8/zkvd.8.gz ./usr/lib/systemd/system/zkvd@.service ./etc/zkv/zkvd.env \
  ./usr/share/doc/zkv/copyright ./usr/share/doc/zkv/examples/zkvd-1.env; do
  grep -qxF "$path" <<<"$contents" || fail "the package zkv lacks $path"
done
! grep -q libzkv <<<"$contents" || fail "the package zkv holds a file of libzkv"

# libzkv0: the shared object under its SONAME, a shlibs file naming the package, and
# ldconfig run when it comes and goes.
[ "$(dpkg-deb -f "$lib_deb" Package)" = libzkv0 ] || fail "Package is not libzkv0"
[ "$(dpkg-deb -f "$lib_deb" Section)" = libs ] || fail "libzkv0: Section is not libs"
for dep in libc6 libczmq4 libzmq5 libprotobuf-c1; do
  depends_on "$lib_deb" "$dep" ||
    fail "libzkv0: Depends lacks $dep: $(dpkg-deb -f "$lib_deb" Depends)"
done
lib_contents=$(contents "$lib_deb")
[ "$(grep '\.so' <<<"$lib_contents")" = ".$libdir/libzkv.so.0 -> libzkv.so.0.1.0
.$libdir/libzkv.so.0.1.0" ] ||
  fail "libzkv0 does not hold libzkv.so.0 -> libzkv.so.0.1.0 alone: $lib_contents"
grep -qxF ./usr/share/doc/libzkv0/copyright <<<"$lib_contents" || fail "libzkv0 lacks its copyright"
[ "$(dpkg-deb -I "$lib_deb" shlibs)" = "libzkv 0 libzkv0 (>= $version)" ] ||
  fail "libzkv0: shlibs is not 'libzkv 0 libzkv0 (>= $version)': $(dpkg-deb -I "$lib_deb" shlibs)"
grep -qx 'activate-noawait ldconfig' <<<"$(dpkg-deb -I "$lib_deb" triggers)" ||
  fail "libzkv0 has no ldconfig trigger"

# libzkv-dev: what a program needs to build against libzkv, and its examples.
[ "$(dpkg-deb -f "$dev_deb" Package)" = libzkv-dev ] || fail "Package is not libzkv-dev"
for dep in "libzkv0 (= $version)" libzmq3-dev libprotobuf-c-dev; do
  depends_on "$dev_deb" "$dep" ||
    fail "libzkv-dev: Depends lacks $dep: $(dpkg-deb -f "$dev_deb" Depends)"
done
dev_contents=$(contents "$dev_deb")
for path in ./usr/include/zkv/zkv.h ./usr/include/zkv/zkv_types.h ./usr/include/zkv/zkv.pb-c.h \
  ".$libdir/libzkv.so -> libzkv.so.0" ".$libdir/pkgconfig/zkv.pc" \
  ./usr/share/doc/zkv/examples/basic.c ./usr/share/doc/zkv/examples/pipeline.c \
  ./usr/share/doc/libzkv-dev/copyright; do
  grep -qxF "$path" <<<"$dev_contents" || fail "libzkv-dev lacks $path"
done
[ "$(grep -c '\.so' <<<"$dev_contents")" -eq 1 ] ||
  fail "libzkv-dev holds more than the link libzkv.so"

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

for d in "${debs[@]}"; do dpkg-deb -x "$d" "$tree"; done
for bin in "$tree/usr/sbin/zkvd" "$tree/usr/bin/zkv" "$tree$libdir/libzkv.so.0.1.0"; do
  if readelf -d "$bin" | grep -qE 'NEEDED.*lib(a|ub|t)san'; then
    fail "$(basename "$bin") in the package is a sanitized build"
  fi
  readelf -d "$bin" | grep -q BIND_NOW || fail "$(basename "$bin") lacks Debian's hardening flags"
  ! readelf -d "$bin" | grep -qE 'RPATH|RUNPATH' || fail "$(basename "$bin") carries an RPATH"
done
readelf -d "$tree$libdir/libzkv.so.0.1.0" | grep -qF 'Library soname: [libzkv.so.0]' ||
  fail "libzkv.so.0.1.0's SONAME is not libzkv.so.0"
readelf -d "$tree/usr/bin/zkv" | grep -qF 'Shared library: [libzkv.so.0]' ||
  fail "zkv does not link libzkv.so.0"
# Every header zkv.h includes by quoted name is beside it.
while read -r h; do
  [ -f "$tree/usr/include/zkv/$h" ] || fail "zkv.h includes \"$h\", which libzkv-dev lacks"
done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$tree/usr/include/zkv/zkv.h")
# zkv.pc, read by pkg-config as installed: /usr paths, this version, -lzkv, the headers' directory.
pc() { pkg-config --with-path="$tree$libdir/pkgconfig" "$@" zkv; }
[ "$(pc --modversion)" = "$version" ] || fail "zkv.pc: Version is not $version"
[ "$(pc --variable=libdir)" = "$libdir" ] && [ "$(pc --variable=includedir)" = /usr/include ] ||
  fail "zkv.pc: libdir or includedir is not $libdir, /usr/include:" \
    "$(cat "$tree$libdir/pkgconfig/zkv.pc")"
[ "$(pc --print-requires | tr '\n' ' ')" = "libzmq libprotobuf-c " ] &&
  [ -z "$(pc --print-requires-private)" ] ||
  fail "zkv.pc: Requires is not libzmq libprotobuf-c, or Requires.private is not empty"
grep -qx 'Libs: -L${libdir} -lzkv' "$tree$libdir/pkgconfig/zkv.pc" &&
  grep -qx 'Cflags: -I${includedir}/zkv' "$tree$libdir/pkgconfig/zkv.pc" ||
  fail "zkv.pc: Libs or Cflags is not -lzkv, -I\${includedir}/zkv"
log "contents and control fields: zkv, libzkv0 (SONAME libzkv.so.0, shlibs, ldconfig trigger)," \
  "libzkv-dev (headers, zkv.pc, examples)"

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
for d in "${debs[@]}"; do docker cp "$d" "$name:/tmp/"; done
docker cp "$here/deb_container.sh" "$name:/tmp/"
rc=0
timeout 600 docker exec "$name" bash /tmp/deb_container.sh "/tmp/$(basename "$deb")" \
  "/tmp/$(basename "$lib_deb")" "/tmp/$(basename "$dev_deb")" || rc=$?
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
  # zkv and the library it needs: the units need no compiler.
  docker cp "$deb" "$sd:/tmp/"
  docker cp "$lib_deb" "$sd:/tmp/"
  docker cp "$here/deb_container.sh" "$sd:/tmp/"
  rc=0
  timeout 300 docker exec "$sd" bash /tmp/deb_container.sh --systemd "/tmp/$(basename "$deb")" \
    "/tmp/$(basename "$lib_deb")" || rc=$?
  [ "$rc" -eq 0 ] || fail "under systemd in the container (exit $rc)"
  log "systemd part in $(($(now_ms) - t2)) ms"
else
  log "systemd does not boot in a container here (state '${state:-none}'): units not run"
fi
log "PASS in $(($(now_ms) - t0)) ms"
