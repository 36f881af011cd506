#!/usr/bin/env bash
# Installs the Debian 12 packages secretfs needs to build and test, when any is missing.
#   scripts/install-deps.sh [PACKAGE...]   also these (tests/fuzz/run.sh adds clang-14 ...)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libsodium-dev liblmdb-dev libinih-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  clang-format  # tests/docs/format_test.sh: the sources are formatted as .clang-format says
  libbenchmark-dev  # tests/bench/micro_bench.cpp (Google Benchmark), built when installed
  libfuse3-dev fuse3 libsystemd-dev
  attr lmdb-utils
  bubblewrap passwd util-linux  # tests: containers (bwrap), test users (useradd), setpriv
  systemd man-db groff-base dpkg-dev python3 python3-yaml  # tests: units, journal, man pages, .deb
)

packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
