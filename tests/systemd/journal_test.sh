#!/usr/bin/env bash
# audit_journal=1: each committed audit event also reaches the journal with SECRETFS_* fields, so
# `journalctl SECRETFS_OP=read` finds it; without the option nothing is sent.
#
# A private systemd-journald runs in a mount namespace of this test's own (unshare -m), on tmpfs
# over /run/systemd and /run/log: the host's journal, if any, is never touched.
#   usage: journal_test.sh SECRETFS_BINARY
set -euo pipefail
if [ "${SECRETFS_JOURNAL_NS:-}" != 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mount namespace, FUSE)"; exit 77; }
  [ -x /lib/systemd/systemd-journald ] || { echo "SKIP: systemd-journald is not installed"; exit 77; }
  SECRETFS_JOURNAL_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

secretfs=$1
work=$(mktemp -d /tmp/secretfs-journal-XXXXXX)
journald=""
cleanup() {
  for m in "$work/mnt" "$work/quiet" "$work/viewer"; do
    grep -q " $m fuse.secretfs " /proc/mounts && fusermount3 -u "$m" || true
  done
  [ -n "$journald" ] && kill "$journald" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald &
journald=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || fail "systemd-journald did not start"

export SECRETFS_STORE=$work/store SECRETFS_KEY=file:$work/key
head -c 32 /dev/urandom > "$work/key"
chmod 600 "$work/key"
"$secretfs" init >/dev/null
"$secretfs" workspace create dev >/dev/null
printf 'journal-value' | "$secretfs" put dev/TOKEN >/dev/null
mkdir "$work/mnt" "$work/quiet" "$work/viewer"
"$secretfs" mount "$work/mnt" -o audit_journal=1
"$secretfs" mount "$work/quiet"  # audit_journal=0: its events stay out of the journal
"$secretfs" mount "$work/viewer" -o audit_journal=1,role=viewer  # reads here are refused

[ "$(cat "$work/mnt/dev/TOKEN")" = journal-value ] || fail "cat through the mount"
printf 'second' > "$work/mnt/dev/TOKEN"                 # a write: its event joins the write's commit
cat "$work/viewer/dev/TOKEN" 2>/dev/null && fail "a viewer read the value"  # a refusal is an event
cat "$work/quiet/dev/TOKEN" >/dev/null
for m in mnt quiet viewer; do fusermount3 -u "$work/$m"; done
journalctl --sync 2>/dev/null || sleep 0.5

field() {  # field NAME JSON-LINES: the values of NAME, one per line
  python3 -c 'import json,sys
for line in sys.stdin:
    line=line.strip()
    if line: print(json.loads(line).get(sys.argv[1], ""))' "$1"
}
reads=$(journalctl --no-pager -o json SECRETFS_OP=read SECRETFS_RESULT=ok)
[ "$(printf '%s\n' "$reads" | grep -c .)" = 1 ] || fail "expected exactly one read event, got: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_WORKSPACE)" = dev ] || fail "workspace: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_KEY)" = TOKEN ] || fail "key: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_VERSION)" = 1 ] || fail "version: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_RESULT)" = ok ] || fail "result: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_COMM)" = cat ] || fail "comm: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_ORIGIN)" = fs ] || fail "origin: $reads"
[ "$(printf '%s\n' "$reads" | field SECRETFS_UID)" = 0 ] || fail "uid: $reads"
printf '%s\n' "$reads" | field MESSAGE | grep -q "read dev/TOKEN v1 by uid 0 (cat): ok" ||
  fail "message: $reads"
printf '%s\n' "$reads" | grep -q "journal-value" && fail "a secret value reached the journal"

writes=$(journalctl --no-pager -o json SECRETFS_OP=write)
[ "$(printf '%s\n' "$writes" | field SECRETFS_VERSION)" = 2 ] || fail "write event: $writes"
denied=$(journalctl --no-pager -o json SECRETFS_RESULT=EACCES)
[ "$(printf '%s\n' "$denied" | field SECRETFS_OP)" = read ] || fail "refused read: $denied"
[ "$(printf '%s\n' "$denied" | field PRIORITY)" = 5 ] || fail "a refusal is a notice: $denied"
mounts=$(journalctl --no-pager -o json SECRETFS_OP=mount | field SECRETFS_DETAIL | sort | tr '\n' ' ')
[ "$mounts" = "$work/mnt $work/viewer " ] ||
  fail "mount events: only the audit_journal=1 mounts', got: $mounts"

# Every journaled event is the one in the store's log, same seq.
seq=$(printf '%s\n' "$reads" | field SECRETFS_SEQ)
"$secretfs" audit --op read --json | grep -q "\"seq\":$seq," || fail "seq $seq is not in the log"
echo "ok: read, write, refused and mount events in the journal with their fields"
