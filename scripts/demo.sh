#!/usr/bin/env bash
# Runs the control plane, two routers and the four demo cells on this machine (loopback only),
# without containers. The control plane watches the config file and pushes it to both routers.
#
#   scripts/demo.sh            build if needed, start everything, follow the logs; Ctrl-C stops it all
#   scripts/demo.sh --etcd     the same with the config in etcd: starts a one-member etcd (Debian's
#                              etcd-server; its data and the routers' config caches in a temporary
#                              directory under LOG_DIR, removed at exit) and two control-plane
#                              replicas on it; the config file seeds the empty store, and changes
#                              go through cellctl (docs/cellctl.md). Both routers list both replicas.
#
# Env: ROUTER_PORT (8080), ADMIN_PORT (9901, 0 = off), ROUTER2_PORT (8082), ADMIN2_PORT (9902),
#      CONTROL_PLANE_PORT (8081), CELL_BASE_PORT (9001: tier1, +1 tier2,
#      +2 tier3, +3 visa), LOG_DIR (build/demo-logs), DEMO_FOLLOW_LOGS (1; 0 = do not print
#      the logs here, only write them to LOG_DIR), LOG_LEVEL (passed to the router),
#      ROUTER_BIN / CELL_BIN / CONTROL_PLANE_BIN (run these binaries instead of building build/).
#      With --etcd also: CONTROL_PLANE2_PORT (8083), ETCD_CLIENT_PORT (2379), ETCD_PEER_PORT
#      (2380), ETCD_BIN (/usr/bin/etcd), CELLCTL_BIN (build/cellctl, only named in the hints).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

use_etcd=0
for arg in "$@"; do
  case "$arg" in
    --etcd) use_etcd=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) printf 'demo: unknown argument: %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

ROUTER_PORT=${ROUTER_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9901}
ROUTER2_PORT=${ROUTER2_PORT:-8082}
ADMIN2_PORT=${ADMIN2_PORT:-9902}
CONTROL_PLANE_PORT=${CONTROL_PLANE_PORT:-8081}
CONTROL_PLANE2_PORT=${CONTROL_PLANE2_PORT:-8083}
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
CELL_BASE_PORT=${CELL_BASE_PORT:-9001}
LOG_DIR=${LOG_DIR:-$ROOT/build/demo-logs}
DEMO_FOLLOW_LOGS=${DEMO_FOLLOW_LOGS:-1}
ADDR=127.0.0.1
READY_SECONDS=${READY_SECONDS:-30}

cells=(tier1 tier2 tier3 visa)
declare -A cell_port
for i in "${!cells[@]}"; do
  cell_port[${cells[$i]}]=$((CELL_BASE_PORT + i))
done

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

for v in ROUTER_PORT ADMIN_PORT ROUTER2_PORT ADMIN2_PORT CONTROL_PLANE_PORT CELL_BASE_PORT \
         CONTROL_PLANE2_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a port number, got '${!v}'"
done

# --- ports: refuse to start over something that already listens
port_in_use() { (exec 3<>"/dev/tcp/$ADDR/$1") 2>/dev/null; }
check_port() {
  if port_in_use "$1"; then
    die "port $1 ($2) is already in use on $ADDR; stop whatever listens there or set $3"
  fi
}
for c in "${cells[@]}"; do check_port "${cell_port[$c]}" "cell $c" CELL_BASE_PORT; done
check_port "$ROUTER_PORT" router ROUTER_PORT
check_port "$ROUTER2_PORT" router-2 ROUTER2_PORT
check_port "$CONTROL_PLANE_PORT" control-plane CONTROL_PLANE_PORT
if [ "$ADMIN_PORT" != 0 ]; then check_port "$ADMIN_PORT" "router admin" ADMIN_PORT; fi
if [ "$ADMIN2_PORT" != 0 ]; then check_port "$ADMIN2_PORT" "router-2 admin" ADMIN2_PORT; fi
if [ "$use_etcd" = 1 ]; then
  check_port "$CONTROL_PLANE2_PORT" control-plane-2 CONTROL_PLANE2_PORT
  check_port "$ETCD_CLIENT_PORT" "etcd clients" ETCD_CLIENT_PORT
  check_port "$ETCD_PEER_PORT" "etcd peers" ETCD_PEER_PORT
  [ -x "$ETCD_BIN" ] || die "$ETCD_BIN not found: --etcd needs Debian's etcd-server (scripts/install-deps.sh installs it), or set ETCD_BIN"
fi

# --- build (incremental; a no-op when nothing changed) unless other binaries were named
if [ -z "${ROUTER_BIN:-}" ] && [ -z "${CELL_BIN:-}" ] && [ -z "${CONTROL_PLANE_BIN:-}" ]; then
  "$ROOT/scripts/build.sh"
fi
ROUTER_BIN=${ROUTER_BIN:-$ROOT/build/cell-router}
CELL_BIN=${CELL_BIN:-$ROOT/build/cells/cell}
CONTROL_PLANE_BIN=${CONTROL_PLANE_BIN:-$ROOT/build/cell-control-plane}
CELLCTL_BIN=${CELLCTL_BIN:-$ROOT/build/cellctl}
[ -x "$ROUTER_BIN" ] || die "$ROUTER_BIN was not built"
[ -x "$CELL_BIN" ] || die "$CELL_BIN was not built"
[ -x "$CONTROL_PLANE_BIN" ] || die "$CONTROL_PLANE_BIN was not built"

mkdir -p "$LOG_DIR"

# --- config: the checked-in local one, or a generated copy for other cell ports
if [ "$CELL_BASE_PORT" = 9001 ]; then
  config=$ROOT/config/routing-local.json
  bootstrap=$ROOT/config/dataplane-initial-local.json
else
  config=$LOG_DIR/routing-demo.json
  cat >"$config" <<EOF
{
  "version": "1.0.0-demo",
  "routingTable": {
    "acme": "tier1",
    "globex": "tier2",
    "initech": "tier3",
    "visa": "visa"
  },
  "placements": {
    "tier1": {"url": "http://$ADDR:${cell_port[tier1]}", "type": "shared", "fallback": "tier3",
              "health_check": {"path": "/health", "interval": "2s", "timeout": "1s", "healthy_threshold": 2, "unhealthy_threshold": 2},
              "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"}, "concurrency_limit": 100,
              "max_request_body_bytes": 10485760, "rate_limit": {"requests_per_second": 500, "burst": 1000}},
    "tier2": {"url": "http://$ADDR:${cell_port[tier2]}", "type": "shared", "fallback": "tier3",
              "health_check": {"path": "/health", "interval": "2s", "timeout": "1s", "healthy_threshold": 2, "unhealthy_threshold": 2},
              "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"}, "concurrency_limit": 100,
              "max_request_body_bytes": 10485760, "rate_limit": {"requests_per_second": 500, "burst": 1000}},
    "tier3": {"url": "http://$ADDR:${cell_port[tier3]}", "type": "shared",
              "health_check": {"path": "/health", "interval": "2s", "timeout": "1s", "healthy_threshold": 2, "unhealthy_threshold": 2},
              "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"}, "concurrency_limit": 200,
              "max_request_body_bytes": 10485760},
    "visa": {"url": "http://$ADDR:${cell_port[visa]}", "type": "dedicated", "fallback": "tier3",
             "health_check": {"path": "/health", "interval": "1s", "timeout": "500ms", "healthy_threshold": 2, "unhealthy_threshold": 3},
             "circuit_breaker": {"failure_threshold": 3, "timeout": "60s"}, "concurrency_limit": 50,
             "max_request_body_bytes": 5242880, "connect_timeout": "2s", "response_timeout": "5s"}
  },
  "defaultPlacement": "tier3"
}
EOF
  # The routers' bootstrap: the same table under the seed's first version.
  bootstrap=$LOG_DIR/dataplane-initial-demo.json
  sed 's/"1.0.0-demo"/"0.0.1"/' "$config" >"$bootstrap"
fi

# --- process bookkeeping: we stop exactly what we started
service_pids=()
declare -A service_name
tail_pids=()
stopping=0
run_dir=""
cache_dir=$LOG_DIR

stop_all() {
  local pid deadline
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  if [ ${#service_pids[@]} -gt 0 ]; then
    say "stopping ${#service_pids[@]} processes (${service_pids[*]})"
    for pid in "${service_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + 10))
    for pid in "${service_pids[@]}"; do
      while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        say "${service_name[$pid]} (pid $pid) did not stop in time; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      wait "$pid" 2>/dev/null || true
    done
  fi
  for pid in "${tail_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Only once etcd is gone (stopped above, or never started).
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
  if [ ${#service_pids[@]} -gt 0 ]; then say "logs kept in $LOG_DIR"; fi
}
trap 'stop_all' EXIT
trap 'echo; stop_all; exit 0' INT TERM

# start NAME LOGFILE COMMAND...: run in the background, stdout+stderr to LOGFILE
start() {
  local name=$1 log=$2
  shift 2
  : >"$log"
  "$@" >"$log" 2>&1 &
  service_pids+=("$!")
  service_name[$!]=$name
  if [ "$DEMO_FOLLOW_LOGS" = 1 ]; then
    # --pid: tail ends on its own if this script dies without cleaning up
    tail -n +1 -F --pid=$$ "$log" 2>/dev/null > >(sed -u "s/^/$(printf '%-11s|' "$name") /") &
    tail_pids+=("$!")
  fi
}

# wait_ready NAME PID URL: poll URL until it answers 2xx; fail if the process exits or time runs out
wait_ready() {
  local name=$1 pid=$2 url=$3 deadline=$((SECONDS + READY_SECONDS))
  until curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name exited during startup; last lines of its log:"
      tail -n 20 "$LOG_DIR/$name.log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name did not answer $url within ${READY_SECONDS}s; last lines of its log:"
      tail -n 20 "$LOG_DIR/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

for c in "${cells[@]}"; do
  start "cell-$c" "$LOG_DIR/cell-$c.log" "$CELL_BIN" --name "$c" --port "${cell_port[$c]}" --listen "$ADDR"
done
i=0
for c in "${cells[@]}"; do
  wait_ready "cell-$c" "${service_pids[$i]}" "http://$ADDR:${cell_port[$c]}/health"
  i=$((i + 1))
done

if [ "$use_etcd" = 0 ]; then
  start control-plane "$LOG_DIR/control-plane.log" "$CONTROL_PLANE_BIN" --config "$config" --listen "$ADDR" \
    --port "$CONTROL_PLANE_PORT"
  control_plane_pid=${service_pids[-1]}
  wait_ready control-plane "$control_plane_pid" "http://$ADDR:$CONTROL_PLANE_PORT/health"
  control_plane_url="ws://$ADDR:$CONTROL_PLANE_PORT/connect"
else
  # A fresh store on every run: the config file seeds it, so the demo starts where it always does.
  # The routers' caches go with it: they remember the store revision they applied and would
  # refuse the lower revisions of a new store.
  run_dir=$(mktemp -d "$LOG_DIR/etcd-run.XXXXXX")
  etcd_data_dir=$run_dir/etcd-data
  cache_dir=$run_dir
  etcd_url="http://$ADDR:$ETCD_CLIENT_PORT"
  start etcd "$LOG_DIR/etcd.log" "$ETCD_BIN" --name demo --data-dir "$etcd_data_dir" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://$ADDR:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$ADDR:$ETCD_PEER_PORT" \
    --initial-cluster "demo=http://$ADDR:$ETCD_PEER_PORT"
  etcd_pid=${service_pids[-1]}
  wait_ready etcd "$etcd_pid" "$etcd_url/health"
  # Two replicas on the same store: one seeds it, the other reads what the first wrote.
  start control-plane "$LOG_DIR/control-plane.log" "$CONTROL_PLANE_BIN" --config "$config" --listen "$ADDR" \
    --port "$CONTROL_PLANE_PORT" --etcd "$etcd_url"
  control_plane_pid=${service_pids[-1]}
  start control-plane-2 "$LOG_DIR/control-plane-2.log" "$CONTROL_PLANE_BIN" --config "$config" --listen "$ADDR" \
    --port "$CONTROL_PLANE2_PORT" --etcd "$etcd_url"
  control_plane2_pid=${service_pids[-1]}
  wait_ready control-plane "$control_plane_pid" "http://$ADDR:$CONTROL_PLANE_PORT/health"
  wait_ready control-plane-2 "$control_plane2_pid" "http://$ADDR:$CONTROL_PLANE2_PORT/health"
  control_plane_url="ws://$ADDR:$CONTROL_PLANE_PORT/connect,ws://$ADDR:$CONTROL_PLANE2_PORT/connect"
fi

# Both routers boot from the bootstrap file, then take config from the control plane only.
start router "$LOG_DIR/router.log" "$ROUTER_BIN" --config "$bootstrap" --listen "$ADDR" \
  --port "$ROUTER_PORT" --admin-port "$ADMIN_PORT" --admin-listen "$ADDR" --control-plane "$control_plane_url" \
  --node-id router-1 --config-cache "$cache_dir/router-1-cache.json"
router_pid=${service_pids[-1]}
start router-2 "$LOG_DIR/router-2.log" "$ROUTER_BIN" --config "$bootstrap" --listen "$ADDR" \
  --port "$ROUTER2_PORT" --admin-port "$ADMIN2_PORT" --admin-listen "$ADDR" --control-plane "$control_plane_url" \
  --node-id router-2 --config-cache "$cache_dir/router-2-cache.json"
router2_pid=${service_pids[-1]}
wait_ready router "$router_pid" "http://$ADDR:$ROUTER_PORT/debug/config"
wait_ready router-2 "$router2_pid" "http://$ADDR:$ROUTER2_PORT/debug/config"
if [ "$ADMIN_PORT" != 0 ]; then
  wait_ready router "$router_pid" "http://$ADDR:$ADMIN_PORT/debug/config"
fi

url="http://localhost:$ROUTER_PORT"
endpoints="  router   $url   (pid $router_pid)"
endpoints+=$'\n'"  router-2 http://localhost:$ROUTER2_PORT   (pid $router2_pid)"
endpoints+=$'\n'"  control  http://localhost:$CONTROL_PLANE_PORT/status   (pid $control_plane_pid)"
if [ "$use_etcd" = 1 ]; then
  endpoints+=$'\n'"  control  http://localhost:$CONTROL_PLANE2_PORT/status   (pid $control_plane2_pid, replica 2)"
  endpoints+=$'\n'"  etcd     $etcd_url   (pid $etcd_pid, data in ${etcd_data_dir#"$ROOT"/})"
fi
if [ "$ADMIN_PORT" != 0 ]; then
  endpoints+=$'\n'"  admin    http://localhost:$ADMIN_PORT   (/debug/config, /debug/placements, /debug/route?key=K)"
fi
for c in "${cells[@]}"; do
  endpoints+=$'\n'"$(printf '  cell     %-6s http://localhost:%s' "$c" "${cell_port[$c]}")"
done
status_hint="the fleet: who has acked what"
[ "$use_etcd" = 0 ] || status_hint="the routers on replica 1 (cellctl status: all of them)"
if [ "$use_etcd" = 0 ]; then
  config_hints="Config push: edit ${config#"$ROOT"/} (e.g. move \"acme\" to \"tier2\" and bump
\"version\"); the control plane validates it and pushes it to both routers within a few
seconds (/status shows the acks). Stop the control plane (kill $control_plane_pid) and
the routers keep serving.
"
else
  # A ready-made change for the hints: acme moves from tier1 to tier2, a quarter of the keys,
  # which the blast-radius guard (10% by default) refuses unless told otherwise.
  next=$LOG_DIR/routing-next.json
  sed -e 's/"acme": "tier1"/"acme": "tier2"/' -e 's/"version": "\([^"]*\)"/"version": "\1-next"/' "$config" >"$next"
  cellctl="${CELLCTL_BIN#"$ROOT"/} --control-plane http://$ADDR:$CONTROL_PLANE_PORT,http://$ADDR:$CONTROL_PLANE2_PORT"
  config_hints="The config lives in etcd: ${config#"$ROOT"/} only seeded the empty store, and editing
it changes nothing now. Each router is on one replica (curl $url/debug/config:
control_plane.url) and moves to the other when it goes away. Changes go through cellctl
(docs/cellctl.md); ${next#"$ROOT"/} moves acme to tier2:

  $cellctl status
  $cellctl diff $next
  $cellctl apply $next --reason \"move acme\"
      # refused: 1 of 4 keys moves, the guard allows 10%; add --max-moved-keys 25%
  curl -si -H \"X-Routing-Key: acme\" $url/ | grep X-Routed-To      # tier2 on both routers
  $cellctl history
  $cellctl rollback REVISION --force --reason \"undo\"
      # REVISION: the seed's, the last line of history; rolling back moves acme again
  kill $control_plane_pid      # replica 1: its routers move to replica 2 and keep serving
  kill $etcd_pid      # etcd: the routers keep serving; cellctl apply: store unavailable
"
fi
cat <<EOF

================================================================================
cellrouter demo is up (loopback only)
$endpoints
  config   ${config#"$ROOT"/}$([ "$use_etcd" = 1 ] && echo " (seeded the store)")
  logs     $LOG_DIR/

Try:
  curl -i -H "X-Routing-Key: visa"    $url/     # dedicated cell visa
  curl -i -H "X-Routing-Key: acme"    $url/     # shared tier1
  curl -i -H "X-Routing-Key: globex"  $url/     # shared tier2
  curl -i -H "X-Routing-Key: initech" $url/     # shared tier3
  curl -i -H "X-Routing-Key: unknown" $url/     # default placement tier3
  curl -i $url/                                 # no key: 400
  curl $url/debug/config                        # version, source, control-plane connection
  curl http://localhost:$CONTROL_PLANE_PORT/status               # $status_hint
  ROUTER_URL=$url scripts/test-routing.sh       # the automated check

$config_hints
Ctrl-C stops everything this script started.
================================================================================

EOF

# Run until interrupted, or until a router or a cell dies. The control planes (and etcd) may be
# stopped on purpose, to watch the routers keep serving or move to another replica: their end
# only gets a line.
may_stop=" $control_plane_pid ${control_plane2_pid:-} ${etcd_pid:-} "
running=("${service_pids[@]}")
set +e
while :; do
  wait -n -p ended "${running[@]}"
  rc=$?
  [ "$stopping" = 0 ] || break
  if [ -z "${ended:-}" ]; then
    say "lost track of the processes (wait: status $rc)"
    exit 1
  fi
  if [[ $may_stop == *" $ended "* ]]; then
    say "${service_name[$ended]} (pid $ended) exited with status $rc; the routers keep serving (see $LOG_DIR/${service_name[$ended]}.log)"
    still=()
    for pid in "${running[@]}"; do [ "$pid" = "$ended" ] || still+=("$pid"); done
    running=("${still[@]}")
    continue
  fi
  say "${service_name[$ended]} (pid $ended) exited unexpectedly with status $rc; see $LOG_DIR/${service_name[$ended]}.log"
  exit 1
done
