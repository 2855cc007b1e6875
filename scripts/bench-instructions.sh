#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: exact and repeatable
# whatever else the machine is doing, so two builds can be compared on a busy machine where CPU
# time cannot (docs/benchmarks.md).
#
#   scripts/install-bench-deps.sh && scripts/build.sh && scripts/bench-instructions.sh
#   ROUTERS="/path/to/old/cell-router build/cell-router" scripts/bench-instructions.sh
#
# For each router binary and each access-log setting: one demo cell on loopback, the router
# (--threads 1) under callgrind, a warm-up, then the counters are zeroed, wrk sends small
# keep-alive GETs rotating the routing key for DURATION, and the instructions counted are divided
# by the requests wrk completed: for the worker thread alone (the one that runs the sessions),
# and for all of the router's threads (logging, health checks, reloads). Each measurement runs
# ROUNDS times.
#
# Env: ROUTERS [build/cell-router]  ACCESS_LOGS ["off on"]  CONNECTIONS [16]  DURATION [5s]
#      ROUNDS [2]  CELL [build/cells/cell]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUTERS=${ROUTERS:-$ROOT/build/cell-router}
ACCESS_LOGS=${ACCESS_LOGS:-off on}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CELL=${CELL:-$ROOT/build/cells/cell}

die() { echo "bench-instructions: $*" >&2; exit 1; }
for tool in valgrind callgrind_control wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-bench-deps.sh"
done
[ -x "$CELL" ] || die "$CELL not found: run scripts/build.sh first"

# shellcheck source=scripts/lib/bench-processes.sh
. "$ROOT/scripts/lib/bench-processes.sh"

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for URL HEADER...: until it answers, at most 60 s (the router starts slowly under valgrind).
wait_for() { wait_for_http 60 "$@" || die "$1 did not answer within 60 s"; }

cell_port=$(free_port)
"$CELL" --name tier1 --port "$cell_port" --listen 127.0.0.1 >/dev/null 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$cell_port/"
cat >"$work/routing.json" <<EOF
{"version": "instructions-1",
 "routingTable": {"acme": "tier1", "globex": "tier1", "initech": "tier1", "visa": "tier1"},
 "cellEndpoints": {"tier1": "http://127.0.0.1:$cell_port"},
 "defaultPlacement": "tier1"}
EOF
printf 'acme\nglobex\ninitech\nvisa\nunknown-key\n' >"$work/keys.txt"

# measure ROUTER ACCESS_LOG: prints "worker/all" instructions per request
measure() {
  local router=$1 access=$2 port out requests worker all pid file count
  port=$(free_port)
  out=$work/callgrind.out
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no --separate-threads=yes \
    "$router" --config "$work/routing.json" --port "$port" --listen 127.0.0.1 --admin-port 0 \
    --threads 1 --access-log "$access" --log-level warn >/dev/null 2>"$work/router.err" &
  pid=$!
  wait_for "http://127.0.0.1:$port/" -H "X-Routing-Key: acme"
  wrk -t1 -c"$CONNECTIONS" -d1s -s "$ROOT/bench/rotate-keys.lua" "http://127.0.0.1:$port/" -- "$work/keys.txt" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  requests=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$ROOT/bench/rotate-keys.lua" "http://127.0.0.1:$port/" -- "$work/keys.txt" |
    awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid"
  wait "$pid" || die "$router exited with status $? (stderr: $(tail -3 "$work/router.err"))"
  [ -n "$requests" ] && [ "$requests" -gt 0 ] || die "wrk completed no requests against $router"
  # The dump made after zeroing is number 1, one file per thread (the exit dump has no number).
  worker=0 all=0
  for file in "$out".1-*; do
    count=$(grep -h '^summary:' "$file" | awk '{print $2}')
    all=$((all + count))
    if grep -q 'serve_one_request' "$file"; then worker=$((worker + count)); fi
  done
  python3 -c "print(f'{$worker / $requests:,.0f}/{$all / $requests:,.0f}')"
}

printf '%-50s %-10s %s\n' "router" "access log" "instructions per request, worker/all threads (one per round)"
for router in $ROUTERS; do
  [ -x "$router" ] || die "$router not found"
  for access in $ACCESS_LOGS; do
    results=()
    for _ in $(seq "$ROUNDS"); do results+=("$(measure "$router" "$access")"); done
    printf '%-50s %-10s %s\n' "$router" "$access" "${results[*]}"
  done
done
