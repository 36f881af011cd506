#!/usr/bin/env bash
# secretfs in one minute: installs what is missing, builds, creates a demo store under ./demo with a
# generated key file, shows secrets written, read back and versioned with the CLI, then mounts
# it and does the same with ls, cat, echo, rm and getfattr.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" --target secretfs >/dev/null

demo="$PWD/demo"
rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"
secretfs() { ./build/secretfs "$@"; }
export SECRETFS_STORE="$demo/store"
export SECRETFS_KEY="file:$demo/master.key"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "head -c 32 /dev/urandom > demo/master.key"
head -c 32 /dev/urandom > "$demo/master.key"
chmod 600 "$demo/master.key"
echo "(SECRETFS_STORE=$SECRETFS_STORE, SECRETFS_KEY=$SECRETFS_KEY)"

step "secretfs init"
secretfs init
step "secretfs workspace create prod"
secretfs workspace create prod

step "printf 'postgres://app:first@db/app' | secretfs put prod/DATABASE_URL --type database --description 'main database'"
printf 'postgres://app:first@db/app' |
  secretfs put prod/DATABASE_URL --type database --description 'main database'
step "printf 'postgres://app:rotated@db/app' | secretfs put prod/DATABASE_URL"
printf 'postgres://app:rotated@db/app' | secretfs put prod/DATABASE_URL
step "printf 'sk_live_51H' | secretfs put prod/API_KEY --tag team=payments"
printf 'sk_live_51H' | secretfs put prod/API_KEY --tag team=payments

step "secretfs ls prod"
secretfs ls prod
step "secretfs get prod/DATABASE_URL"
secretfs get prod/DATABASE_URL; echo
step "secretfs get prod/DATABASE_URL --version 1"
secretfs get prod/DATABASE_URL --version 1; echo
step "secretfs history prod/DATABASE_URL"
secretfs history prod/DATABASE_URL

step "secretfs rollback prod/DATABASE_URL 1"
secretfs rollback prod/DATABASE_URL 1
step "secretfs rm prod/API_KEY && secretfs ls prod --deleted && secretfs undelete prod/API_KEY"
secretfs rm prod/API_KEY
secretfs ls prod --deleted
secretfs undelete prod/API_KEY

step "grep -c rotated demo/store/* (no plaintext at rest)"
if grep -q -e rotated -e sk_live_51H "$demo"/store/*; then
  echo "plaintext found in the store!" >&2
  exit 1
fi
echo "no match: values are sealed with XChaCha20-Poly1305 before they reach LMDB"

step "secretfs verify"
secretfs verify

# The same store as files.
mnt="$demo/mnt"
mkdir -p "$mnt"
trap 'fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true' EXIT
step "secretfs mount demo/mnt"
secretfs mount "$mnt"
step "ls -l demo/mnt/prod"
ls -l "$mnt/prod"
step "cat demo/mnt/prod/DATABASE_URL"
cat "$mnt/prod/DATABASE_URL"; echo
step "echo -n 'sk_live_rotated' > demo/mnt/prod/API_KEY"
echo -n 'sk_live_rotated' > "$mnt/prod/API_KEY"
step "cat demo/mnt/prod/API_KEY"
cat "$mnt/prod/API_KEY"; echo
step "getfattr -d demo/mnt/prod/API_KEY"
if command -v getfattr >/dev/null; then getfattr -d --absolute-names "$mnt/prod/API_KEY"; else
  python3 -c 'import os,sys; [print(n, "=", os.getxattr(sys.argv[1], n).decode()) for n in os.listxattr(sys.argv[1])]' "$mnt/prod/API_KEY"
fi
step "ls demo/mnt/prod/.versions/API_KEY && cat demo/mnt/prod/.versions/API_KEY/1"
ls "$mnt/prod/.versions/API_KEY"
cat "$mnt/prod/.versions/API_KEY/1"; echo
step "echo -n tmp > demo/mnt/prod/SCRATCH && rm demo/mnt/prod/SCRATCH && ls demo/mnt/prod"
echo -n tmp > "$mnt/prod/SCRATCH"
rm "$mnt/prod/SCRATCH"
ls "$mnt/prod"
step "secretfs history prod/API_KEY (the write through the mount is version 2)"
secretfs history prod/API_KEY
step "fusermount3 -u demo/mnt"
fusermount3 -u "$mnt"
trap - EXIT
step "secretfs audit --key API_KEY (every access above is an event)"
secretfs audit --key API_KEY
step "secretfs audit verify"
secretfs audit verify

printf '\nThe demo store is in %s; try: SECRETFS_STORE=%s SECRETFS_KEY=%s ./build/secretfs --help\n' \
  "$demo" "$SECRETFS_STORE" "$SECRETFS_KEY"
