#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test (unit + integration).
#
#   scripts/test.sh                  Release build in build/, all tests
#   scripts/test.sh --sanitize       ASan+UBSan build in build-asan/, all tests
#   scripts/test.sh --debug          Debug build (see scripts/build.sh)
#   scripts/test.sh -L unit          any other argument goes to ctest (-L integration, -R regex, ...)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_flags=()
ctest_args=()
sanitize=0
debug=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1; build_flags+=("$1") ;;
    --debug) debug=1; build_flags+=("$1") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

dir=build
[ "$sanitize" = 1 ] && dir=build-asan
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

echo "test.sh: ctest --test-dir $dir --output-on-failure -j2 ${ctest_args[*]}"
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 "${ctest_args[@]}"
