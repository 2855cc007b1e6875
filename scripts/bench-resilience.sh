#!/usr/bin/env bash
# What M4's per-request checks cost end to end: the router's CPU time per proxied request with
# the old config format (no policies) and with every policy on (health checks, breaker,
# concurrency and rate limits sized never to refuse, body limit), under the same wrk load.
# Contenders alternate, ROUNDS times each; the figure to compare is CPU µs per request.
#
#   scripts/bench-resilience.sh            (needs wrk: apt-get install wrk)
#
# Env: BUILD_DIR (build), ROUNDS (3), DURATION (5s), CONNECTIONS (16), ROUTER_CPU (0), LOAD_CPU (1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-16}
ROUTER_CPU=${ROUTER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
command -v wrk >/dev/null || { echo "bench-resilience: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$BUILD_DIR/cell-router" ] || { echo "bench-resilience: build first (scripts/build.sh)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cell_port=$(free_port)
taskset -c "$LOAD_CPU" "$BUILD_DIR/cells/cell" --name tier1 --port "$cell_port" --listen 127.0.0.1 >/dev/null 2>&1 &
pids+=($!)

cat >"$work/plain.json" <<JSON
{"version": "plain", "routingTable": {"acme": "tier1"},
 "cellEndpoints": {"tier1": "http://127.0.0.1:$cell_port"}, "defaultPlacement": "tier1"}
JSON
cat >"$work/policies.json" <<JSON
{"version": "policies", "routingTable": {"acme": "tier1"},
 "placements": {"tier1": {"url": "http://127.0.0.1:$cell_port", "type": "shared",
   "health_check": {"path": "/health", "interval": "1s", "timeout": "500ms"},
   "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"},
   "concurrency_limit": 100000, "max_request_body_bytes": 10485760,
   "rate_limit": {"requests_per_second": 10000000, "burst": 10000000}}},
 "defaultPlacement": "tier1"}
JSON

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() {  # config -> "requests cpu_us_per_request"
  local config=$1 port router
  port=$(free_port)
  taskset -c "$ROUTER_CPU" "$BUILD_DIR/cell-router" --config "$config" --port "$port" --admin-port 0 \
    --listen 127.0.0.1 --threads 1 --access-log off --log-level warn >/dev/null 2>&1 &
  router=$!
  for _ in $(seq 50); do curl -fsS -o /dev/null -H 'X-Routing-Key: acme' "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
  local before after requests hz
  before=$(cpu_ticks "$router")
  requests=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H 'X-Routing-Key: acme' \
    "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
  after=$(cpu_ticks "$router")
  kill "$router"; wait "$router" 2>/dev/null || true
  hz=$(getconf CLK_TCK)
  echo "$requests $(python3 -c "print(round(($after - $before) / $hz * 1e6 / $requests, 2))")"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -c$CONNECTIONS -d$DURATION, $ROUNDS rounds"
printf '%-10s %-6s %12s %14s\n' config round requests cpu_us_per_req
for round in $(seq "$ROUNDS"); do
  for config in plain policies; do
    read -r requests us < <(run_one "$work/$config.json")
    printf '%-10s %-6s %12s %14s\n' "$config" "$round" "$requests" "$us"
  done
done
