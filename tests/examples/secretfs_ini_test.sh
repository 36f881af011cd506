#!/usr/bin/env bash
# Examples.SecretfsIniMountsAsConfigured: examples/secretfs.ini, with only its paths (store=,
# mountpoint=, key=, policy=) moved into a temporary directory, mounts with
# `secretfs mount -o config=FILE` as its comments say: the key= line alone unlocks the store,
# allow_other lets another user in, the policy= file decides what that user may do, audit=durable
# has each read on record once it returns, an option after config= on the command line wins, and
# an unknown option fails the mount naming the file and the line.
#   secretfs_ini_test.sh SECRETFS_BINARY SOURCE_DIR
set -euo pipefail
secretfs=$1
src=$2

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (a mount with allow_other, another user reading it)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in fusermount3 setpriv; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
# Only the config file may say which store and which key: nothing from the environment.
unset SECRETFS_STORE SECRETFS_KEY

tmp=$(mktemp -d)
chmod 755 "$tmp"  # uid 1001 (the policy's app) must reach the mount point inside
mnt=$tmp/mnt
mounted() { awk -v m="$mnt" '$2 == m && $3 == "fuse.secretfs"' /proc/self/mounts; }
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$(mounted)" ]; then
    fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" || true
  fi
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

failed=0
fail() { echo "FAIL: $*"; failed=1; }
die() { echo "FAIL: $*"; exit 1; }

ini=$tmp/secretfs.ini
cp "$src/examples/secretfs.ini" "$ini"
value_of() { sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ini" | tail -n 1; }
# set_value NAME VALUE: the file's NAME line now says VALUE; the rest of the file is untouched.
set_value() {
  grep -Eq "^[[:space:]]*$1[[:space:]]*=" "$ini" || die "examples/secretfs.ini has no $1= line"
  sed -E -i "s|^([[:space:]]*$1[[:space:]]*=[[:space:]]*).*|\\1$2|" "$ini"
}

# The store, made with an administrator's key file, holding what the policy talks about.
admin=(-s "$tmp/store" -k "file:$tmp/admin.key")
(umask 077; head -c 32 /dev/urandom >"$tmp/admin.key")
"$secretfs" "${admin[@]}" init >/dev/null
"$secretfs" "${admin[@]}" workspace create prod >/dev/null
printf 'db-pass' | "$secretfs" "${admin[@]}" put prod/DB_PASSWORD >/dev/null
printf 'sk_live' | "$secretfs" "${admin[@]}" put prod/STRIPE_KEY >/dev/null

set_value store "$tmp/store"
set_value mountpoint "$mnt"
mkdir "$mnt"
if grep -Eq '^[[:space:]]*policy[[:space:]]*=' "$ini"; then
  cp "$src/examples/policy.ini" "$tmp/policy.ini"
  set_value policy "$tmp/policy.ini"
fi
# The key= line, whatever key source it names, gets a key of that kind of its own; without one,
# the command line gives the key as secretfs@.service does (-k).
mount_key=()
key=$(value_of key)
case "$key" in
  host:*)
    "$secretfs" keyring host-key "$tmp/host.key" >/dev/null
    "$secretfs" "${admin[@]}" keyring add --label host --new-key "host:$tmp/host.key" >/dev/null
    set_value key "host:$tmp/host.key" ;;
  file:*)
    (umask 077; head -c 32 /dev/urandom >"$tmp/boot.key")
    "$secretfs" "${admin[@]}" keyring add --label boot --new-key "file:$tmp/boot.key" >/dev/null
    set_value key "file:$tmp/boot.key" ;;
  "") mount_key=(-k "file:$tmp/admin.key") ;;
  *) die "this test does not know how to provide key = $key" ;;
esac
echo "--- the config file, its paths made temporary:"
grep -Ev '^[[:space:]]*([;#]|$)' "$ini" | sed 's/^/    /'

# mount_with OPTIONS: `secretfs mount -o OPTIONS`, as the example says to use a file by hand.
mount_with() {
  "$secretfs" mount "${mount_key[@]}" -o "$1" </dev/null || die "secretfs mount -o $1 failed"
  [ -n "$(mounted)" ] || die "secretfs mount -o $1 returned, but nothing is mounted at $mnt"
}
as_app() { setpriv --reuid=1001 --regid=1001 --clear-groups "$@"; }

mount_with "config=$ini"
opts=$(mounted | awk '{ print $4 }')
echo "--- mounted: $opts"
[ "$(cat "$mnt/prod/DB_PASSWORD")" = db-pass ] || fail "root cannot read prod/DB_PASSWORD"

if [ "$(value_of allow_other)" = yes ]; then
  [[ ",$opts," == *,allow_other,* ]] || fail "allow_other = yes, but the mount options are $opts"
fi
if [ -n "$(value_of policy)" ]; then
  # examples/policy.ini: uid 1001 reads DB_PASSWORD and API_TOKEN of prod, nothing else.
  got=$(as_app cat "$mnt/prod/DB_PASSWORD" 2>&1) || true
  [ "$got" = db-pass ] || fail "uid 1001 cannot read prod/DB_PASSWORD (allow_other, policy): $got"
  as_app cat "$mnt/prod/STRIPE_KEY" >/dev/null 2>&1 && fail "uid 1001 read prod/STRIPE_KEY"
  as_app sh -c "printf x > '$mnt/prod/DB_PASSWORD'" 2>/dev/null &&
    fail "uid 1001 wrote prod/DB_PASSWORD"
  [ "$(cat "$mnt/prod/DB_PASSWORD")" = db-pass ] || fail "prod/DB_PASSWORD changed"
fi
if [ "$(value_of audit)" = durable ]; then
  # Durable: the read above returned only once its event was committed.
  events=$("$secretfs" "${admin[@]}" audit --key DB_PASSWORD --op read --json)
  grep -q '"uid":1001,' <<<"$events" ||
    fail "audit = durable, but uid 1001's read is not on record: $events"
fi
fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
[ -z "$(mounted)" ] || fail "still mounted after fusermount3 -u"

# "Options given after config= on the command line win": ro over a file that does not say ro.
mount_with "config=$ini,ro"
if printf 'x' 2>/dev/null >"$mnt/prod/DB_PASSWORD"; then fail "config=FILE,ro: a write worked"; fi
[ "$(cat "$mnt/prod/DB_PASSWORD")" = db-pass ] ||
  fail "config=FILE,ro: prod/DB_PASSWORD is unreadable or changed"
fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"

# "An unknown option ... fails the mount with the file and line number."
echo 'no_such_option = 1' >>"$ini"
lines=$(wc -l <"$ini")
rc=0
err=$("$secretfs" mount "${mount_key[@]}" -o "config=$ini" </dev/null 2>&1) || rc=$?
if [ "$rc" -eq 0 ]; then
  fail "an unknown option in the config file mounted anyway"
elif ! grep -q "$ini.*$lines" <<<"$err"; then
  fail "an unknown option: the error does not name $ini and line $lines: $err"
fi
[ -z "$(mounted)" ] || fail "an unknown option in the config file left a mount"

[ "$failed" -eq 0 ] && echo "PASS"
exit "$failed"
