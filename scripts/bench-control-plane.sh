#!/usr/bin/env bash
# Control-plane fan-out: time from a config file change to the last ack of ROUTERS connected
# test routers, for a 10k-key and a 100k-key table (M5 target: p99 under 200 ms for 10k keys).
# For each size: generates two tables with bench/gen-table.py (same keys, other placements and
# version), starts cell-control-plane on a free loopback port with a short poll interval, and
# runs benchmarks/control_plane_fanout, which replaces the watched file CHANGES times,
# alternating the two tables, and prints p50/p95/p99/max from the rename to the first
# snapshot, the first and last ack, and /status showing every router acked.
#
#   scripts/bench-control-plane.sh          (build first: scripts/build.sh; builds nothing)
#
# Env: BUILD_DIR (build), ROUTERS (100), CHANGES (30), SIZES ("10000 100000"),
#      POLL_INTERVAL (50ms), CHECK (content; or hash, validate), TIMEOUT (30s: per change),
#      LOG_LEVEL (info: the control plane's default, one line per ack), VERBOSE (0; 1 = every change),
#      SIGHUP (0; 1 = signal the control plane after each rename: the figures without the poll wait)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
ROUTERS=${ROUTERS:-100}
CHANGES=${CHANGES:-30}
SIZES=${SIZES:-10000 100000}
POLL_INTERVAL=${POLL_INTERVAL:-50ms}
CHECK=${CHECK:-content}
TIMEOUT=${TIMEOUT:-30s}
LOG_LEVEL=${LOG_LEVEL:-info}
VERBOSE=${VERBOSE:-0}
SIGHUP=${SIGHUP:-0}
control_plane=$BUILD_DIR/cell-control-plane
fanout=$BUILD_DIR/benchmarks/control_plane_fanout
for binary in "$control_plane" "$fanout"; do
  [ -x "$binary" ] || { echo "bench-control-plane: $binary missing; build first (scripts/build.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_until_healthy() {  # port log
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/health" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-control-plane: the control plane did not start:" >&2
  tail -n 5 "$2" >&2
  return 1
}

# CPU seconds every process on the machine used so far (all cores): with the control plane's
# and the test routers' own share, it tells whether anything else ran during the measurement.
machine_busy_seconds() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

extra=()
[ "$VERBOSE" = 1 ] && extra+=(--verbose)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "routers: $ROUTERS, changes per size: $CHANGES, poll interval: $POLL_INTERVAL, --check $CHECK, log level: $LOG_LEVEL, SIGHUP: $SIGHUP"
for keys in $SIZES; do
  python3 "$ROOT/bench/gen-table.py" --keys "$keys" --seed 1 --out "$work/table-$keys-a.json"
  python3 "$ROOT/bench/gen-table.py" --keys "$keys" --seed 2 --out "$work/table-$keys-b.json"
  cp "$work/table-$keys-a.json" "$work/watched.json"
  port=$(free_port)
  "$control_plane" --config "$work/watched.json" --port "$port" --listen 127.0.0.1 --poll-interval "$POLL_INTERVAL" \
    --log-level "$LOG_LEVEL" >"$work/control-plane-$keys.log" 2>&1 &
  cp_pid=$!
  pids+=("$cp_pid")
  wait_until_healthy "$port" "$work/control-plane-$keys.log"
  echo
  echo "== $keys keys (control plane pid $cp_pid, port $port)"
  flags=("${extra[@]}")
  [ "$SIGHUP" = 1 ] && flags+=(--sighup "$cp_pid")
  before=$(cpu_seconds "$cp_pid")
  machine_before=$(machine_busy_seconds)
  # Each change is bounded by TIMEOUT inside the tool; this bounds the run as a whole. In the
  # background, so that an interrupt reaches the cleanup at once.
  timeout 900 "$fanout" --port "$port" --config "$work/watched.json" \
    --table-a "$work/table-$keys-a.json" --table-b "$work/table-$keys-b.json" \
    --routers "$ROUTERS" --changes "$CHANGES" --check "$CHECK" --timeout "$TIMEOUT" "${flags[@]}" &
  fanout_pid=$!
  pids+=("$fanout_pid")
  if ! wait "$fanout_pid"; then
    echo "bench-control-plane: the run with $keys keys failed; the control plane's last log lines:" >&2
    tail -n 5 "$work/control-plane-$keys.log" >&2
    exit 1
  fi
  after=$(cpu_seconds "$cp_pid")
  machine_after=$(machine_busy_seconds)
  echo "control plane CPU for the whole run: $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}') s;" \
    "all processes on the machine: $(awk -v a="$machine_after" -v b="$machine_before" 'BEGIN {printf "%.2f", a - b}') s"
  kill "$cp_pid"; wait "$cp_pid" 2>/dev/null || true
done
