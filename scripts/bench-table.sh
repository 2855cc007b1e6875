#!/usr/bin/env bash
# How the routing table scales to a million keys: generates routing files of KEYS keys with
# bench/gen-table.py, then runs benchmarks/table_benchmark over them: lookup time (mean, and
# p50/p99 of single lookups) for known and unknown keys, the per-request snapshot cost,
# parse + validate + build time, the time to free a table, and the built table's memory per key.
# The method and the latest figures are in docs/milestones/m5-scale.md.
#
#   scripts/build.sh && scripts/bench-table.sh
#   KEYS="10000 100000" scripts/bench-table.sh --benchmark_filter=route    (arguments go to the benchmark)
#
# Each benchmark runs REPETITIONS times and only the aggregates are printed: quote the medians,
# which a neighbour's burst of load on a shared machine moves least.
# Results: printed, and kept as OUT_DIR/table-<stamp>.txt and .json (Google Benchmark's JSON).
#
# Env (defaults in brackets):
#   BUILD_DIR [build]  KEYS ["10000 100000 1000000"]  OUT_DIR [$BUILD_DIR/bench]
#   TABLE_DIR [a temporary directory, removed at exit]: where the routing files are generated;
#             files already there are reused (the generator is deterministic)
#   REPETITIONS [3]  MAX_SECONDS [1200]: the benchmark is stopped after this long
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEYS=${KEYS:-10000 100000 1000000}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
REPETITIONS=${REPETITIONS:-3}
MAX_SECONDS=${MAX_SECONDS:-1200}
BENCH=$BUILD_DIR/benchmarks/table_benchmark

die() { echo "bench-table: $*" >&2; exit 1; }
[ -x "$BENCH" ] || die "$BENCH not found: run scripts/build.sh first"
command -v python3 >/dev/null || die "python3 is not installed"
read -r -a key_counts <<<"${KEYS//,/ }"
[ ${#key_counts[@]} -gt 0 ] || die "KEYS is empty"
for n in "${key_counts[@]}"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "bad KEYS entry '$n'"; done
[[ "$REPETITIONS" =~ ^[1-9][0-9]*$ ]] || die "bad REPETITIONS '$REPETITIONS'"

if [ -n "${TABLE_DIR:-}" ]; then
  mkdir -p "$TABLE_DIR"
  table_dir=$TABLE_DIR
else
  table_dir=$(mktemp -d /tmp/cellrouter-tables.XXXXXX)
  trap 'rm -rf "$table_dir"' EXIT
fi

for n in "${key_counts[@]}"; do
  if [ ! -s "$table_dir/table-$n.json" ]; then
    echo "bench-table: generating $n keys" >&2
    python3 "$ROOT/bench/gen-table.py" --keys "$n" --out "$table_dir/table-$n.json.tmp"
    mv "$table_dir/table-$n.json.tmp" "$table_dir/table-$n.json"
  fi
done

mkdir -p "$OUT_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee "$OUT_DIR/table-$stamp.txt"
TABLE_BENCH_DIR=$table_dir TABLE_BENCH_KEYS="${key_counts[*]}" timeout -k 5 "$MAX_SECONDS" "$BENCH" \
  --benchmark_repetitions="$REPETITIONS" --benchmark_report_aggregates_only=true \
  --benchmark_out="$OUT_DIR/table-$stamp.json" --benchmark_out_format=json "$@" 2>&1 | tee -a "$OUT_DIR/table-$stamp.txt"
echo "bench-table: results in $OUT_DIR/table-$stamp.txt and .json" >&2
