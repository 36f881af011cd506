#!/usr/bin/env bash
# The write benchmark, side by side in one run: open(O_TRUNC) + a 64-byte write + close of 64
# files, each write a new value, with 1 and 4 threads (each thread its own files), against
#   tmpfs        a tmpfs file (no durability at all)
#   fuse-floor   tests/bench/minimal_fuse, which accepts the bytes and drops them
#   secretfs     the real thing: every close commits a sealed version and its audit event durably
# and, in process on the same disk, one durable LMDB commit (secretfs_micro_bench
# BM_AuditAppend/events_per_txn:1, when Google Benchmark is installed): the floor of a durable
# write is "FUSE floor write + one commit". With 4 writers, concurrent writes share commits
# (store/group_commit.h), so throughput grows; the daemon's count of changes per LMDB commit
# (logged at unmount) is printed for each thread count.
# Usage: tests/bench/run_write_bench.sh [BUILD_DIR] [SECONDS] [THREADS...]
# Each target runs in BENCH_ROUNDS (default 3) turns of SECONDS / BENCH_ROUNDS, the targets
# taking turns; the figures are the rounds' medians (tests/bench/read_bench.cpp).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3}
rounds=${BENCH_ROUNDS:-3}
thread_counts=("${@:3}")
[ ${#thread_counts[@]} -gt 0 ] || thread_counts=(1 4)
source tests/bench/bench_setup.sh

count=64
mkdir -p "$work"/{tmpfs,floor,mnt}
mount -t tmpfs -o size=16m tmpfs "$work/tmpfs"
mounts+=("$work/tmpfs")
mount_new_store "$work/mnt"
for i in $(seq -f %04g 0 $((count - 1))); do
  printf 'initial' >"$work/mnt/bench/$i"
  printf 'initial' >"$work/tmpfs/$i"
done
fusermount3 -u "$work/mnt"  # the setup mount; each thread count below mounts afresh
"$build/tests/bench/minimal_fuse" "$work/floor" -o files=$count,size=64
mounts+=("$work/floor")

echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r); store on $(df --output=fstype "$work" | tail -1)"
for threads in "${thread_counts[@]}"; do
  mount_secretfs mnt audit=durable
  "$build/tests/bench/read_bench" --write --threads "$threads" --seconds "$seconds" \
    --rounds "$rounds" "tmpfs=$work/tmpfs" "fuse-floor=$work/floor" "secretfs=$work/mnt/bench"
  unmount_secretfs mnt
  stats=$(batching_of mnt store)
  echo "  secretfs, $threads thread(s): ${stats:-no store statistics logged}"
done
versions=$("$secretfs" history bench/0000 --json | grep -c '"version"' || true)
echo "  bench/0000 has $((versions - 1)) versions (one per write to it)"

if [ -x "$build/tests/bench/secretfs_micro_bench" ]; then
  echo "one durable LMDB commit in process, same disk (median of 3):"
  TMPDIR=$work "$build/tests/bench/secretfs_micro_bench" \
    --benchmark_filter='BM_AuditAppend/events_per_txn:1/' --benchmark_min_time=1 \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null |
    grep -E "median" || true
else
  echo "(secretfs_micro_bench not built: install libbenchmark-dev for the in-process commit time)"
fi
