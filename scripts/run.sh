#!/usr/bin/env bash
# Build zkv and run it. Until the node exists this runs the storage benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
./build/bench/bench_storage
