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
ctest --preset "$preset" -j "$(nproc)"
