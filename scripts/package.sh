#!/usr/bin/env bash
# Build the Debian package zkv_<version>_<arch>.deb (and its debug symbols, zkv-dbgsym_*.ddeb)
# in a build directory of its own: RelWithDebInfo with Debian's hardening flags, no
# sanitizers, configured for /usr, only what the package holds built. Prints the package's
# path last. The package's contents and scripts: packaging/.
# Usage: scripts/package.sh [BUILD_DIR]   (default: build-deb)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-deb}
bash scripts/deps.sh
# Debian's hardening flags, as a Debian build of the package would have them (fortify,
# stack protector and clash protection, CET, relro, bind now); -Werror still applies.
flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack would otherwise build everything (the tests
# included) before installing; the package needs only these three targets.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DZKV_SANITIZE=OFF -DZKV_TSAN=OFF -DZKV_BENCH=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
  "-DCMAKE_C_FLAGS=$(flags CFLAGS) $(flags CPPFLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=$(flags LDFLAGS)" \
  >/dev/null
cmake --build "$dir" -j "$(nproc)" --target zkvd zkv zkv_man
rm -f "$dir"/zkv_*.deb "$dir"/zkv-dbgsym_*.ddeb
# Quiet unless it fails: CPack's progress lines are not news.
if ! out=$(cd "$dir" && cpack -G DEB 2>&1); then
  echo "$out" >&2
  exit 1
fi
deb=$(ls "$dir"/zkv_*.deb)
echo "package: $deb ($(du -k "$deb" | cut -f 1) KiB)"
