#!/usr/bin/env bash
# Examples.UnitsPassSystemdAnalyzeVerify: examples/example-app.service and
# examples/etc-secrets.mount load without errors or warnings in `systemd-analyze verify`, alone
# and started together with local-fs.target as at boot (which is where an ordering cycle shows).
#   units_verify_test.sh SECRETFS_BINARY SOURCE_DIR
#
# systemd-analyze verify works offline (systemd need not be PID 1). It exits non-zero for real
# errors (a bad unit name, no ExecStart=, a missing executable, a Requires= on a unit that does
# not exist) but only warns, exit 0, for others: an unknown key or section, a value it cannot
# parse, an ordering cycle. So this test fails on a non-zero exit AND on any line of output,
# except lines about the host's own installed units (paths under /lib, /usr/lib, /etc/systemd
# or /run/systemd): their warnings are the host's business, not the examples'.
set -euo pipefail
src=$2

skip() { echo "SKIP: $*"; exit 77; }
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit's file name matters (a .mount unit must be named after Where=), so keep it.
cp "$src/examples/example-app.service" "$src/examples/etc-secrets.mount" "$tmp/"
# What boot does: start local-fs.target, the mount and the app in one transaction.
cat >"$tmp/examples-boot.target" <<'UNIT'
[Unit]
Description=local-fs.target with the example units, as at boot
Wants=local-fs.target etc-secrets.mount example-app.service
UNIT

# Documentation= man pages are checked only where man can look them up.
man_check=--man=no
if command -v man >/dev/null && man -w mount.fuse3 >/dev/null 2>&1; then man_check=--man=yes; fi

failed=0
verify() {
  local rc=0 out
  out=$(cd "$tmp" && systemd-analyze verify "$man_check" "$@" 2>&1) || rc=$?
  local relevant
  relevant=$(grep -Ev '^(/usr)?/lib/systemd/|^/etc/systemd/|^/run/systemd/' <<<"$out" || true)
  if [ "$rc" -ne 0 ] || [ -n "$relevant" ]; then
    echo "FAIL: systemd-analyze verify $*: exit $rc"
    printf '%s\n' "$out" | sed 's/^/    /'
    failed=1
  else
    echo "ok: systemd-analyze verify $*"
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    (host units) /'
  fi
}
verify "$tmp/etc-secrets.mount"
verify "$tmp/example-app.service"
verify "$tmp/examples-boot.target"

# The point of the app unit: it waits for the mount (verify cannot show the ordering itself).
if ! grep -q '^RequiresMountsFor=/etc/secrets' "$tmp/example-app.service"; then
  echo "FAIL: example-app.service has no RequiresMountsFor=/etc/secrets..."
  failed=1
fi

[ "$failed" -eq 0 ] && echo "PASS"
exit "$failed"
