#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the unit and integration tests. The chaos
# scenarios (label `chaos`, half a minute of faults under load) are left out unless asked for with -L;
# scripts/chaos.sh runs them.
#
#   scripts/test.sh                  Release build in build/, unit + integration tests
#   scripts/test.sh --sanitize       ASan+UBSan build in build-asan/, all tests
#   scripts/test.sh --tsan           ThreadSanitizer build in build-tsan/, all tests; any report
#                                    fails the test that produced it
#   scripts/test.sh --debug          Debug build (see scripts/build.sh)
#   scripts/test.sh -L unit          any other argument goes to ctest (-L integration, -L chaos, -R regex, ...)
# Env: TEST_JOBS, how many tests ctest runs at once (default 2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_flags=()
ctest_args=()
sanitize=0
tsan=0
debug=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1; build_flags+=("$1") ;;
    --tsan) tsan=1; build_flags+=("$1") ;;
    --debug) debug=1; build_flags+=("$1") ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

dir=build
[ "$sanitize" = 1 ] && dir=build-asan
[ "$tsan" = 1 ] && dir=build-tsan
[ "$debug" = 1 ] && dir="$dir-debug"
dir=${BUILD_DIR:-$ROOT/$dir}
export BUILD_DIR="$dir"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "${build_flags[@]}"

if [ "$sanitize" = 1 ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Tests shrink their largest transfers under the sanitizers' slowdown.
  export CELLROUTER_SANITIZED=1
  echo "test.sh: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
fi
if [ "$tsan" = 1 ]; then
  # Any report fails the test that produced it: the process exits 66 at the first race, and a
  # router that exits non-zero fails the test that stops it. Suppressions, each with its reason,
  # live in tests/tsan.supp.
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp}
  export CELLROUTER_SANITIZED=1
  echo "test.sh: TSAN_OPTIONS=$TSAN_OPTIONS"
fi

# Without a label of the caller's, leave the chaos scenarios to scripts/chaos.sh.
label_given=0
for arg in "${ctest_args[@]}"; do
  case "$arg" in
    -L*|--label-regex|--label-regex=*|--label-exclude|--label-exclude=*) label_given=1 ;;
  esac
done
if [ "$label_given" = 0 ]; then
  ctest_args+=(--label-exclude chaos)
fi

jobs=${TEST_JOBS:-2}
echo "test.sh: ctest --test-dir $dir --output-on-failure -j$jobs ${ctest_args[*]}"
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" "${ctest_args[@]}"
