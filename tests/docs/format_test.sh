#!/usr/bin/env bash
# Every C++ source of the project is as clang-format (Debian 12's, 14) and .clang-format say: a
# change that skipped the formatter fails the suite, not a later reviewer.
#   format_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format is not installed (scripts/install-deps.sh)" >&2; exit 1; }
mapfile -d '' sources < <(find audit cli common fs keyring policy store tests \
  \( -name '*.cpp' -o -name '*.h' \) -print0 | sort -z)
[ ${#sources[@]} -gt 100 ] || { echo "found only ${#sources[@]} sources under $1" >&2; exit 1; }
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "format with: clang-format -i FILE..." >&2
  exit 1
fi
echo "${#sources[@]} sources formatted"
