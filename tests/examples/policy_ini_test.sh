#!/usr/bin/env bash
# Examples.PolicyIniLoadsAndDecidesAsCommented: examples/policy.ini loads without an error or a
# warning, and `secretfs policy check` decides each case below as the file's comments say
# (exit 0 allowed, 1 denied).
#   policy_ini_test.sh SECRETFS_BINARY SOURCE_DIR
set -euo pipefail
secretfs=$1
# A copy in a directory of our own: the checkout may belong to another user or be group-writable
# (umask 002), and a policy file another user could change is refused (docs/policy.md).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
install -m 0644 "$2/examples/policy.ini" "$work/policy.ini"
policy=$work/policy.ini

failed=0
# check EXPECTED_EXIT UID GID GROUPS TARGET OP  (GROUPS '' for none: the ids need not exist)
check() {
  local expected=$1 uid=$2 gid=$3 groups=$4 target=$5 op=$6 rc=0 out err
  err=$(mktemp)
  out=$("$secretfs" policy check --policy "$policy" --uid "$uid" --gid "$gid" \
    --groups "$groups" "$target" "$op" 2>"$err") || rc=$?
  local what="uid $uid gid $gid groups '$groups' $op $target"
  if [ "$rc" -ne "$expected" ]; then
    echo "FAIL: $what: exit $rc, expected $expected"
    printf '%s\n' "$out" "$(cat "$err")" | sed 's/^/    /'
    failed=1
  elif [ -s "$err" ]; then
    echo "FAIL: $what: the policy file does not load cleanly:"
    sed 's/^/    /' "$err"
    failed=1
  else
    echo "ok: $what -> $([ "$rc" -eq 0 ] && echo allowed || echo denied)"
  fi
  rm -f "$err"
}

# root is the owner of everything.
check 0 0 0 '' prod own
check 0 0 0 '' staging/ANY read-versions
# The app (uid 1001) reads exactly DB_PASSWORD and API_TOKEN of prod: nothing else, no writes,
# no other workspace.
check 0 1001 1001 '' prod/DB_PASSWORD read
check 0 1001 1001 '' prod/API_TOKEN read
check 0 1001 1001 '' prod list
check 1 1001 1001 '' prod/STRIPE_KEY read
check 1 1001 1001 '' prod/STRIPE_KEY list
check 1 1001 1001 '' prod/DB_PASSWORD write
check 1 1001 1001 '' prod/DB_PASSWORD read-versions
check 1 1001 1001 '' staging list
# The CI job (uid 1002) writes prod's keys and lists them, and reads none.
check 0 1002 1002 '' prod/API_TOKEN write
check 0 1002 1002 '' prod/NEW_KEY write
check 0 1002 1002 '' prod/API_TOKEN list
check 1 1002 1002 '' prod/API_TOKEN read
check 1 1002 1002 '' staging/API_TOKEN write
# Operators (gid 2000, primary or supplementary) administer every workspace, but are not owners.
check 0 5000 100 2000 prod/API_TOKEN read-versions
check 0 5000 100 2000 staging manage-workspaces
check 0 5000 2000 '' prod/DB_PASSWORD write
check 1 5000 100 2000 prod own
# Monitoring (gid 2001) sees every workspace and its names, and reads no value.
check 0 5001 2001 '' staging/DB_PASSWORD list
check 1 5001 2001 '' prod/DB_PASSWORD read
# Anyone else sees nothing.
check 1 5002 100 '' prod list

[ "$failed" -eq 0 ] && echo "PASS"
exit "$failed"
