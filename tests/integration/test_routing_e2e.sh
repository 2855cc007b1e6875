#!/usr/bin/env bash
# End-to-end test: real router + four real cells on ephemeral loopback ports, checked by
# scripts/test-routing.sh. Registered with CTest as "test_routing_script".
#
#   test_routing_e2e.sh ROUTER_BINARY CELL_BINARY
#
# Env: STARTUP_SECONDS (20), STOP_SECONDS (10), KEEP_TMP=1 keeps the logs and config.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ROUTER_BINARY CELL_BINARY" >&2
  exit 2
fi
ROUTER_BIN=$1
CELL_BIN=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_ROUTING=$HERE/../../scripts/test-routing.sh
STARTUP_SECONDS=${STARTUP_SECONDS:-20}
STOP_SECONDS=${STOP_SECONDS:-10}

for f in "$ROUTER_BIN" "$CELL_BIN"; do
  [ -x "$f" ] || { echo "not executable: $f" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/routing-e2e.XXXXXX")
pids=()

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
  local rc=$? pid deadline
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + STOP_SECONDS))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    for f in "$tmp"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 30 lines)"
      tail -n 30 "$f"
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# listening_port LOG PID [LISTENER]: wait for the {"event":"listening",...} line in LOG (for the
# given "listener", if any) and print its "port". Fails if PID exits or the deadline passes.
listening_port() {
  local log=$1 pid=$2 listener=${3:-} deadline=$((SECONDS + STARTUP_SECONDS)) line
  while :; do
    line=$(grep -E '"event"[[:space:]]*:[[:space:]]*"listening"' "$log" 2>/dev/null |
      { if [ -n "$listener" ]; then grep -E "\"listener\"[[:space:]]*:[[:space:]]*\"$listener\""; else cat; fi; } |
      head -n 1) || true
    if [ -n "$line" ]; then
      sed -nE 's/.*"port"[[:space:]]*:[[:space:]]*([0-9]+).*/\1/p' <<<"$line"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "$log" .log) exited before it printed its listening line" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$(basename "$log" .log): no listening line within ${STARTUP_SECONDS}s" >&2
      return 1
    fi
    sleep 0.05
  done
}

declare -A port
for cell in tier1 tier2 tier3 visa; do
  "$CELL_BIN" --name "$cell" --port 0 --listen 127.0.0.1 >"$tmp/cell-$cell.log" 2>&1 &
  pids+=("$!")
done
i=0
for cell in tier1 tier2 tier3 visa; do
  port[$cell]=$(listening_port "$tmp/cell-$cell.log" "${pids[$i]}")
  [ -n "${port[$cell]}" ] || { echo "cell $cell: could not read its port" >&2; exit 1; }
  echo "cell $cell listening on 127.0.0.1:${port[$cell]}"
  i=$((i + 1))
done

cat >"$tmp/routing.json" <<EOF
{
  "version": "1.0.0-e2e",
  "routingTable": {
    "acme": "tier1",
    "globex": "tier2",
    "initech": "tier3",
    "visa": "visa"
  },
  "cellEndpoints": {
    "tier1": "http://127.0.0.1:${port[tier1]}",
    "tier2": "http://127.0.0.1:${port[tier2]}",
    "tier3": "http://127.0.0.1:${port[tier3]}",
    "visa": "http://127.0.0.1:${port[visa]}"
  },
  "defaultPlacement": "tier3"
}
EOF

"$ROUTER_BIN" --config "$tmp/routing.json" --port 0 --admin-port 0 --listen 127.0.0.1 \
  >"$tmp/router.log" 2>&1 &
router_pid=$!
pids+=("$router_pid")
router_port=$(listening_port "$tmp/router.log" "$router_pid" proxy)
[ -n "$router_port" ] || { echo "router: could not read its port" >&2; exit 1; }
echo "router listening on 127.0.0.1:$router_port"

rc=0
ROUTER_URL="http://127.0.0.1:$router_port" WAIT_SECONDS="$STARTUP_SECONDS" bash "$TEST_ROUTING" || rc=$?

# The router must stop cleanly on SIGTERM, with status 0.
kill -TERM "$router_pid"
deadline=$((SECONDS + STOP_SECONDS))
while kill -0 "$router_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
if kill -0 "$router_pid" 2>/dev/null; then
  echo "FAIL  router did not exit within ${STOP_SECONDS}s of SIGTERM"
  rc=1
else
  router_rc=0
  wait "$router_pid" || router_rc=$?
  if [ "$router_rc" -eq 0 ]; then
    echo "PASS  router exited with status 0 on SIGTERM"
  else
    echo "FAIL  router exited with status $router_rc on SIGTERM"
    rc=1
  fi
fi
exit "$rc"
