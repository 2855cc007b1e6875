#!/usr/bin/env bash
# Builds cellrouter and runs the chaos scenarios (ctest label `chaos`): faults under continuous
# keep-alive load against the real binaries on loopback. Each scenario prints what it sent, the
# answers by status, the failures and what it measured; docs/reliability.md explains them.
#
#   scripts/chaos.sh                  Release build in build/, every scenario
#   scripts/chaos.sh -R Sigterm       any argument goes to ctest (one scenario, --repeat, ...)
#
# Env: BUILD_DIR (default build/), JOBS (build parallelism).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,9p' "$0"
  exit 0
fi
dir=${BUILD_DIR:-$ROOT/build}
export BUILD_DIR="$dir"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
echo "chaos.sh: ctest --test-dir $dir -L chaos --output-on-failure --verbose $*"
# --verbose: the scenarios' measurements are the point, not only pass or fail.
ctest --test-dir "$dir" -L chaos --output-on-failure --no-tests=error --verbose "$@"
