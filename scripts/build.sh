#!/usr/bin/env bash
# Builds cellrouter with CMake + Ninja.
#
#   scripts/build.sh                 Release build in build/
#   scripts/build.sh --sanitize      ASan+UBSan build (RelWithDebInfo) in build-asan/
#   scripts/build.sh --tsan          ThreadSanitizer build (RelWithDebInfo) in build-tsan/
#   scripts/build.sh --debug         Debug build in build-debug/ (build-asan-debug/ with --sanitize)
#   scripts/build.sh --no-tests      skip the test targets (-DCELLROUTER_BUILD_TESTS=OFF)
#   scripts/build.sh ... -DVAR=VALUE extra arguments are passed to the CMake configure step
#
# Env: BUILD_DIR (overrides the directory), JOBS (default: nproc).
# Incremental and idempotent: run it as often as you like.
set -euo pipefail

# Let ccache reuse objects across clones and build directories: paths under the repository are
# hashed relative to it, and the working directory is left out of objects with debug info.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

sanitize=0
tsan=0
debug=0
tests=ON
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    --debug) debug=1 ;;
    --no-tests) tests=OFF ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -D*) cmake_args+=("$1") ;;
    *) echo "build.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$sanitize" = 1 ] && [ "$tsan" = 1 ]; then
  echo "build.sh: --sanitize and --tsan cannot be combined" >&2
  exit 2
fi
if [ "$sanitize" = 1 ]; then
  dir=build-asan
  build_type=RelWithDebInfo
  cmake_args+=("-DCELLROUTER_SANITIZE=address,undefined" "-DCELLROUTER_BUILD_BENCHMARKS=OFF")
elif [ "$tsan" = 1 ]; then
  dir=build-tsan
  build_type=RelWithDebInfo
  # The benchmarks measure speed, which a sanitized build cannot tell.
  cmake_args+=("-DCELLROUTER_SANITIZE=thread" "-DCELLROUTER_BUILD_BENCHMARKS=OFF")
else
  dir=build
  build_type=Release
  cmake_args+=("-DCELLROUTER_SANITIZE=")
fi
if [ "$debug" = 1 ]; then
  dir="$dir-debug"
  build_type=Debug
fi
dir=${BUILD_DIR:-$ROOT/$dir}
jobs=${JOBS:-$(nproc)}

for tool in cmake ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: '$tool' not found; run scripts/install-deps.sh first" >&2
    exit 1
  fi
done

generator=()
# Choose Ninja for a new build directory; keep whatever generator an existing one uses.
if [ ! -f "$dir/CMakeCache.txt" ]; then
  generator=(-G Ninja)
fi

if command -v ccache >/dev/null 2>&1; then
  echo "build.sh: ccache enabled ($(ccache --version | head -n 1))"
fi

echo "build.sh: configuring $dir ($build_type)"
cmake -S "$ROOT" -B "$dir" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DCELLROUTER_BUILD_TESTS="$tests" \
  "${cmake_args[@]}"

echo "build.sh: building with -j$jobs"
cmake --build "$dir" -j "$jobs"

echo "build.sh: done ($build_type)"
echo "  router: $dir/cell-router"
echo "  cell:   $dir/cells/cell"
if [ "$tests" = ON ]; then
  echo "  tests:  ctest --test-dir $dir --output-on-failure"
fi
