#!/usr/bin/env bash
# Swapping a large routing table under load. cell-router (one worker, access log off, pinned to
# ROUTER_CPU) serves a KEYS-key table from a file it polls every RELOAD_INTERVAL; one nginx
# backend process (a listener per placement) and wrk (one thread, keep-alive, X-Routing-Key
# rotating over every key of the table and some unknown ones) share LOAD_CPU. Two phases of
# the same load, alternated for ROUNDS rounds:
#   steady  STEADY_SECONDS without changes: the same file swapper runs, on the same schedule,
#           against a decoy file the router does not watch
#   swaps   SWAP_SECONDS while the file is replaced every SWAP_EVERY by the other of two tables
#           of the same keys on different placements (hard link + rename(2), so the router never
#           sees a partial file)
# The swapper shares the load core with wrk and the backend: running it in both phases keeps its
# own cost there (a Python process waking ten times a second) out of the comparison. Without
# it, the steady phase's p99 was a third of the swap phase's even when the router applied no
# table at all (docs/benchmarks.md, "Third round, fifth step").
# Reported per phase and round: requests, requests/s, p50/p99 latency (wrk --latency), non-2xx
# responses and socket errors (an unknown key is still a 2xx, via the default placement), the
# router's CPU time per request, swaps made and tables the router applied (/debug/config); then
# the medians, the p50/p99 ratio swaps/steady (median of the rounds' ratios) and the router's
# peak RSS. The run fails if any request failed or the router ends up serving
# anything but the file's last content. Method and figures: docs/milestones/m5-scale.md.
#
#   scripts/build.sh && scripts/bench-swap.sh            (needs wrk and nginx: scripts/install-bench-deps.sh)
#
# Env (defaults in brackets):
#   BUILD_DIR [build]  KEYS [100000]  CONNECTIONS [16]  WARMUP_SECONDS [2]  ROUNDS [3]
#   STEADY_SECONDS [20]  SWAP_SECONDS [20]  SWAP_EVERY [0.1] (seconds)  RELOAD_INTERVAL [100ms]
#   ROUTER_CPU [0]  LOAD_CPU [1]  MAX_SECONDS [600]: the whole run is stopped after this long
#   KEEP_WORK [0]: 1 keeps the work directory (tables, logs, wrk output)
#   STEADY_SWAPPER [1]: 0 runs the steady phase without the decoy swapper (as before)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KEYS=${KEYS:-100000}
CONNECTIONS=${CONNECTIONS:-16}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
STEADY_SECONDS=${STEADY_SECONDS:-20}
SWAP_SECONDS=${SWAP_SECONDS:-20}
SWAP_EVERY=${SWAP_EVERY:-0.1}
RELOAD_INTERVAL=${RELOAD_INTERVAL:-100ms}
ROUNDS=${ROUNDS:-3}
ROUTER_CPU=${ROUTER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
MAX_SECONDS=${MAX_SECONDS:-600}
STEADY_SWAPPER=${STEADY_SWAPPER:-1}

die() { echo "bench-swap: $*" >&2; exit 1; }
log() { echo "bench-swap: $*" >&2; }
PATH=$PATH:/usr/sbin:/sbin
for tool in wrk nginx taskset python3 curl timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/install-bench-deps.sh)"
done
[ -x "$BUILD_DIR/cell-router" ] || die "$BUILD_DIR/cell-router not found: run scripts/build.sh first"
for v in KEYS ROUNDS CONNECTIONS WARMUP_SECONDS STEADY_SECONDS SWAP_SECONDS ROUTER_CPU LOAD_CPU MAX_SECONDS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "bad $v '${!v}'"
done
[[ "$SWAP_EVERY" =~ ^[0-9]*\.?[0-9]+$ ]] || die "bad SWAP_EVERY '$SWAP_EVERY' (seconds, e.g. 0.1)"
[[ "$STEADY_SWAPPER" =~ ^[01]$ ]] || die "bad STEADY_SWAPPER '$STEADY_SWAPPER' (0 or 1)"

# --- bookkeeping: our processes only --------------------------------------------------------------
# shellcheck source=scripts/lib/bench-processes.sh
. "$ROOT/scripts/lib/bench-processes.sh"
work=$(mktemp -d /tmp/cellrouter-swap.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "stopped (SIGTERM; MAX_SECONDS=$MAX_SECONDS?)"; exit 143' TERM
# The watchdog stops its own sleep when cleanup stops it: an orphaned sleep would keep the
# caller's pipe open for MAX_SECONDS. Its stdout is not the caller's for the same reason.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "$MAX_SECONDS" &
  sleeper=$!
  wait "$sleeper" && { echo "bench-swap: MAX_SECONDS=$MAX_SECONDS exceeded, stopping" >&2; kill -TERM $$; }
) >/dev/null &
pids+=($!)

# --- two tables of the same keys, every placement on its own backend port -------------------------
placements=(tier1 tier2 tier3 dedicated-1 dedicated-2 dedicated-3 dedicated-4 dedicated-5)
read -r -a ports <<<"$(free_ports $(( ${#placements[@]} + 2 )))"
router_port=${ports[0]}; admin_port=${ports[1]}
backend_args=(); listens=""
for i in "${!placements[@]}"; do
  backend_args+=(--backend "${placements[$i]}=127.0.0.1:${ports[$((i + 2))]}")
  listens+="    server { listen 127.0.0.1:${ports[$((i + 2))]} backlog=4096; location / { return 200 \"ok\"; } }"$'\n'
done
log "generating two tables of $KEYS keys"
python3 "$ROOT/bench/gen-table.py" --keys "$KEYS" --seed 1 --out "$work/table-a.json" \
  --keys-out "$work/keys.txt" "${backend_args[@]}"
python3 "$ROOT/bench/gen-table.py" --keys "$KEYS" --seed 2 --out "$work/table-b.json" "${backend_args[@]}"
mkdir -p "$work/live" "$work/decoy"
live=$work/live/routing.json
cp "$work/table-a.json" "$live"
cp "$BUILD_DIR/cell-router" "$work/cell-router"  # others may rebuild BUILD_DIR meanwhile

# --- backend: one nginx worker on LOAD_CPU ---------------------------------------------------------
mkdir -p "$work/nginx"
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat >"$work/nginx/nginx.conf" <<NGINX
$user
worker_processes 1;
worker_rlimit_nofile 20000;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
$listens}
NGINX
taskset -c "$LOAD_CPU" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" \
  -g 'daemon off;' >"$work/nginx/out.log" 2>&1 &
pids+=($!)

# --- the router on ROUTER_CPU ---------------------------------------------------------------------
taskset -c "$ROUTER_CPU" "$work/cell-router" --config "$live" --port "$router_port" --admin-port "$admin_port" \
  --listen 127.0.0.1 --threads 1 --access-log off --log-level info --reload-interval "$RELOAD_INTERVAL" \
  >"$work/router.log" 2>&1 &
router=$!
pids+=("$router")

first_key=$(head -n1 "$work/keys.txt")
wait_for() {  # URL [header]: up to 10 s
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 2 ${2:+-H "$2"} "$1" 2>/dev/null && return 0
    kill -0 "$router" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
for i in "${!placements[@]}"; do
  wait_for "http://127.0.0.1:${ports[$((i + 2))]}/" || die "backend on port ${ports[$((i + 2))]} did not start: $(tail -5 "$work/nginx/error.log" 2>/dev/null)"
done
wait_for "http://127.0.0.1:$router_port/" "X-Routing-Key: $first_key" || { tail -20 "$work/router.log" >&2; die "the router did not start"; }

debug_config() { curl -fsS --max-time 5 "http://127.0.0.1:$admin_port/debug/config"; }
reload_field() {  # FIELD: from /debug/config's "reloads" (checks, unchanged, applied, rejected)
  debug_config | python3 -c 'import json, sys; print(json.load(sys.stdin)["reloads"][sys.argv[1]])' "$1"
}
kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$router/status"; }

# --- load ------------------------------------------------------------------------------------------
# Every long-running step runs in the background and is waited for with `wait`, which a signal
# interrupts (a foreground command would hold off the INT/TERM traps until it ends). The
# functions exec their command, so the PID recorded for cleanup is the process itself.
# run_wrk OUT SECONDS: wrk pinned to LOAD_CPU, bounded in time.
run_wrk() {
  exec taskset -c "$LOAD_CPU" timeout -k 5 $(( $2 + 30 )) wrk -t1 -c"$CONNECTIONS" -d"$2s" --latency \
    -s "$ROOT/bench/rotate-keys.lua" "http://127.0.0.1:$router_port/" -- "$work/keys.txt" >"$1" 2>&1
}
# in_background FUNCTION ARGS...: starts it, records its PID for cleanup, sets bg_pid.
in_background() { "$@" & bg_pid=$!; pids+=("$bg_pid"); }
# await PID: waits for it and forgets it, so cleanup never signals a PID the system reused.
await() {
  local rc=0 keep=() pid
  wait "$1" || rc=$?
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  pids=("${keep[@]}")
  return "$rc"
}
# The file swapper: every SWAP_EVERY seconds (on a fixed schedule, not drifting with its own
# work), the other table is hard-linked next to the live file and renamed over it.
swapper() {  # TARGET SECONDS
  exec taskset -c "$LOAD_CPU" python3 - "$work/table-a.json" "$work/table-b.json" "$1" "$2" "$SWAP_EVERY" <<'PY'
import os, sys, time
a, b, live, seconds, every = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
staging = live + ".next"
start = time.monotonic()
swaps = 0
while True:
    deadline = start + (swaps + 1) * every
    if deadline > start + seconds:
        break
    time.sleep(max(0.0, deadline - time.monotonic()))
    if os.path.lexists(staging):
        os.unlink(staging)
    os.link(b if swaps % 2 == 0 else a, staging)
    os.replace(staging, live)
    swaps += 1
print(swaps)
PY
}

cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$router/stat"; }
hz=$(getconf CLK_TCK)

log "warm-up ${WARMUP_SECONDS}s"
if [ "$WARMUP_SECONDS" != 0 ]; then
  in_background run_wrk "$work/warmup.txt" "$WARMUP_SECONDS"
  await "$bg_pid" || die "wrk failed: $(cat "$work/warmup.txt")"
fi
rss_before=$(kib VmRSS)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# One line per phase: name round router_cpu_seconds swaps_made tables_applied tables_rejected
: >"$work/phases.tsv"
measure() {  # PHASE ROUND
  local phase=$1 round=$2 out="$work/$1-$2.txt" applied rejected ticks swaps=0 wrk_pid swapper_pid
  applied=$(reload_field applied); rejected=$(reload_field rejected); ticks=$(cpu_ticks)
  if [ "$phase" = steady ]; then
    log "round $round: steady ${STEADY_SECONDS}s"
    in_background run_wrk "$out" "$STEADY_SECONDS"
    wrk_pid=$bg_pid
    if [ "$STEADY_SWAPPER" = 1 ]; then
      in_background swapper "$work/decoy/routing.json" "$STEADY_SECONDS" >/dev/null
      await "$bg_pid" || die "the decoy swapper failed"
    fi
    await "$wrk_pid" || die "wrk failed: $(cat "$out")"
  else
    log "round $round: swaps ${SWAP_SECONDS}s, every ${SWAP_EVERY}s"
    in_background run_wrk "$out" "$SWAP_SECONDS"
    wrk_pid=$bg_pid
    in_background swapper "$live" "$SWAP_SECONDS" >"$work/swaps-$round.count"
    swapper_pid=$bg_pid
    await "$swapper_pid" || die "the swapper failed"
    swaps=$(cat "$work/swaps-$round.count")
    await "$wrk_pid" || die "wrk failed: $(cat "$out")"
    sleep 1  # the last swap's reload
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$round" \
    "$(awk -v t=$(( $(cpu_ticks) - ticks )) -v hz="$hz" 'BEGIN {print t / hz}')" "$swaps" \
    "$(( $(reload_field applied) - applied ))" "$(( $(reload_field rejected) - rejected ))" >>"$work/phases.tsv"
}
# Rounds alternate the phases, so a neighbour's load on this machine hits both alike.
for round in $(seq "$ROUNDS"); do
  measure steady "$round"
  measure swaps "$round"
done
rss_peak=$(kib VmHWM)
rss_after=$(kib VmRSS)

# The router must end on the file's last content.
live_hash=$(sha256sum "$live" | cut -d' ' -f1)
served_hash=$(debug_config | python3 -c 'import json, sys; print(json.load(sys.stdin)["content_hash"])')

# --- report ----------------------------------------------------------------------------------------
python3 - "$work" "$STEADY_SECONDS" "$SWAP_SECONDS" <<'PY' >"$work/report.txt"
import re, statistics, sys

work, seconds = sys.argv[1], {"steady": float(sys.argv[2]), "swaps": float(sys.argv[3])}

def parse(path):
    text = open(path).read()
    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    pct = {m.group(1): ms(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"requests": int(re.search(r"(\d+) requests in", text).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50": pct["50"], "p99": pct["99"],
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0}

rows = []
for line in open(f"{work}/phases.tsv"):
    phase, round_, cpu, swaps, applied, rejected = line.split()
    row = parse(f"{work}/{phase}-{round_}.txt")
    row.update(phase=phase, round=int(round_), cpu_us=float(cpu) * 1e6 / row["requests"],
               swaps=int(swaps), applied=int(applied), rejected=int(rejected))
    rows.append(row)

print(f"{'phase':<7} {'round':>5} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
      f"{'sockerr':>7} {'cpu us/req':>10} {'swaps':>5} {'applied':>7}")
for r in rows:
    print(f"{r['phase']:<7} {r['round']:>5} {r['requests']:>9} {r['rps']:>7.0f} {r['p50']:>7.3f} {r['p99']:>7.3f} "
          f"{r['non2xx']:>7} {r['socket_errors']:>7} {r['cpu_us']:>10.2f} {r['swaps']:>5} {r['applied']:>7}")
steady = [r for r in rows if r["phase"] == "steady"]
swaps = [r for r in rows if r["phase"] == "swaps"]
def median(rs, field):
    return statistics.median(r[field] for r in rs)
def ratio(field):  # median over rounds of the swaps/steady ratio of the same round
    return statistics.median(b[field] / a[field] for a, b in zip(steady, swaps))
print(f"median   steady: p50 {median(steady, 'p50'):.3f} ms, p99 {median(steady, 'p99'):.3f} ms, "
      f"{median(steady, 'rps'):.0f} req/s;  swaps: p50 {median(swaps, 'p50'):.3f} ms, "
      f"p99 {median(swaps, 'p99'):.3f} ms, {median(swaps, 'rps'):.0f} req/s")
print(f"ratio swaps/steady (median of the rounds' ratios): p50 {ratio('p50'):.2f}x, p99 {ratio('p99'):.2f}x, "
      f"req/s {ratio('rps'):.2f}x")
print(f"requests: {sum(r['requests'] for r in rows)}")
print(f"swaps made: {sum(r['swaps'] for r in swaps)}; tables applied: {sum(r['applied'] for r in swaps)}; "
      f"rejected: {sum(r['rejected'] for r in rows)}")
print(f"errors: {sum(r['non2xx'] + r['socket_errors'] for r in rows)}")
PY
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%FT%TZ); load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "router: 1 worker on core $ROUTER_CPU, reload interval $RELOAD_INTERVAL; wrk -t1 -c$CONNECTIONS and nginx on core $LOAD_CPU; $KEYS keys; $ROUNDS rounds of ${STEADY_SECONDS}s steady + ${SWAP_SECONDS}s swaps every ${SWAP_EVERY}s"
  cat "$work/report.txt"
  echo "router RSS: ${rss_before} KiB after warm-up, ${rss_after} KiB at the end, peak (VmHWM) ${rss_peak} KiB"
  echo "serving the live file's content: $([ "$live_hash" = "$served_hash" ] && echo yes || echo "NO ($served_hash vs $live_hash)")"
}
errors=$(awk '/^errors:/ {print $2}' "$work/report.txt")
rejected=$(awk '/^swaps made:/ {print $NF}' "$work/report.txt")
[ "$errors" = 0 ] || die "$errors requests failed (see the wrk output: KEEP_WORK=1)"
[ "$rejected" = 0 ] || die "the router rejected $rejected tables: $(grep config_rejected "$work/router.log" | tail -1)"
[ "$live_hash" = "$served_hash" ] || die "the router does not serve the live file's content"
