#!/usr/bin/env bash
# Real clients, process start included, side by side in one run: `cat` of a 64-byte secret on
# tmpfs, `cat` of a 64-byte file of the FUSE floor (tests/bench/minimal_fuse: what any FUSE
# filesystem with direct_io pays for a `cat`), `cat` of the secret through secretfs
# (audit=durable and audit=buffered mounts of one store), and `secretfs get` of it (which unlocks
# the store, reads it and commits its own audit event).
# Uses hyperfine (Debian package) when installed, else a plain loop of RUNS runs.
# Usage: tests/bench/run_client_bench.sh [BUILD_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-300}
source tests/bench/bench_setup.sh

mkdir -p "$work"/{tmpfs,floor,mnt,buffered}
mount -t tmpfs -o size=1m tmpfs "$work/tmpfs"
mounts+=("$work/tmpfs")
"$build/tests/bench/minimal_fuse" "$work/floor" -o files=1,size=64
mounts+=("$work/floor")
mount_new_store "$work/mnt"
value=$(head -c 48 /dev/urandom | base64 | head -c 64)
printf '%s' "$value" >"$work/tmpfs/S"
printf '%s' "$value" >"$work/mnt/bench/S"
"$secretfs" mount "$work/buffered" -o audit=buffered
mounts+=("$work/buffered")
cat_bin=$(command -v cat)

echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r); store on $(df --output=fstype "$work" | tail -1)"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/runs.json" \
    -n "cat tmpfs" "$cat_bin $work/tmpfs/S" \
    -n "cat fuse-floor" "$cat_bin $work/floor/0000" \
    -n "cat secretfs (durable)" "$cat_bin $work/mnt/bench/S" \
    -n "cat secretfs (buffered)" "$cat_bin $work/buffered/bench/S" \
    -n "secretfs get" "$secretfs get bench/S"
  # Means swing with a few slow runs on a busy VM; medians compare better.
  if command -v python3 >/dev/null; then
    python3 - "$work/runs.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
base = statistics.median(results[0]["times"])
for r in results:
    m = statistics.median(r["times"])
    print(f"median {r['command']:<28} {m * 1e3:6.3f} ms  {m / base:5.2f}x tmpfs")
PY
  fi
else
  echo "(hyperfine not installed: apt-get install hyperfine for mean and spread; a plain loop)"
  for target in "$cat_bin $work/tmpfs/S" "$cat_bin $work/floor/0000" "$cat_bin $work/mnt/bench/S" \
    "$cat_bin $work/buffered/bench/S" "$secretfs get bench/S"; do
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do $target >/dev/null; done
    echo "$target: $((($(date +%s%N) - start) / runs / 1000)) µs per run"
  done
fi
