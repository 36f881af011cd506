#!/usr/bin/env bash
# The read benchmark of issue 3, side by side in one run: open+read+close of the same 1000
# secrets of 64 bytes, 1 and 4 threads, against
#   tmpfs      a tmpfs copy (what Docker and Kubernetes hand to containers)
#   fuse-floor tests/bench/minimal_fuse: libfuse defaults + direct_io, bytes from memory
#   secretfs   the real thing (audit and policy as configured by default)
#   gocryptfs  an encrypted FUSE peer, when installed
# Usage: tests/bench/run_read_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3}
[ -x "$build/secretfs" ] && [ -x "$build/tests/bench/read_bench" ] || {
  echo "build first: cmake --build $build" >&2
  exit 1
}
secretfs=$(realpath "$build/secretfs")
work=$(mktemp -d)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

count=1000
mkdir -p "$work"/{tmpfs,floor,mnt,plain,cipher}
mount -t tmpfs -o size=16m tmpfs "$work/tmpfs"
mounts+=("$work/tmpfs")
value=$(head -c 48 /dev/urandom | base64 | head -c 64)

# secretfs store with the same 1000 values.
head -c 32 /dev/urandom > "$work/key"
export SECRETFS_STORE="$work/store" SECRETFS_KEY="file:$work/key"
"$secretfs" init >/dev/null
"$secretfs" workspace create bench >/dev/null
"$secretfs" mount "$work/mnt"
mounts+=("$work/mnt")
for i in $(seq -f %04g 0 $((count - 1))); do
  printf '%s' "$value" > "$work/mnt/bench/S$i"
  printf '%s' "$value" > "$work/tmpfs/S$i"
done

"$build/tests/bench/minimal_fuse" "$work/floor" -o files=$count,size=64
mounts+=("$work/floor")
# The floor names its files 0000..0999; give the others the same names.
for i in $(seq -f %04g 0 $((count - 1))); do
  mv "$work/tmpfs/S$i" "$work/tmpfs/$i"
  mv "$work/mnt/bench/S$i" "$work/mnt/bench/$i"
done

targets=("tmpfs=$work/tmpfs" "fuse-floor=$work/floor" "secretfs=$work/mnt/bench")
if command -v gocryptfs >/dev/null; then
  printf 'bench-password' > "$work/gocryptfs.pass"
  gocryptfs -init -q -passfile "$work/gocryptfs.pass" "$work/cipher" >/dev/null
  gocryptfs -q -passfile "$work/gocryptfs.pass" "$work/cipher" "$work/plain"
  mounts+=("$work/plain")
  for i in $(seq -f %04g 0 $((count - 1))); do printf '%s' "$value" > "$work/plain/$i"; done
  targets+=("gocryptfs=$work/plain")
else
  echo "(gocryptfs not installed: apt-get install gocryptfs to compare with it)"
fi

echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"
"$build/tests/bench/read_bench" --threads 1,4 --seconds "$seconds" "${targets[@]}"
