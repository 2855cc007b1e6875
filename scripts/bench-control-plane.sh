#!/usr/bin/env bash
# Control-plane fan-out of a large table: time from a config file change to each of ROUTERS test
# routers' ack, bytes per snapshot on the wire, and the control plane's CPU and peak memory, with
# permessage-deflate on and off; then one real cell-router taking the same table.
#
# For each size in SIZES (default: a million keys): generates table A with bench/gen-table.py and
# table B from it with MOVED (1 %) of its keys on another placement and another version. For
# each mode in COMPRESSION it starts cell-control-plane on a free loopback port watching a copy
# of A, and runs benchmarks/control_plane_fanout: ROUTERS light WebSocket clients that each say
# hello, read every snapshot in pieces and ack it with its SHA-256 WITHOUT building a routing
# table (--check hash), while the tool replaces the watched file CHANGES times, A and B in turn.
# It prints p50/p95/p99/max from the rename to the first snapshot, the first and last ack, each
# router's ack, and /status showing all acked; the mean TCP bytes per snapshot; and here the
# control plane's CPU seconds and peak RSS (VmHWM). Then a real cell-router (one worker thread,
# booted from a 10-key file) connects: its apply time for the table (the router's own
# snapshot_applied line) and, for one more change, the time from the rename until /status shows
# its ack.
#
#   scripts/bench-control-plane.sh          (build first: scripts/build.sh; builds nothing)
#
# The M5 figures (docs/milestones/m5-scale.md) came from SIZES="10000 100000" CHANGES=30
# CHECK=content MOVED=all COMPRESSION=off REAL_ROUTER=0.
#
# STORE=etcd measures the M6 path instead: Debian's etcd on loopback (started and stopped here),
# the control plane reading its config from it (seeded with table A), and each change made with
# `cellctl apply` (over the guard: --force), timed from cellctl's start to each router's ack.
#
# Env: BUILD_DIR (build), ROUTERS (100), CHANGES (5), SIZES (1000000), MOVED (0.01; "all" = table
#      B from gen-table.py --seed 2: the same keys, most on other placements),
#      COMPRESSION ("on off"), POLL_INTERVAL (50ms), CHECK (hash; or content, validate),
#      TIMEOUT (180s: per change), SEND_TIMEOUT (10s: the control plane's --send-timeout),
#      LOG_LEVEL (info), VERBOSE (0; 1 = every change), SIGHUP (0; 1 = signal the control plane
#      after each rename: the figures without the poll wait), REAL_ROUTER (1; 0 = skip it),
#      STORE (file; etcd = the control plane on etcd, changes through cellctl), ETCD (/usr/bin/etcd),
#      DELTAS (on; off = the test routers do not announce deltas, so every change goes whole)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
ROUTERS=${ROUTERS:-100}
CHANGES=${CHANGES:-5}
SIZES=${SIZES:-1000000}
MOVED=${MOVED:-0.01}
COMPRESSION=${COMPRESSION:-on off}
POLL_INTERVAL=${POLL_INTERVAL:-50ms}
CHECK=${CHECK:-hash}
TIMEOUT=${TIMEOUT:-180s}
SEND_TIMEOUT=${SEND_TIMEOUT:-10s}
LOG_LEVEL=${LOG_LEVEL:-info}
VERBOSE=${VERBOSE:-0}
SIGHUP=${SIGHUP:-0}
REAL_ROUTER=${REAL_ROUTER:-1}
STORE=${STORE:-file}
DELTAS=${DELTAS:-on}
ETCD=${ETCD:-/usr/bin/etcd}
control_plane=$BUILD_DIR/cell-control-plane
cellctl=$BUILD_DIR/cellctl
router=$BUILD_DIR/cell-router
fanout=$BUILD_DIR/benchmarks/control_plane_fanout
for binary in "$control_plane" "$router" "$fanout"; do
  [ -x "$binary" ] || { echo "bench-control-plane: $binary missing; build first (scripts/build.sh)" >&2; exit 1; }
done
for mode in $COMPRESSION; do
  [ "$mode" = on ] || [ "$mode" = off ] || { echo "bench-control-plane: COMPRESSION takes on and/or off" >&2; exit 2; }
done
case "$STORE" in
  file) ;;
  etcd)
    for binary in "$cellctl" "$ETCD"; do
      [ -x "$binary" ] || { echo "bench-control-plane: $binary missing (cellctl: scripts/build.sh; etcd: scripts/install-deps.sh)" >&2; exit 1; }
    done ;;
  *) echo "bench-control-plane: STORE is file or etcd" >&2; exit 2 ;;
esac

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_until_healthy() {  # port log
  for _ in $(seq 300); do
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
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# Table B: table A with a share of its keys moved to another placement, and its own version.
move_keys() {  # from to share
  python3 - "$1" "$2" "$3" <<'EOF'
import json, random, sys
source, target, share = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(source) as f:
    config = json.load(f)
table = config["routingTable"]
placements = sorted(set(table.values()))
rng = random.Random(7)
moved = rng.sample(sorted(table), int(len(table) * share))
for key in moved:
    table[key] = rng.choice([p for p in placements if p != table[key]])
config["version"] = config["version"] + f"-moved-{len(moved)}"
with open(target, "w") as f:
    json.dump(config, f, indent=None, separators=(",", ":"))
print(f"table B: {len(moved)} of {len(table)} keys moved ({share:.0%})")
EOF
}

# Polls GET /status until every connected router acked the snapshot of `hash`; prints the ms.
wait_for_acked_hash() {  # port hash started_ms
  for _ in $(seq 1200); do
    if curl -fsS "http://127.0.0.1:$1/status" 2>/dev/null |
        python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["current_hash"]==sys.argv[1] and s["acked_current"]==s["routers_connected"]>0 else 1)' "$2"; then
      echo $(($(now_ms) - $3))
      return 0
    fi
    sleep 0.05
  done
  return 1
}

current_hash() { curl -fsS "http://127.0.0.1:$1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["current_hash"])'; }

# Makes `next` the config: a rename over the watched file, or with etcd a `cellctl apply`.
change_config() {  # cp_port watched next
  if [ "$STORE" = etcd ]; then
    "$cellctl" --control-plane "http://127.0.0.1:$1" apply --force --reason bench --max-moved-keys 100% "$3" >/dev/null
  else
    cp "$3" "$2.tmp" && mv "$2.tmp" "$2"
  fi
}

# Debian's etcd on free loopback ports with its data under $work, for STORE=etcd.
start_etcd() {
  etcd_port=$(free_port)
  local peer_port
  peer_port=$(free_port)
  "$ETCD" --name bench --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "bench=http://127.0.0.1:$peer_port" \
    --log-level warn --logger zap >"$work/etcd.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"true"' && return 0
    sleep 0.1
  done
  echo "bench-control-plane: etcd did not start:" >&2
  tail -n 5 "$work/etcd.log" >&2
  return 1
}

# One real cell-router on the control plane: its apply time for the current table, then for a
# change of the watched file to `next`.
real_router() {  # cp_port cp_log watched next_table
  local cp_port=$1 cp_log=$2 watched=$3 next=$4 log=$work/router.log
  python3 "$ROOT/bench/gen-table.py" --keys 10 --seed 1 --out "$work/bootstrap.json"
  "$router" --config "$work/bootstrap.json" --port "$(free_port)" --listen 127.0.0.1 --admin-port 0 --threads 1 \
    --control-plane "ws://127.0.0.1:$cp_port/connect" --node-id bench-router --config-cache "$work/router-cache.json" \
    --access-log off --log-level info >"$log" 2>&1 &
  local router_pid=$!
  pids+=("$router_pid")
  local started
  started=$(now_ms)
  local connect_ms
  if ! connect_ms=$(wait_for_acked_hash "$cp_port" "$(current_hash "$cp_port")" "$started"); then
    echo "bench-control-plane: the real router did not ack the current table; its last lines:" >&2
    tail -n 5 "$log" >&2
    return 1
  fi
  local apply_first
  apply_first=$(grep '"snapshot_applied"' "$log" | tail -n 1 | python3 -c 'import json,sys; print("%.0f" % json.loads(sys.stdin.read())["apply_ms"])')
  local changed
  changed=$(now_ms)
  change_config "$cp_port" "$watched" "$next"
  [ "$SIGHUP" = 1 ] && kill -HUP "$(cat "$work/cp.pid")"
  # The new hash is known once the control plane published it.
  local new_hash="" ack_ms=""
  for _ in $(seq 600); do
    new_hash=$(current_hash "$cp_port")
    [ "$new_hash" != "$(cat "$work/last-hash")" ] && break
    sleep 0.05
  done
  if ! ack_ms=$(wait_for_acked_hash "$cp_port" "$new_hash" "$changed"); then
    echo "bench-control-plane: the real router did not ack the change; its last lines:" >&2
    tail -n 5 "$log" >&2
    return 1
  fi
  local apply_change
  apply_change=$(grep '"snapshot_applied"' "$log" | tail -n 1 | python3 -c 'import json,sys; print("%.0f" % json.loads(sys.stdin.read())["apply_ms"])')
  echo "real cell-router (1 worker thread): connect to ack of the current table ${connect_ms} ms, of which apply" \
    "(parse, validate, build, swap, cache write) ${apply_first} ms; a change: rename to ack in /status ${ack_ms} ms," \
    "apply ${apply_change} ms; router peak RSS $(peak_rss_mib "$router_pid") MiB"
  kill "$router_pid"; wait "$router_pid" 2>/dev/null || true
}

extra=()
[ "$VERBOSE" = 1 ] && extra+=(--verbose)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(. /etc/os-release && echo "$PRETTY_NAME"); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "routers: $ROUTERS (light clients: hello, read, ack, no table), changes per run: $CHANGES, keys moved per change: $MOVED," \
  "poll interval: $POLL_INTERVAL, --check $CHECK, log level: $LOG_LEVEL, SIGHUP: $SIGHUP, store: $STORE, deltas: $DELTAS"
if [ "$STORE" = etcd ]; then
  start_etcd
  echo "etcd: $("$ETCD" --version | head -n 1) on 127.0.0.1:$etcd_port; changes: cellctl apply, timed from its start"
fi
for keys in $SIZES; do
  python3 "$ROOT/bench/gen-table.py" --keys "$keys" --seed 1 --out "$work/table-$keys-a.json"
  if [ "$MOVED" = all ]; then
    # The M5 runs: the same keys, most of them on other placements.
    python3 "$ROOT/bench/gen-table.py" --keys "$keys" --seed 2 --out "$work/table-$keys-b.json"
  else
    move_keys "$work/table-$keys-a.json" "$work/table-$keys-b.json" "$MOVED"
  fi
  for mode in $COMPRESSION; do
    cp "$work/table-$keys-a.json" "$work/watched.json"
    port=$(free_port)
    # No periodic resend during the run: it would send every router the table again in the middle
    # of the measured changes.
    store_flags=()
    # etcd: a prefix per run, seeded with table A from the watched file.
    [ "$STORE" = etcd ] && store_flags=(--etcd "http://127.0.0.1:$etcd_port" --etcd-prefix "/bench-$keys-$mode/")
    "$control_plane" --config "$work/watched.json" --port "$port" --listen 127.0.0.1 --poll-interval "$POLL_INTERVAL" \
      --send-timeout "$SEND_TIMEOUT" --resend-interval 24h --ws-compression "$mode" --log-level "$LOG_LEVEL" \
      "${store_flags[@]}" >"$work/control-plane.log" 2>&1 &
    cp_pid=$!
    echo "$cp_pid" >"$work/cp.pid"
    pids+=("$cp_pid")
    wait_until_healthy "$port" "$work/control-plane.log"
    echo
    echo "== $keys keys, permessage-deflate $mode (control plane pid $cp_pid, port $port)"
    flags=("${extra[@]}")
    [ "$SIGHUP" = 1 ] && flags+=(--sighup "$cp_pid")
    [ "$STORE" = etcd ] &&
      flags+=(--apply-command "$cellctl --control-plane http://127.0.0.1:$port apply --force --reason bench --max-moved-keys 100%")
    before=$(cpu_seconds "$cp_pid")
    machine_before=$(machine_busy_seconds)
    # Each change is bounded by TIMEOUT inside the tool; this bounds the run as a whole. In the
    # background, so that an interrupt reaches the cleanup at once.
    timeout 1800 "$fanout" --port "$port" --config "$work/watched.json" \
      --table-a "$work/table-$keys-a.json" --table-b "$work/table-$keys-b.json" \
      --routers "$ROUTERS" --changes "$CHANGES" --check "$CHECK" --timeout "$TIMEOUT" --compression "$mode" \
      --deltas "$DELTAS" \
      "${flags[@]}" &
    fanout_pid=$!
    pids+=("$fanout_pid")
    if ! wait "$fanout_pid"; then
      kept=${TMPDIR:-/tmp}/bench-control-plane-failed.log
      cp "$work/control-plane.log" "$kept"
      echo "bench-control-plane: the run with $keys keys failed; the control plane's log is in $kept, its last lines:" >&2
      tail -n 5 "$work/control-plane.log" >&2
      exit 1
    fi
    after=$(cpu_seconds "$cp_pid")
    machine_after=$(machine_busy_seconds)
    runs=$((CHANGES + 1))
    echo "control plane CPU for the whole run ($runs changes incl. warm-up, plus $ROUTERS connects):" \
      "$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}') s" \
      "($(awk -v a="$after" -v b="$before" -v n="$runs" 'BEGIN {printf "%.2f", (a - b) / n}') s per change);" \
      "all processes on the machine: $(awk -v a="$machine_after" -v b="$machine_before" 'BEGIN {printf "%.2f", a - b}') s"
    echo "control plane peak RSS (VmHWM): $(peak_rss_mib "$cp_pid") MiB"
    if [ "$STORE" = etcd ]; then
      # Where each PUT's time went on the control plane (its config_applied lines).
      python3 - "$work/control-plane.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("event") == "config_applied":
        print("  PUT revision %s: analysis %.0f ms (diff reused: %s), etcd write %.0f ms, table+frame+delta %.0f ms, delta: %s"
              % (event["revision"], event["analysis_ms"], event["reused_diff"], event["store_ms"], event["encode_ms"], event["delta"]))
PY
    fi
    if [ "$REAL_ROUTER" = 1 ]; then
      current_hash "$port" >"$work/last-hash"
      if cmp -s "$work/watched.json" "$work/table-$keys-a.json"; then next="$work/table-$keys-b.json"; else next="$work/table-$keys-a.json"; fi
      real_router "$port" "$work/control-plane.log" "$work/watched.json" "$next"
    fi
    kill "$cp_pid"; wait "$cp_pid" 2>/dev/null || true
  done
done
