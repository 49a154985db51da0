#!/usr/bin/env bash
# Build the Debian packages, NAME_<version>_<arch>.deb: zkv (zkvd, zkv, the unit), libzkv0
# (the client library) and libzkv-dev (its headers, zkv.pc, the examples), with the debug
# symbols of zkv and libzkv0 in NAME-dbgsym_*.ddeb, in a build directory of its own:
# RelWithDebInfo with Debian's hardening flags, no sanitizers, configured for /usr, only what
# the packages hold built. Prints each package's path and size last, one a line. Their
# contents and scripts: packaging/.
# Usage: scripts/package.sh [BUILD_DIR]   (default: build-deb)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-deb}
bash scripts/deps.sh
# Debian's hardening flags, as a Debian build of the package would have them (fortify,
# stack protector and clash protection, CET, relro, bind now); -Werror still applies.
flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack would otherwise build everything (the tests
# included) before installing; the packages need only the targets built below.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DZKV_SANITIZE=OFF -DZKV_TSAN=OFF -DZKV_BENCH=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
  "-DCMAKE_C_FLAGS=$(flags CFLAGS) $(flags CPPFLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=$(flags LDFLAGS)" \
  "-DCMAKE_SHARED_LINKER_FLAGS=$(flags LDFLAGS)" \
  >/dev/null
cmake --build "$dir" -j "$(nproc)" --target zkvd zkv libzkv zkv_man
rm -f "$dir"/*.deb "$dir"/*.ddeb
# Quiet unless it fails: CPack's progress lines are not news.
if ! out=$(cd "$dir" && cpack -G DEB 2>&1); then
  echo "$out" >&2
  exit 1
fi
for deb in "$dir"/*.deb; do
  echo "package: $deb ($(du -k "$deb" | cut -f 1) KiB)"
done
