# Sourced by the benchmark scripts after they set `build`: checks the build, sets `secretfs` (the
# binary's absolute path) and `work` (a temporary directory), and on exit unmounts every mount
# point listed in `mounts` and removes `work`.
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

# A new store ($work/store, key $work/key, exported as SECRETFS_STORE/SECRETFS_KEY) with the
# workspace `bench`, mounted at $1 (and unmounted on exit).
mount_new_store() {
  head -c 32 /dev/urandom >"$work/key"
  chmod 600 "$work/key"
  export SECRETFS_STORE="$work/store" SECRETFS_KEY="file:$work/key"
  "$secretfs" init >/dev/null
  "$secretfs" workspace create bench >/dev/null
  "$secretfs" mount "$1"
  mounts+=("$1")
}
