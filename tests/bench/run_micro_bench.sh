#!/usr/bin/env bash
# Builds and runs the microbenchmarks (tests/bench/micro_bench.cpp): sealing and opening records,
# SecretStore::Read among 100,000 keys (and among 1,000), audit appends (one and 100 events per
# transaction) and audit chain verification.
# Each benchmark runs 3 times for at least MIN_TIME seconds; the table shows the median of the 3
# and their coefficient of variation (cv, stddev / mean), so the noise is visible next to the
# figure ("Iterations" then counts the repetitions). The stores live in a temporary directory
# under /tmp, removed on exit, also when interrupted (the 100,000-key store is first written on
# /dev/shm for a few seconds and removed from there by the benchmark itself: micro_bench.cpp).
# Usage: tests/bench/run_micro_bench.sh [BUILD_DIR] [MIN_TIME] [GOOGLE_BENCHMARK_FLAGS...]
#   e.g. tests/bench/run_micro_bench.sh build 0.5 --benchmark_filter=Audit
# Debian's libbenchmark (1.7.1) prints "Library was built as DEBUG": that is the runner around
# the timed loops (built without NDEBUG), not the loops, which are compiled here.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
min_time=${2:-0.5}
extra=("${@:3}")

[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)" --target secretfs_micro_bench >/dev/null || {
  echo "secretfs_micro_bench did not build: is libbenchmark-dev installed?" \
    "(scripts/install-deps.sh)" >&2
  exit 1
}

work=$(mktemp -d /tmp/secretfs-micro-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A plain number of seconds: what Google Benchmark 1.7 (Debian 12) takes; later ones accept it too.
TMPDIR=$work "$build/tests/bench/secretfs_micro_bench" \
  --benchmark_min_time="$min_time" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true "${extra[@]}" | grep -Ev '_(mean|stddev) '
