#!/usr/bin/env bash
# A container that reads its secrets as files: one workspace of a secretfs mount bind-mounted
# read-only at /run/secrets, and the policy deciding, by the container's real uid, which of those
# files it may read. bubblewrap stands in for Docker or Podman (docker-compose.yml in this folder
# shows the same with them); the mechanism is the same: a bind mount of a FUSE mount made with
# allow_other, and requests that reach secretfs with the uid the process has outside the container.
#
# Run as root (it mounts, and it runs the container as another uid):
#   sudo SECRETFS=./build/secretfs examples/container-bwrap.sh
# It makes a throwaway store in a temporary directory with workspaces `app` (DB_PASSWORD,
# API_TOKEN) and `other` (SMTP_PASSWORD), mounts it with a policy that lets uid $APP_UID (64000 by
# default; it need not exist: uid: rules are numbers) read app/DB_PASSWORD and nothing else, runs
# the container as that uid and checks what it sees. Exit 0 only if everything behaved as the
# policy says. The mount and the temporary directory are removed however the script ends.
#
# The container is "root" in its own user namespace (bwrap --unshare-user --uid 0), which is what
# a rootless container is; FUSE requests carry the uid outside the namespace (here $APP_UID), so
# that is the uid the policy must name. Needs unprivileged user namespaces (on by default in
# Debian; some distributions restrict them, e.g. kernel.apparmor_restrict_unprivileged_userns).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${SECRETFS:-}" ]; then
  secretfs_bin=$SECRETFS
elif command -v secretfs >/dev/null; then
  secretfs_bin=$(command -v secretfs)
else
  secretfs_bin=$repo/build/secretfs
fi
APP_UID=${APP_UID:-64000}
APP_GID=${APP_GID:-$APP_UID}

die() { echo "container-bwrap.sh: $*" >&2; exit 1; }
[ -x "$secretfs_bin" ] || die "no secretfs binary at '$secretfs_bin' (set SECRETFS=PATH)"
[ "$(id -u)" -eq 0 ] || die "run as root: it mounts and runs the container as uid $APP_UID"
for tool in bwrap setpriv fusermount3 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ -c /dev/fuse ] || die "/dev/fuse is missing"
setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups bwrap --unshare-user \
  --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 /usr/bin/true ||
  die "uid $APP_UID cannot make a user namespace with bwrap (unprivileged user namespaces off?)"

if [ -t 1 ]; then
  step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
  step() { printf '\n$ %s\n' "$*"; }
fi

# Everything lives in one directory, removed at exit; the mount is undone first (and rm stays on
# this filesystem, so it can never descend into a mount that would not go away).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/secretfs-bwrap.XXXXXX")
mnt=$tmp/mnt
is_mounted() { awk -v m="$mnt" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }
container_pid=
cleanup() {
  local rc=$?
  # A container still running (the script was interrupted) holds a bind of the mount: end it.
  if [ -n "$container_pid" ]; then
    kill "$container_pid" 2>/dev/null || true
    wait "$container_pid" 2>/dev/null || true
  fi
  if is_mounted; then
    fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
  fi
  if is_mounted; then
    echo "container-bwrap.sh: $mnt is still mounted; left $tmp in place" >&2
    rc=1
  else
    rm -rf --one-file-system "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The app's uid must reach $mnt (search permission only); the key and the store stay root's.
chmod 711 "$tmp"
setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups test -x "$tmp" ||
  die "uid $APP_UID cannot reach $tmp: set TMPDIR to a directory every user may traverse"
store=$tmp/store
key=$tmp/master.key
policy=$tmp/policy.ini
secretfs() { "$secretfs_bin" -s "$store" -k "file:$key" "$@"; }

step "secretfs init; workspaces app (DB_PASSWORD, API_TOKEN) and other (SMTP_PASSWORD)"
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
chmod 600 "$key"
secretfs init
secretfs workspace create app
secretfs workspace create other
db_password=$(head -c 18 /dev/urandom | base64)
printf '%s' "$db_password" | secretfs put app/DB_PASSWORD --description 'the app database'
head -c 18 /dev/urandom | base64 | tr -d '\n' | secretfs put app/API_TOKEN
head -c 18 /dev/urandom | base64 | tr -d '\n' | secretfs put other/SMTP_PASSWORD

step "cat > policy.ini"
# uid:0 keeps root the owner (a policy file replaces the default policy); the container's uid gets
# one key of one workspace. It must not be writable by others: secretfs refuses such a file.
cat >"$policy" <<EOF
[*]
uid:0 = owner

[app]
uid:$APP_UID = reader DB_PASSWORD
EOF
chmod 644 "$policy"
cat "$policy"

step "secretfs policy check --uid $APP_UID ... (what the policy says)"
secretfs policy check --policy "$policy" --uid "$APP_UID" --gid "$APP_GID" --groups '' \
  app/DB_PASSWORD read
secretfs policy check --policy "$policy" --uid "$APP_UID" --gid "$APP_GID" --groups '' \
  app/API_TOKEN read || true  # exit 1: denied

# allow_other: without it only root and the mounting user reach the mount at all.
# entry_timeout=0: names the app may not see are never served from the kernel's name cache (a
# name root looked up a moment ago would be stat-able, though never readable, for a second).
step "secretfs mount mnt -o allow_other,policy=policy.ini,entry_timeout=0"
mkdir "$mnt"
secretfs mount "$mnt" -o "allow_other,policy=$policy,entry_timeout=0"
echo "root (owner) sees: $(cd "$mnt" && echo *) and in app: $(cd "$mnt/app" && echo *)"

# Without a container, uid $APP_UID on the mount itself: the policy refuses a write, whatever the
# bind mount below does.
failures=0
step "setpriv --reuid=$APP_UID ... sh -c 'ls mnt; printf x > mnt/app/DB_PASSWORD'"
host_ls=$(setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups ls "$mnt")
if [ "$host_ls" = app ]; then
  echo "host: uid $APP_UID sees only workspace app (not other)"
else
  echo "host: FAIL: uid $APP_UID sees workspaces: $host_ls"
  failures=$((failures + 1))
fi
# shellcheck disable=SC2016  # $1 is expanded by that sh
if err=$(setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups \
  sh -c 'printf x > "$1"' sh "$mnt/app/DB_PASSWORD" 2>&1); then
  echo "host: FAIL: uid $APP_UID wrote app/DB_PASSWORD"
  failures=$((failures + 1))
elif [[ $err == *"Permission denied"* ]]; then
  echo "host: uid $APP_UID writing app/DB_PASSWORD refused with EACCES (a reader may not write)"
else
  echo "host: FAIL: uid $APP_UID writing app/DB_PASSWORD: unexpected error: $err"
  failures=$((failures + 1))
fi

# What runs in the container: each check prints one line, and the exit code counts failures.
# Only /usr is there (no /etc, so no user names: ids print as numbers).
container_checks=$(
  cat <<'EOF'
fail=0
ok() { echo "container: $*"; }
bad() { echo "container: FAIL: $*"; fail=$((fail + 1)); }
read -r _ outside _ </proc/self/uid_map
ok "running as uid $(id -u) in its user namespace, uid $outside outside it"

names=$(cd /run/secrets && echo *)
if [ "$names" = DB_PASSWORD ]; then
  ok "ls /run/secrets shows only DB_PASSWORD"
else
  bad "ls /run/secrets shows: $names"
fi

if value=$(cat /run/secrets/DB_PASSWORD 2>/tmp/err); then
  if [ "$(printf '%s' "$value" | sha256sum)" = "$EXPECTED_SHA256" ]; then
    ok "read DB_PASSWORD ok (${#value} bytes, the value that was put)"
  else
    bad "read DB_PASSWORD, but not the value that was put"
  fi
else
  bad "cat /run/secrets/DB_PASSWORD: $(cat /tmp/err)"
fi

# refused NAME ERRNO-TEXT... : cat must fail, with one of the given errors.
refused() {
  path=$1 why=$2
  shift 2
  if cat "/run/secrets/$path" >/dev/null 2>/tmp/err; then
    bad "read $path, which the policy does not allow"
    return
  fi
  for expected in "$@"; do
    case $(cat /tmp/err) in
      *"$expected"*)
        ok "$path refused with $(errno_name "$expected") ($why)"
        return ;;
    esac
  done
  bad "$path: unexpected error: $(cat /tmp/err)"
}
errno_name() {
  case $1 in
    "No such file or directory") echo ENOENT ;;
    "Permission denied") echo EACCES ;;
    "Read-only file system") echo EROFS ;;
    *) echo "$1" ;;
  esac
}
# A key outside the reader's globs is invisible (ENOENT); EACCES if the kernel still had its name.
refused API_TOKEN "as the policy says" "No such file or directory" "Permission denied"
refused .versions/DB_PASSWORD/1 "a reader may not read old versions" "Permission denied" \
  "No such file or directory"

for target in DB_PASSWORD NEW_KEY; do
  if (printf x >"/run/secrets/$target") 2>/tmp/err; then
    bad "wrote /run/secrets/$target"
  elif grep -q "Read-only file system" /tmp/err; then
    ok "writing $target refused with EROFS (the bind mount is read-only)"
  else
    bad "writing $target: unexpected error: $(cat /tmp/err)"
  fi
done
exit "$fail"
EOF
)

step "setpriv --reuid=$APP_UID ... bwrap --unshare-user --uid 0 ... --ro-bind mnt/app /run/secrets sh"
expected_sha256=$(printf '%s' "$db_password" | sha256sum)
# In the background with `wait`, so that an interrupt reaches the trap at once. setpriv execs
# bwrap, so bwrap is this script's child: --die-with-parent ends the container if the script is
# killed, and cleanup() ends it if the script is interrupted.
setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups \
  bwrap --unshare-user --uid 0 --gid 0 \
  --unshare-pid --unshare-ipc --unshare-uts --unshare-net --die-with-parent --new-session \
  --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
  --proc /proc --dev /dev --tmpfs /tmp \
  --ro-bind "$mnt/app" /run/secrets \
  --clearenv --setenv PATH /usr/bin --setenv EXPECTED_SHA256 "$expected_sha256" --chdir / \
  sh -c "$container_checks" &
container_pid=$!
container_rc=0
wait "$container_pid" || container_rc=$?
container_pid=
if [ "$container_rc" -ne 0 ]; then
  echo "container: exit $container_rc ($container_rc checks failed, or the container did not run)"
  failures=$((failures + 1))
fi

step "fusermount3 -u mnt"
fusermount3 -u "$mnt"

step "secretfs audit --workspace app --uid $APP_UID (the container's accesses)"
audit=$(secretfs audit --workspace app --uid "$APP_UID")
printf '%s\n' "$audit"
if grep -Eq "read +ok +app/DB_PASSWORD .*uid=$APP_UID" <<<"$audit"; then
  echo "audit: the container's read of app/DB_PASSWORD is recorded with uid $APP_UID"
else
  echo "audit: FAIL: no read of app/DB_PASSWORD by uid $APP_UID"
  failures=$((failures + 1))
fi

echo
if [ "$failures" -ne 0 ]; then
  echo "FAILED: not everything behaved as the policy says (see the FAIL lines above)" >&2
  exit 1
fi
echo "ok: the container read what the policy allows and nothing else"
