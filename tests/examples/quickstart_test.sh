#!/usr/bin/env bash
# Examples.QuickstartRunsEndToEnd: ./examples/quickstart.sh exits 0, shows the mount working
# (the write through it read back, its version in history) and ends with a verified audit log,
# and leaves no mount behind.
#   quickstart_test.sh SOURCE_DIR
set -euo pipefail
src=$1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (FUSE mount)"; exit 77; }
out=$("$src/examples/quickstart.sh" 2>&1) || { printf '%s\n' "$out"; echo "FAIL: exit $?"; exit 1; }
for expected in "no match: values are sealed" "sk_live_rotated" "audit log verified"; do
  grep -q "$expected" <<<"$out" || { printf '%s\n' "$out"; echo "FAIL: no '$expected'"; exit 1; }
done
if grep -q " $src/demo/mnt " /proc/mounts; then
  echo "FAIL: demo/mnt is still mounted"
  exit 1
fi
echo "ok: quickstart ran end to end"
