#!/usr/bin/env bash
# Thread-per-core against one io_context shared by every thread, and against nginx and HAProxy:
# CPU per request, p99 and scaling with cores (docs/milestones/m5-runtimes.md).
#
#   scripts/install-bench-deps.sh && scripts/build.sh && scripts/bench-runtimes.sh
#
# Builds the shared-io_context variant of cell-router into SHARED_BUILD_DIR when it is missing or
# older than the sources (CMake option CELLROUTER_SHARED_IO_CONTEXT; it is never the shipped
# router), then runs scripts/bench.sh twice with contenders nginx, HAProxy, cell-router and the
# variant, small requests only:
#   one core    1 worker each, pinned to core 0; wrk and the backends on core 1
#   two cores   2 workers each on cores 0,1, sharing them with wrk (2 threads) and the backends
# and prints how each contender scales from the first to the second (requests/s, CPU per
# request, p99), from the two runs' JSON summaries (bench/runtime-scaling.py).
#
# Env: ROUNDS [3]  DURATION [8s]  CONNECTIONS ["16 64 256"]  BUILD_DIR [build]
#      SHARED_BUILD_DIR [build-shared]  OUT_DIR [$BUILD_DIR/bench/runtimes-<stamp>]
#      CONTENDERS ["nginx haproxy router router-shared"]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SHARED_BUILD_DIR=${SHARED_BUILD_DIR:-$ROOT/build-shared}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench/runtimes-$(date +%Y%m%d-%H%M%S)}
export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8s} CONNECTIONS=${CONNECTIONS:-16 64 256}
export CONTENDERS=${CONTENDERS:-nginx haproxy router router-shared}
export BUILD_DIR SHARED_BUILD_DIR BODY_TESTS="" IDLE_CONNS=0

[ "$(nproc)" -ge 2 ] || { echo "bench-runtimes: needs at least 2 cores" >&2; exit 1; }
[ -x "$BUILD_DIR/cell-router" ] || { echo "bench-runtimes: $BUILD_DIR/cell-router not found: run scripts/build.sh first" >&2; exit 1; }

newest_source=$(find "$ROOT/src" "$ROOT/include" "$ROOT/CMakeLists.txt" "$ROOT/cmake" -type f -newer "$SHARED_BUILD_DIR/cell-router" 2>/dev/null | head -n1 || true)
if [ ! -x "$SHARED_BUILD_DIR/cell-router" ] || [ -n "$newest_source" ]; then
  echo "bench-runtimes: building the shared-io_context variant in $SHARED_BUILD_DIR" >&2
  BUILD_DIR=$SHARED_BUILD_DIR "$ROOT/scripts/build.sh" --no-tests -DCELLROUTER_SHARED_IO_CONTEXT=ON \
    -DCELLROUTER_BUILD_BENCHMARKS=OFF >&2
fi

mkdir -p "$OUT_DIR"
echo "bench-runtimes: one core: 1 worker each on core 0, load on core 1" >&2
OUT_DIR=$OUT_DIR/one-core PROXY_THREADS=1 PROXY_CPU=0 LOAD_CPU=1 LOAD_THREADS=1 "$ROOT/scripts/bench.sh"
echo "bench-runtimes: two cores: 2 workers each on cores 0,1, load on the same cores" >&2
OUT_DIR=$OUT_DIR/two-cores PROXY_THREADS=2 PROXY_CPU=0,1 LOAD_CPU=0,1 LOAD_THREADS=2 "$ROOT/scripts/bench.sh"

python3 "$ROOT/bench/runtime-scaling.py" --one "$(ls "$OUT_DIR"/one-core/results-*.json | grep -v meta | head -n1)" \
  --two "$(ls "$OUT_DIR"/two-cores/results-*.json | grep -v meta | head -n1)" --md "$OUT_DIR/scaling.md"
echo "bench-runtimes: results in $OUT_DIR (one-core/, two-cores/, scaling.md)" >&2
