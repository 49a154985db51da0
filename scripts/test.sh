#!/usr/bin/env bash
# Build everything with AddressSanitizer and UndefinedBehaviorSanitizer and run every test.
# Usage: scripts/test.sh [ctest arguments, e.g. -R sim]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZKV_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ctest shows a skipped test's output nowhere, so the reason the compose tests skip is said here.
docker info >/dev/null 2>&1 || echo "docker: no engine reachable; compose tests not run"
cd build-asan
# Tests that start clusters are RUN_SERIAL; the rest share the cores.
ctest --output-on-failure --timeout 1800 -j "$jobs" "$@"
