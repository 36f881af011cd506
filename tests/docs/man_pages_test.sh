#!/usr/bin/env bash
# ManPages.RenderWithoutWarnings: the man pages render cleanly and cover the real interface.
#
#   1. every page in MAN_DIR renders with man(1) (`man -l`, MANWIDTH=80) without an error;
#   2. groff reports no warning for it (`groff -t -man -Tutf8 -ww -z`), and lexgrog(1) can read its
#      NAME section (what mandb and apropos use);
#   3. secretfs.1 has an entry in COMMANDS for every subcommand that `secretfs --help` lists, and
#      for every nested subcommand that `secretfs SUBCOMMAND --help` lists (keyring, workspace,
#      audit, policy): a tagged paragraph whose tag starts with the command's words;
#   4. secretfs.1's MOUNT OPTIONS section names every option listed in the -o help of
#      `secretfs mount --help`.
#
# Usage: man_pages_test.sh MAN_DIR SECRETFS_BINARY
# Prints each problem and exits 1 when there is any; exits 0 when all is well.
# Needs groff-base (groff), man-db (man, lexgrog).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 MAN_DIR SECRETFS_BINARY" >&2
  exit 2
fi
man_dir=$1
secretfs=$2

export LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat
# Environment that would change what the binary prints.
unset SECRETFS_STORE SECRETFS_KEY SECRETFS_POLICY

problems=0
problem() {
  echo "FAIL: $*" >&2
  problems=$((problems + 1))
}

for tool in man groff lexgrog; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (packages groff-base, man-db)" >&2
    exit 1
  }
done
[ -x "$secretfs" ] || { echo "FAIL: $secretfs is not an executable" >&2; exit 1; }

page1=$man_dir/secretfs.1
for required in "$page1" "$man_dir/secretfs.ini.5"; do
  [ -f "$required" ] || problem "$required is missing"
done

# --- 1 and 2: every page renders, without warnings -------------------------------------------
shopt -s nullglob
pages=("$man_dir"/*.[1-8])
[ ${#pages[@]} -gt 0 ] || problem "no man pages in $man_dir"
for page in "${pages[@]}"; do
  if ! err=$(man -l "$page" 2>&1 >/dev/null); then
    problem "man -l $page failed: $err"
  elif [ -n "$err" ]; then
    problem "man -l $page printed: $err"
  fi
  if ! warnings=$(groff -t -man -Tutf8 -ww -z "$page" 2>&1); then
    problem "groff failed on $page: $warnings"
  elif [ -n "$warnings" ]; then
    problem "groff warns about $page:"$'\n'"$warnings"
  fi
  lexgrog "$page" >/dev/null 2>&1 || problem "lexgrog cannot parse the NAME section of $page"
done

[ -f "$page1" ] || { echo "$problems problem(s)" >&2; exit 1; }

# --- 3 and 4: the interface of the binary is documented --------------------------------------
# Plain text: no hyphenation, lines wide enough that no tag wraps, no bold or underline.
text=$(groff -t -man -Tascii -rHY=0 -rLL=400n -P-cbou "$page1" 2>/dev/null)

# The body of section NAME (from its heading to the next heading at column 0).
section() {
  awk -v name="$1" '
    /^[A-Z]/ { inside = ($0 == name); next }
    inside { print }' <<<"$text"
}
commands_section=$(section COMMANDS)
options_section=$(section "MOUNT OPTIONS")
[ -n "$commands_section" ] || problem "secretfs.1 has no COMMANDS section"
[ -n "$options_section" ] || problem "secretfs.1 has no MOUNT OPTIONS section"

# The names listed under "Subcommands:" in a CLI11 help text.
subcommands_of() {
  awk '
    /^Subcommands:/ { inside = 1; next }
    inside && /^[^ ]/ { inside = 0 }
    inside && /^  [^ ]/ { print $1 }' <<<"$1"
}

# An entry is a tagged paragraph: its tag, indented 7 columns, starts with the command's words.
has_entry() {
  local words=$1
  grep -qE "^ {7}${words//./\\.}( |$)" <<<"$commands_section"
}

help=$("$secretfs" --help) || { echo "FAIL: $secretfs --help failed" >&2; exit 1; }
mapfile -t top < <(subcommands_of "$help")
[ ${#top[@]} -ge 10 ] ||
  problem "found only ${#top[@]} subcommand(s) in '$secretfs --help' (${top[*]:-none}): has its format changed?"

checked=0
for cmd in "${top[@]}"; do
  has_entry "$cmd" ||
    problem "secretfs.1: COMMANDS has no entry for '$cmd' (a .TP tag starting with '$cmd')"
  checked=$((checked + 1))
  sub_help=$("$secretfs" "$cmd" --help) || {
    problem "$secretfs $cmd --help failed"
    continue
  }
  mapfile -t nested < <(subcommands_of "$sub_help")
  for sub in "${nested[@]}"; do
    has_entry "$cmd $sub" ||
      problem "secretfs.1: COMMANDS has no entry for '$cmd $sub' (a .TP tag starting with '$cmd $sub')"
    checked=$((checked + 1))
  done
done
keyring_subs=$(subcommands_of "$("$secretfs" keyring --help)")
[ -n "$keyring_subs" ] || problem "found no subcommands in '$secretfs keyring --help'"

# The mount options named in the -o help: "Mount options: ro, workspace=W, ..., allow_other, ...",
# possibly wrapped onto following lines, up to the next option or a blank line.
mount_help=$("$secretfs" mount --help) || { echo "FAIL: $secretfs mount --help failed" >&2; exit 1; }
option_text=$(awk '
  /Mount options:/ { inside = 1; sub(/.*Mount options:/, ""); print; next }
  inside && (/^ *-/ || /^ *$/) { inside = 0 }
  inside { print }' <<<"$mount_help")
mapfile -t options < <(tr ',' '\n' <<<"$option_text" | sed -e 's/^[[:space:]]*//' -e 's/[=[:space:]].*//' |
  grep -E '^[a-z_][a-z0-9_]*$' || true)
[ ${#options[@]} -ge 5 ] ||
  problem "found only ${#options[@]} mount option(s) in the -o help of '$secretfs mount --help': has its format changed?"
for option in "${options[@]}"; do
  grep -qE "(^|[^a-z0-9_])${option}([^a-z0-9_]|$)" <<<"$options_section" ||
    problem "secretfs.1: MOUNT OPTIONS does not name '$option' (listed in secretfs mount --help)"
done

if [ "$problems" -gt 0 ]; then
  echo "$problems problem(s) with the man pages in $man_dir" >&2
  exit 1
fi
echo "ok: ${#pages[@]} page(s) render without warnings; secretfs.1 documents $checked command(s) and ${#options[@]} mount option(s)"
