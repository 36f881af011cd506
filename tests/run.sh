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
ctest --preset "$preset" -j "$(nproc)"
