#!/usr/bin/env bash
# The read benchmark, side by side in one run: open+read+close of the same 1000 secrets of 64
# bytes, with 1, 4 and 8 threads, against
#   tmpfs         a tmpfs copy (what Docker and Kubernetes hand to containers)
#   fuse-floor    tests/bench/minimal_fuse: libfuse defaults + direct_io, bytes from memory
#   secretfs      the real thing, audit=durable (the default): every read is a committed event
#   sfs-buffered  the same store mounted with audit=buffered (events committed every 50 ms)
#   gocryptfs     an encrypted FUSE peer, when installed
# Each thread count gets fresh secretfs mounts, so the daemons' own count of audit events per
# LMDB commit (logged at unmount) belongs to that thread count: group commit at work.
# Usage: tests/bench/run_read_bench.sh [BUILD_DIR] [SECONDS] [THREADS...]
# Each target runs in BENCH_ROUNDS (default 3) turns of SECONDS / BENCH_ROUNDS, the targets
# taking turns; the figures are the rounds' medians (tests/bench/read_bench.cpp).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3}
rounds=${BENCH_ROUNDS:-3}
thread_counts=("${@:3}")
[ ${#thread_counts[@]} -gt 0 ] || thread_counts=(1 4 8)
source tests/bench/bench_setup.sh

count=1000
mkdir -p "$work"/{tmpfs,floor,mnt,durable,buffered,plain,cipher}
mount -t tmpfs -o size=16m tmpfs "$work/tmpfs"
mounts+=("$work/tmpfs")
value=$(head -c 48 /dev/urandom | base64 | head -c 64)

# secretfs store with the same 1000 values.
mount_new_store "$work/mnt"
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

fusermount3 -u "$work/mnt"  # the setup mount; each run below mounts afresh
targets=("tmpfs=$work/tmpfs" "fuse-floor=$work/floor")
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
for threads in "${thread_counts[@]}"; do
  mount_secretfs durable audit=durable
  mount_secretfs buffered audit=buffered,audit_flush_ms=50
  "$build/tests/bench/read_bench" --threads "$threads" --seconds "$seconds" --rounds "$rounds" \
    "${targets[@]}" "secretfs=$work/durable/bench" "sfs-buffered=$work/buffered/bench"
  unmount_secretfs durable
  unmount_secretfs buffered
  for name in durable buffered; do
    stats=$(batching_of "$name" audit)
    echo "  $name, $threads thread(s): ${stats:-no audit statistics logged}"
  done
done
