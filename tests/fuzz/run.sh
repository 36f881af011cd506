#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan, UBSan) in build-fuzz/ and fuzzes each for SECONDS,
# then replays the saved crashing inputs of tests/fuzz/regressions/. Exits non-zero when any
# target crashes (or trips a property check) or any regression input fails again.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]    e.g. tests/fuzz/run.sh 120, tests/fuzz/run.sh 30 fuzz_policy
#   tests/fuzz/run.sh 0                      no fuzzing: replay the seed corpora and regressions only
#
# Each target fuzzes a copy of its seed corpus (build-fuzz/fuzz-run/TARGET/corpus), so the
# repository's corpus stays as it is; new crashing inputs land in build-fuzz/fuzz-run/TARGET/
# artifacts/ (see README.md for keeping one as a regression). Environment: JOBS (build
# parallelism, default 2), FUZZ_TIMEOUT (seconds one input may take, default 25), FUZZ_SEED
# (libFuzzer's -seed: the same seed explores the same inputs in the same order, so CI's run is
# repeatable; default: a random seed).
set -euo pipefail

usage() { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds=$1
shift
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

all_targets=(fuzz_record fuzz_policy fuzz_mount_options fuzz_names fuzz_audit_event)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "$0: unknown target $t" >&2; exit 2; }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
fuzz_dir=tests/fuzz
build=build-fuzz

scripts/install-deps.sh clang-14 libclang-rt-14-dev  # and clang's libFuzzer/sanitizer runtimes

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DSECRETFS_FUZZ=ON -DSECRETFS_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target secretfs_fuzz -j"${JOBS:-2}" >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

work="$build/fuzz-run"
failed=()
summary=()

# The files of a directory that are inputs (READMEs are not).
inputs_of() {
  [ -d "$1" ] || return 0
  find "$1" -maxdepth 1 -type f ! -name 'README*' -print | sort
}

# The error and its stack from a libFuzzer log (the whole log is kept).
report() {
  local start='^(==[0-9]+== ?ERROR|FUZZ_CHECK failed|.*runtime error:|Running: )'
  if grep -q -E "$start" "$1"; then
    sed -n -E "/$start/,/^(SUMMARY|Shadow bytes)/p" "$1" | grep -v '^Shadow bytes' | head -n 80 >&2 || true
  else
    tail -n 60 "$1" >&2
  fi
}

for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/$t"
  dir="$work/$t"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "$fuzz_dir/corpus/$t/." "$dir/corpus/"
  log="$dir/fuzz.log"
  status=OK
  line=""

  if [ "$seconds" -gt 0 ]; then
    opts=(-max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-25}" -print_final_stats=1
          -artifact_prefix="$dir/artifacts/")
    [ -f "$fuzz_dir/$t.dict" ] && opts+=(-dict="$fuzz_dir/$t.dict")
    [ -n "${FUZZ_SEED:-}" ] && opts+=(-seed="$FUZZ_SEED")
    # Audit event fields go up to 4096 bytes: let inputs grow past that bound.
    [ "$t" = fuzz_audit_event ] && opts+=(-max_len=12288)
    echo "== $t: fuzzing for ${seconds}s (log: $log)"
    start=$SECONDS
    if ! "$bin" "${opts[@]}" "$dir/corpus" >"$log" 2>&1; then
      status=CRASH
      echo "!! $t crashed; from $log:" >&2
      report "$log"
      echo "!! saved input(s): $(ls "$dir/artifacts" | sed "s|^|$dir/artifacts/|" | tr '\n' ' ')" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    took=$((SECONDS - start))
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
    units=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 || true)
    line="${runs:-?} runs in ${took:-?}s (${rate:-?} exec/s), ${cov:-cov: ?}, ${units:-corp: ?}"
  else
    # No fuzzing: every seed once.
    mapfile -t seeds < <(inputs_of "$fuzz_dir/corpus/$t")
    if [ ${#seeds[@]} -gt 0 ] && ! "$bin" "${seeds[@]}" >"$log" 2>&1; then
      status=CRASH
      echo "!! $t crashed on a seed; from $log:" >&2
      report "$log"
    fi
    line="${#seeds[@]} seeds replayed"
  fi

  # Regressions: inputs that once crashed; each must now pass.
  mapfile -t regressions < <(inputs_of "$fuzz_dir/regressions/$t")
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$bin" "${regressions[@]}" >"$dir/regressions.log" 2>&1; then
      status=CRASH
      echo "!! $t fails a regression input; from $dir/regressions.log:" >&2
      report "$dir/regressions.log"
    fi
  fi
  line+="; ${#regressions[@]} regression inputs"

  [ "$status" = OK ] || failed+=("$t")
  summary+=("$(printf '%-20s %-5s %s' "$t" "$status" "$line")")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
