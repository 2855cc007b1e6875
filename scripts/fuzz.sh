#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang 15 under ASan + UBSan into build-fuzz/
# (a project of its own: the gcc build is not touched) and runs each for a bounded time on a copy
# of its seed corpus. Prints executions and coverage per harness; fails when any harness finds a
# crash, leak, timeout, sanitizer report or violated property (docs/fuzzing.md).
#
#   scripts/fuzz.sh                         every harness for FUZZ_SECONDS each
#   scripts/fuzz.sh fuzz_config ...         only the harnesses named
#   scripts/fuzz.sh --build-only            build them, run nothing
#
# Env: FUZZ_SECONDS (60), BUILD_DIR (build-fuzz), FUZZ_WORK ($BUILD_DIR/runs: corpus copies, logs
#      and crashing inputs), JOBS (nproc), FUZZ_CXX (clang++-15).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

all_harnesses=(fuzz_config fuzz_request_head fuzz_response_head fuzz_chunked fuzz_control_plane_messages)
seconds=${FUZZ_SECONDS:-60}
dir=${BUILD_DIR:-$ROOT/build-fuzz}
work=${FUZZ_WORK:-$dir/runs}
jobs=${JOBS:-$(nproc)}
cxx=${FUZZ_CXX:-clang++-15}

build_only=0
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    fuzz_*)
      if [[ " ${all_harnesses[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: no harness named $1 (have: ${all_harnesses[*]})" >&2; exit 2
      fi
      harnesses+=("$1") ;;
    *) echo "fuzz.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all_harnesses[@]}")
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: FUZZ_SECONDS must be a positive number of seconds, got '$seconds'" >&2; exit 2
fi

# Inputs longer than the largest useful one only slow the search down.
max_len() {
  case "$1" in
    fuzz_config) echo 16384 ;;
    fuzz_control_plane_messages) echo 8192 ;;
    fuzz_chunked) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

dictionary() {
  case "$1" in
    fuzz_config|fuzz_control_plane_messages) echo "$ROOT/tests/fuzz/dict/json.dict" ;;
    *) echo "$ROOT/tests/fuzz/dict/http.dict" ;;
  esac
}

"$ROOT/scripts/install-deps.sh" --fuzz
generator=()
[ -f "$dir/CMakeCache.txt" ] || generator=(-G Ninja)
echo "fuzz.sh: configuring $dir with $cxx"
cmake -S "$ROOT/tests/fuzz" -B "$dir" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx"
echo "fuzz.sh: building ${harnesses[*]} with -j$jobs"
cmake --build "$dir" -j "$jobs" --target "${harnesses[@]}"
[ "$build_only" = 1 ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Symbolized stack traces in crash reports, from whichever llvm-symbolizer is installed.
for symbolizer in llvm-symbolizer-15 llvm-symbolizer; do
  if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v "$symbolizer" >/dev/null 2>&1; then
    ASAN_SYMBOLIZER_PATH=$(command -v "$symbolizer")
    export ASAN_SYMBOLIZER_PATH
  fi
done

summary=()
failed=()
for harness in "${harnesses[@]}"; do
  run=$work/$harness
  rm -rf "$run"
  mkdir -p "$run/artifacts"
  # A copy: what the run adds to the corpus stays out of the source tree.
  cp -r "$ROOT/tests/fuzz/corpus/$harness" "$run/corpus"
  args=(-max_total_time="$seconds" -max_len="$(max_len "$harness")" -timeout=10 -rss_limit_mb=2048
        -dict="$(dictionary "$harness")" -print_final_stats=1 -artifact_prefix="$run/artifacts/")
  echo
  echo "=== $harness: ${seconds}s on $(find "$run/corpus" -type f | wc -l) seeds"
  t0=$SECONDS
  status=0
  # The time bound is libFuzzer's; the outer one only catches a run that never starts fuzzing.
  timeout $((seconds + 300)) "$dir/$harness" "${args[@]}" "$run/corpus" >"$run/log" 2>&1 || status=$?
  final=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$run/log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$final")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$final")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$run/log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$run/log")
  corpus=$(find "$run/corpus" -type f | wc -l)
  result=ok
  if [ "$status" -ne 0 ]; then
    result="FAILED (exit $status)"
    failed+=("$harness")
    grep -E 'ERROR|runtime error|violated|SUMMARY' "$run/log" | head -n 5 || true
    echo "--- $harness: log $run/log, inputs in $run/artifacts:"
    ls "$run/artifacts"
  fi
  summary+=("$(printf '%-28s %-16s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %-5s %ss' \
    "$harness" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$((SECONDS - t0))")")
  echo "${summary[-1]}"
done

echo
echo "=== fuzz summary (${seconds}s per harness, ASan+UBSan, $(date -u +%Y-%m-%dT%H:%MZ))"
for line in "${summary[@]}"; do echo "  $line"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== fuzz FAILED: ${failed[*]} (reproduce: $dir/<harness> <input>)"
  exit 1
fi
echo "=== fuzz passed"
