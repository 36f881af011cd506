#!/usr/bin/env bash
# Package.DebianPackageInstallsMountsAndRemovesCleanly: `cpack -G DEB` from a build configured for
# /usr; dpkg -i installs the binary, the unit, the man pages and the examples; a store mounts
# through `mount -t fuse.secretfs` and through an fstab line; dpkg -r leaves nothing behind.
#   deb_test.sh SOURCE_DIR
set -euo pipefail
src=$1
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i, mount)"
# mount(8) runs its helpers with a fixed PATH where /usr/local/bin comes first: a secretfs from
# `cmake --install` there would serve instead of the package's. In a mount namespace of this
# test's own, an empty tmpfs hides /usr/local/bin from everything the test runs.
if [ "${SECRETFS_DEB_NS:-}" != 1 ]; then
  SECRETFS_DEB_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
for tool in cpack dpkg-deb dpkg-shlibdeps fusermount3 man; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
dpkg -s secretfs >/dev/null 2>&1 && skip "a secretfs package is installed here already; not touching it"

work=$(mktemp -d /tmp/secretfs-deb-XXXXXX)
installed=0
cleanup() {
  grep -q " $work/mnt fuse.secretfs " /proc/mounts && fusermount3 -u "$work/mnt" || true
  [ "$installed" = 1 ] && dpkg -r secretfs >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake -S "$src" -B "$work/build" -DCMAKE_INSTALL_PREFIX=/usr -DSECRETFS_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/build" -j "$(nproc)" >/dev/null
(cd "$work/build" && cpack -G DEB >/dev/null)
deb=$(ls "$work"/build/secretfs_*.deb)
info=$(dpkg-deb --info "$deb")  # (grep -q in a pipe would end dpkg-deb with SIGPIPE)
grep -q "Depends:.*fuse3" <<<"$info" || fail "the package does not depend on fuse3: $info"
grep -q "Depends:.*libsodium" <<<"$info" || fail "no shared-library dependencies: $info"

dpkg -i "$deb" >/dev/null
installed=1
for f in /usr/bin/secretfs /usr/lib/systemd/system/secretfs@.service \
  /usr/share/man/man1/secretfs.1 /usr/share/man/man5/secretfs.ini.5 \
  /usr/share/doc/secretfs/examples/secretfs.ini /usr/share/doc/secretfs/examples/policy.ini \
  /usr/share/doc/secretfs/examples/etc-secrets.mount; do
  [ -e "$f" ] || fail "the package did not install $f"
done
grep -q '^ExecStart=/usr/bin/secretfs mount -f ' /usr/lib/systemd/system/secretfs@.service ||
  fail "the installed unit does not start /usr/bin/secretfs"
page=$(MANWIDTH=80 man secretfs 2>/dev/null) || fail "man secretfs does not render"
grep -q "keyring" <<<"$page" || fail "man secretfs: no keyring section"
page=$(MANWIDTH=80 man 5 secretfs.ini 2>/dev/null) || fail "man 5 secretfs.ini does not render"
grep -qi "policy" <<<"$page" || fail "man 5 secretfs.ini: no policy section"

# mount.fuse3 runs `secretfs STORE MOUNTPOINT -o OPTIONS`: the package's, /usr/local/bin is hidden.
head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
secretfs -s "$work/store" -k "file:$work/key" init >/dev/null
secretfs -s "$work/store" -k "file:$work/key" workspace create dev >/dev/null
printf 'packaged' | secretfs -s "$work/store" -k "file:$work/key" put dev/TOKEN >/dev/null
mkdir "$work/mnt"

mount -t fuse.secretfs "$work/store" "$work/mnt" -o "key=file:$work/key"
[ "$(cat "$work/mnt/dev/TOKEN")" = packaged ] || fail "read through mount -t fuse.secretfs"
umount "$work/mnt"

printf '%s %s fuse.secretfs noauto,key=file:%s 0 0\n' "$work/store" "$work/mnt" "$work/key" \
  >"$work/fstab"
mount --fstab "$work/fstab" "$work/mnt"
[ "$(cat "$work/mnt/dev/TOKEN")" = packaged ] || fail "read through the fstab line"
umount "$work/mnt"
mounts=$(secretfs -s "$work/store" -k "file:$work/key" audit --op mount --json)
grep -q '"exe":"/usr/bin/secretfs"' <<<"$mounts" ||
  fail "the mounts were not served by the packaged /usr/bin/secretfs: $mounts"

dpkg -r secretfs >/dev/null
installed=0
for f in /usr/bin/secretfs /usr/lib/systemd/system/secretfs@.service /usr/share/man/man1/secretfs.1 \
  /usr/share/doc/secretfs/examples; do
  [ ! -e "$f" ] || fail "dpkg -r left $f behind"
done
dpkg -s secretfs >/dev/null 2>&1 && fail "dpkg still lists secretfs as installed"
echo "ok: built, installed, mounted (mount -t and fstab), removed"
