#!/usr/bin/env bash
# Examples.ContainerBwrapReadsWhatThePolicyAllows: examples/container-bwrap.sh, run as a user
# would run it, exits 0, says that the container read DB_PASSWORD and was refused everything else,
# and leaves no mount and no directory behind.
#   container_bwrap_test.sh SECRETFS_BINARY SOURCE_DIR
set -euo pipefail
secretfs=$1
src=$2

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (the example mounts and runs a container as uid 64000)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in bwrap setpriv fusermount3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
setpriv --reuid=64000 --regid=64000 --clear-groups bwrap --unshare-user \
  --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 /usr/bin/true ||
  skip "bwrap cannot make a user namespace as an unprivileged user here"

# The example's temporary directory goes in here, so that what it leaves behind can be seen.
parent=$(mktemp -d)
chmod 711 "$parent"
mounts_left() { awk -v p="$parent/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts; }
# Should the example leave a mount behind, the test says so below and then removes it.
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  local m
  for m in $(mounts_left); do fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf --one-file-system "$parent"
}
trap cleanup EXIT

rc=0
out=$(SECRETFS=$secretfs TMPDIR=$parent bash "$src/examples/container-bwrap.sh" 2>&1) || rc=$?
printf '%s\n' "$out"
echo "--- (the example's output ends here; exit code $rc)"

failed=0
fail() { echo "FAIL: $*"; failed=1; }
[ "$rc" -eq 0 ] || fail "examples/container-bwrap.sh exited $rc"
expect() {
  grep -Eq -- "$1" <<<"$out" || fail "no line matching: $1"
}
expect '^container: running as uid 0 in its user namespace, uid 64000 outside it$'
expect '^container: ls /run/secrets shows only DB_PASSWORD$'
expect '^container: read DB_PASSWORD ok '
expect '^container: API_TOKEN refused with (ENOENT|EACCES) \(as the policy says\)$'
expect '^container: \.versions/DB_PASSWORD/1 refused with (EACCES|ENOENT) '
expect '^container: writing DB_PASSWORD refused with EROFS '
expect '^container: writing NEW_KEY refused with EROFS '
expect '^host: uid 64000 sees only workspace app '
expect '^host: uid 64000 writing app/DB_PASSWORD refused with EACCES '
expect '^audit: the container.s read of app/DB_PASSWORD is recorded with uid 64000$'
expect '^ok: the container read what the policy allows and nothing else$'
if grep -q 'FAIL' <<<"$out"; then fail "the example reported a failure"; fi

if [ -n "$(mounts_left)" ]; then fail "mounts left behind: $(mounts_left)"; fi
if [ -n "$(ls -A "$parent")" ]; then fail "left behind in $parent: $(ls -A "$parent")"; fi
[ "$failed" -eq 0 ] && echo "PASS"
exit "$failed"
