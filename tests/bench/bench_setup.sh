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

# A foreground daemon in the background serving the store at $work/NAME with mount options
# OPTIONS, its log in $work/NAME.log; waits until $work/NAME/bench/0000 shows.
mount_secretfs() {
  local name=$1 options=$2
  "$secretfs" mount -f "$work/$name" -o "$options" 2>"$work/$name.log" &
  echo $! >"$work/$name.pid"
  mounts+=("$work/$name")
  for _ in $(seq 100); do
    [ -e "$work/$name/bench/0000" ] && return 0
    sleep 0.05
  done
  echo "secretfs did not mount $work/$name:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
# Unmounts $work/NAME and waits for its daemon to end, so its log holds the statistics it logs
# at unmount: "audit: N events in M commits (...)" and "store: N changes in M commits (...)".
unmount_secretfs() {
  fusermount3 -u "$work/$1"
  local pid
  pid=$(cat "$work/$1.pid")
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}
# The daemon's statistics line for WHAT (audit, store) from $work/NAME.log.
batching_of() {
  grep -o "$2: .* per commit)" "$work/$1.log" | tail -1 || true
}
