#!/usr/bin/env bash
# Build an optimised tree in build/ (the one run.sh and the benchmarks use).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DZKV_SANITIZE=OFF -DZKV_TSAN=OFF >/dev/null
cmake --build build -j "$(nproc)"
