#!/usr/bin/env bash
# Systemd.ServiceUnitPassesSystemdAnalyzeVerify: the secretfs@.service the build configured loads
# without errors or warnings as an instance (secretfs@demo.service), pointing at the built binary.
#   unit_verify_test.sh SECRETFS_BINARY BUILD_DIR
# As in tests/examples/units_verify_test.sh: systemd-analyze only warns (exit 0) about unknown
# keys and unparseable values, so any output line fails the test, except the host's own units'.
set -euo pipefail
binary=$1 build=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit=$build/systemd/secretfs@.service
grep -q '^ExecStart=.*/secretfs mount -f -k credential:secretfs.key -o config=/etc/secretfs/%i.ini$' \
  "$unit" || { echo "FAIL: unexpected ExecStart= in $unit"; exit 1; }
sed "s|^ExecStart=[^ ]*/secretfs |ExecStart=$binary |" "$unit" >"$tmp/secretfs@demo.service"

rc=0
out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/secretfs@demo.service" 2>&1) || rc=$?
relevant=$(grep -Ev '^(/usr)?/lib/systemd/|^/etc/systemd/|^/run/systemd/' <<<"$out" || true)
if [ "$rc" -ne 0 ] || [ -n "$relevant" ]; then
  echo "FAIL: systemd-analyze verify secretfs@demo.service: exit $rc"
  printf '%s\n' "$out" | sed 's/^/    /'
  exit 1
fi
for directive in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' \
  LoadCredentialEncrypted=secretfs.key: DeviceAllow=/dev/fuse; do
  grep -qF "$directive" "$unit" || { echo "FAIL: $unit lacks $directive"; exit 1; }
done
# Each of these would put the service in a mount namespace of its own and hide the mount.
for hiding in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts; do
  grep -q "^$hiding=" "$unit" && { echo "FAIL: $hiding= hides the mount from the host"; exit 1; }
done
echo "ok: secretfs@demo.service verifies"
