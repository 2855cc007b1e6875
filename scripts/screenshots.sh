#!/usr/bin/env bash
# Screenshots of the admin page and the fleet page for docs/images/: runs the demo deployment
# (scripts/demo.sh: control plane, two routers, four cells) on loopback ports of its own, makes
# the visa cell fail its health checks so the pages show a failover, and photographs both pages
# in headless Chromium with the page tests' setup (tests/pages, scripts/install-deps.sh).
#
#   scripts/screenshots.sh          writes docs/images/admin-page.png and docs/images/fleet-page.png
#
# Env: SCREENSHOT_BASE_PORT (18000): the demo uses this port and the next few; OUT_DIR (docs/images).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${SCREENSHOT_BASE_PORT:-18000}
out_dir=${OUT_DIR:-$ROOT/docs/images}
addr=127.0.0.1
log_dir=$(mktemp -d)

export ROUTER_PORT=$((base + 80)) CONTROL_PLANE_PORT=$((base + 81)) ROUTER2_PORT=$((base + 82))
export ADMIN_PORT=$((base + 901)) ADMIN2_PORT=$((base + 902)) CELL_BASE_PORT=$((base + 1))
export LOG_DIR=$log_dir DEMO_FOLLOW_LOGS=0
export ROUTER_BIN=${ROUTER_BIN:-$ROOT/build/cell-router} CELL_BIN=${CELL_BIN:-$ROOT/build/cells/cell}
export CONTROL_PLANE_BIN=${CONTROL_PLANE_BIN:-$ROOT/build/cell-control-plane}
visa_port=$((CELL_BASE_PORT + 3))

die() { printf 'screenshots: %s\n' "$*" >&2; exit 1; }
for bin in "$ROUTER_BIN" "$CELL_BIN" "$CONTROL_PLANE_BIN"; do
  [ -x "$bin" ] || die "$bin is missing: run scripts/build.sh first"
done

"$ROOT/scripts/demo.sh" >"$log_dir/demo.out" 2>&1 &
demo_pid=$!
stop_demo() {
  kill -TERM "$demo_pid" 2>/dev/null || true
  wait "$demo_pid" 2>/dev/null || true
  rm -rf "$log_dir"
}
trap stop_demo EXIT

# until SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.2 s until it succeeds.
until_ok() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$demo_pid" 2>/dev/null || { cat "$log_dir/demo.out" >&2; die "the demo exited while waiting for $what"; }
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.2
  done
}
converged() { curl -fsS -m 2 "http://$addr:$CONTROL_PLANE_PORT/status" | grep -q '"routers_connected":2,"acked_current":2'; }
visa_unhealthy() { curl -fsS -m 2 "http://$addr:$ADMIN_PORT/debug/route?key=visa" | grep -q '"failover_reason":"unhealthy"'; }

until_ok 60 "both routers to converge" converged
curl -fsS -m 2 -X POST "http://$addr:$visa_port/admin/health?status=fail" >/dev/null
for key in acme globex initech visa unknown; do
  curl -fsS -m 2 -o /dev/null -H "X-Routing-Key: $key" "http://$addr:$ROUTER_PORT/" || true
done
until_ok 30 "visa to be unhealthy" visa_unhealthy

# Some traffic while the admin page is open, so that it has request rates to show (it needs two
# polls of /metrics): a bounded loop of small requests to router 1.
(
  end=$((SECONDS + 15))
  while [ $SECONDS -lt $end ]; do
    for key in acme acme globex initech visa unknown; do
      curl -fsS -m 2 -o /dev/null -H "X-Routing-Key: $key" "http://$addr:$ROUTER_PORT/" || true
    done
    sleep 0.1
  done
) &
traffic_pid=$!

mkdir -p "$out_dir"
node "$ROOT/tests/pages/screenshot.mjs" --url "http://$addr:$ADMIN_PORT/" --out "$out_dir/admin-page.png" \
  --ready '#placements tr[data-placement]' --until-gone n/a --in '#placements' --route-key visa
kill "$traffic_pid" 2>/dev/null || true
wait "$traffic_pid" 2>/dev/null || true
node "$ROOT/tests/pages/screenshot.mjs" --url "http://$addr:$CONTROL_PLANE_PORT/" --out "$out_dir/fleet-page.png" \
  --ready '#routers tr[data-router]' --height 440
echo "screenshots: wrote $out_dir/admin-page.png and $out_dir/fleet-page.png"
