#!/usr/bin/env bash
# The crash, fault and load tests of tests/stress (ctest label `stress`).
#   tests/stress/run.sh [BUILD_DIR]          the short form ctest runs in CI: 20 crash rounds of
#                                            up to 0.4 s of writing, a 60 s soak
#   tests/stress/run.sh --long [BUILD_DIR]   the long form: 20 crash rounds of up to 3 s each,
#                                            a 5 minute soak
# Needs root, /dev/fuse and a built tree (cmake --build --preset default).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --long ]; then
  shift
  export SECRETFS_CRASH_ROUNDS=20 SECRETFS_CRASH_MS=3000 SECRETFS_SOAK_SECONDS=300
fi
build=${1:-build}
[ -x "$build/tests/stress/stress_test" ] || {
  echo "build first: cmake --build --preset default" >&2
  exit 1
}
exec "$build/tests/stress/stress_test"
