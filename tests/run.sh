#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test:
#   ./tests/run.sh            the normal build
#   ./tests/run.sh --asan     an AddressSanitizer + UndefinedBehaviorSanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."

preset=default
[ "${1:-}" = "--asan" ] && preset=asan

./scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
# mount -t fuse.secretfs (tested) runs mount.fuse3, which finds secretfs only in root's PATH.
if [ "$preset" = default ] && [ "$(id -u)" -eq 0 ]; then
  cmake --install build >/dev/null
fi
status=0
ctest --preset "$preset" -j "$(nproc)" || status=$?
if [ "$status" -ne 0 ]; then
  # ctest printed each failed test's output among hundreds of lines; repeat just the
  # assertions at the end, where a CI excerpt shows them.
  build_dir=build
  [ "$preset" = asan ] && build_dir=build-asan
  echo "==== the failed assertions ===="
  grep -a -A12 -E ': Failure$|Test timeout|Exception:|runtime error|ERROR: AddressSanitizer' \
    "$build_dir/Testing/Temporary/LastTest.log" | head -150 || true
  exit "$status"
fi
