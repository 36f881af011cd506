#!/usr/bin/env bash
# The scale benchmark: a store of 100,000 secrets in 100 workspaces, 10 versions of 1,000 of them,
# a workspace of 10,000 secrets and 1,000,000 audit events (tests/bench/scale_store.cpp), beside a
# store of 1,000 secrets with the same names, in one run. Prints:
#   - open+read+close of 1,000 secrets through each mount (audit=buffered: the store's cost, not
#     the disk's), 1 thread
#   - `ls` of the 10,000-secret workspace
#   - `secretfs audit verify` of the 1,000,000 events, and `secretfs audit` filtered by one key
#   - bytes the versions table takes per version (mdb_stat), for 64-byte values
#   - the daemon's memory after every secret was read once through the mount
#   - how long `secretfs mount` (key file) takes until the mount answers
# Usage: tests/bench/run_scale_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3}
source tests/bench/bench_setup.sh
[ -x "$build/tests/bench/scale_store" ] || {
  echo "build first: cmake --build $build --target scale_store" >&2
  exit 1
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r); stores on $(df --output=fstype "$work" | tail -1)"
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
# Built on tmpfs when there is one (no fsync per secret), then copied where it is read.
scratch=$work
[ -d /dev/shm ] && scratch=$(mktemp -d /dev/shm/secretfs-scale.XXXXXX)
"$build/tests/bench/scale_store" "$scratch/big" "$work/key"
if [ "$scratch" != "$work" ]; then
  cp -a "$scratch/big" "$work/big"
  rm -rf "$scratch"
fi
# The copy leaves 200 MiB to write back; measured while that runs, the small store's commits and
# every read stall behind it (one run: 1,054 ops/s instead of about 8,000).
sync
echo "store file: $(($(stat -c %s "$work/big/data.mdb") >> 20)) MiB"

# The 1,000-secret store: the same names (workspace ws050, KEY_0000..KEY_0999).
export SECRETFS_KEY="file:$work/key"
SECRETFS_STORE=$work/small "$secretfs" init >/dev/null
SECRETFS_STORE=$work/small "$secretfs" workspace create ws050 >/dev/null
mkdir -p "$work"/{small-mnt,big-mnt}
SECRETFS_STORE=$work/small "$secretfs" mount "$work/small-mnt" -o audit=buffered
mounts+=("$work/small-mnt")
for i in $(seq -f %04g 0 999); do printf '%064d' "$((10#$i))" >"$work/small-mnt/ws050/KEY_$i"; done

start=$(date +%s%N)
SECRETFS_STORE=$work/big "$secretfs" mount "$work/big-mnt" -o audit=buffered
mounts+=("$work/big-mnt")
echo "mount of the big store until it answers: $(ms_since "$start") ms"

"$build/tests/bench/read_bench" --threads 1 --seconds "$seconds" \
  "sfs-1k=$work/small-mnt/ws050" "secretfs=$work/big-mnt/ws050"

for run in 1 2 3; do
  start=$(date +%s%N)
  n=$(ls --color=never "$work/big-mnt/big" | wc -l)
  echo "ls of the $n-secret workspace (run $run): $(ms_since "$start") ms"
done

export SECRETFS_STORE=$work/big
start=$(date +%s%N)
"$secretfs" audit verify
echo "audit verify: $(ms_since "$start") ms (command start, unlock and its own event included)"
# The first query for one secret indexes every event appended since the index was last brought
# up to date (here: all of them); the next ones read the index.
for run in first second third; do
  start=$(date +%s%N)
  n=$("$secretfs" audit --workspace ws042 --key KEY_0042 --json | wc -l)
  echo "audit --workspace ws042 --key KEY_0042 ($run): $n events in $(ms_since "$start") ms"
done

mdb_stat -s versions -e "$work/big" | awk '
  /Page size/ {page = $3} /Branch pages/ {p += $3} /Leaf pages/ {p += $3}
  /Overflow pages/ {p += $3} /Entries/ {n = $2}
  END {printf "versions table: %d versions in %d pages: %.0f bytes per version (64-byte values)\n", n, p, p * page / n}'

daemon=$(pgrep -f -- "mount $work/big-mnt" | head -1)
start=$(date +%s%N)
find "$work/big-mnt" -name .versions -prune -o -type f -exec cat {} + >/dev/null
echo "read every secret once: $(ms_since "$start") ms; daemon $(grep -E '^(VmRSS|RssAnon)' /proc/"$daemon"/status | tr -s ' \t\n' ' ')"
