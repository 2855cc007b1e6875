#!/usr/bin/env bash
# cell-router against nginx and HAProxy doing the same job, on the same CPU budget.
#
#   scripts/install-bench-deps.sh && scripts/build.sh && scripts/bench.sh
#   QUICK=1 scripts/bench.sh                     smoke run: 1 round, 3 s, 16 connections
#
# Four static backends (one nginx instance with four listeners, or BACKEND=cell for four `cell`
# processes) run on LOAD_CPU together with the load generator (wrk, one thread). Each contender
# runs alone, with one worker, pinned to PROXY_CPU:
#   direct      no proxy: wrk straight to one backend (the baseline)
#   nginx       nginx, config generated from the routing file by bench/gen-configs.py
#   haproxy     HAProxy, likewise
#   router      cell-router --threads 1 --access-log off
#   router-log  cell-router --threads 1 --access-log on (stdout to /dev/null)
# PROXY_THREADS sets the workers of every contender (nginx worker_processes, HAProxy nbthread,
# cell-router --threads); PROXY_CPU and LOAD_CPU may name several cores ("0,1").
# Every measurement starts a fresh contender, warms it up (WARMUP), measures, and stops it.
# Rounds alternate the contenders (the order rotates each round). Measured:
#   small   GET, keep-alive, X-Routing-Key rotating over every key of the table and unknown keys
#           (bench/rotate-keys.lua), at each of CONNECTIONS: requests/s, p50/p99 latency, the
#           contender's CPU time per request (utime+stime from /proc/PID/stat, all its
#           processes and threads; utime alone is the user-space part), its peak RSS (VmHWM, summed over its processes), and the
#           backend's CPU and the load core's use (to show they were not the bottleneck)
#   get     GET of a BODY_BYTES (10 MiB) response, BODY_CONNECTIONS connections: MiB/s, RSS growth
#   post    POST of a BODY_BYTES request body (the backend reads all of it before answering)
#   idle    RSS added by IDLE_CONNS idle keep-alive client connections (bench/idle-conns.py)
# Results: OUT_DIR/results-<stamp>.csv (one row per measurement), .json (summary: medians, the
# ratios paired by round, their min-max), .md (the Markdown tables, also printed), .png (chart),
# and configs-<stamp>/ (the generated nginx/HAProxy/backend configs used).
#
# Env (defaults in brackets):
#   ROUNDS [3]  DURATION [10s]  CONNECTIONS ["16 64 256"]  WARMUP [1s]
#   CONTENDERS ["direct nginx haproxy router router-log"]
#   BODY_TESTS ["get post"] ("" skips)  BODY_DURATION [5s]  BODY_CONNECTIONS [4]  BODY_BYTES [10485760]
#   IDLE_CONNS [1000] (0 skips)  BACKEND [nginx|cell]  CONFIG [bench/routing.json]
#   PROXY_CPU [0]  LOAD_CPU [1]  PROXY_THREADS [1]  LOAD_THREADS [1] (wrk's threads)
#   BUILD_DIR [build]  OUT_DIR [$BUILD_DIR/bench]
#   NGINX_BODY_BUFFER [64k]: nginx's client_body_buffer_size (the chunk it relays uploads in)
#   PLOT [auto|0|1]  MAX_SECONDS [3000]: the whole run is stopped after this long
#   QUICK=1: ROUNDS=1 DURATION=3s CONNECTIONS=16 BODY_DURATION=2s IDLE_CONNS=200 (unless set)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}; CONNECTIONS=${CONNECTIONS:-16}
  BODY_DURATION=${BODY_DURATION:-2s}; IDLE_CONNS=${IDLE_CONNS:-200}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16 64 256}
WARMUP=${WARMUP:-1s}
CONTENDERS=${CONTENDERS:-direct nginx haproxy router router-log}
BODY_TESTS=${BODY_TESTS-get post}
BODY_DURATION=${BODY_DURATION:-5s}
BODY_CONNECTIONS=${BODY_CONNECTIONS:-4}
BODY_BYTES=${BODY_BYTES:-10485760}
IDLE_CONNS=${IDLE_CONNS:-1000}
BACKEND=${BACKEND:-nginx}
CONFIG=${CONFIG:-$ROOT/bench/routing.json}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PROXY_THREADS=${PROXY_THREADS:-1}
LOAD_THREADS=${LOAD_THREADS:-1}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
PLOT=${PLOT:-auto}
NGINX_BODY_BUFFER=${NGINX_BODY_BUFFER:-64k}
MAX_SECONDS=${MAX_SECONDS:-3000}

CONNECTIONS=${CONNECTIONS//,/ }
CONTENDERS=${CONTENDERS//,/ }
BODY_TESTS=${BODY_TESTS//,/ }
read -r -a conns_list <<<"$CONNECTIONS"
read -r -a contenders <<<"$CONTENDERS"
read -r -a body_tests <<<"$BODY_TESTS"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# --- arguments and tools -------------------------------------------------------------------------
[ ${#contenders[@]} -gt 0 ] || die "CONTENDERS is empty"
[ ${#conns_list[@]} -gt 0 ] || die "CONNECTIONS is empty"
for c in "${contenders[@]}"; do
  case "$c" in direct|nginx|haproxy|router|router-log) ;;
    *) die "unknown contender '$c' (direct nginx haproxy router router-log)";; esac
done
for c in "${conns_list[@]}"; do [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -gt 0 ] || die "bad CONNECTIONS entry '$c'"; done
for t in "${body_tests[@]}"; do case "$t" in get|post) ;; *) die "unknown BODY_TESTS entry '$t' (get post)";; esac; done
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -gt 0 ] || die "bad ROUNDS '$ROUNDS'"
[[ "$IDLE_CONNS" =~ ^[0-9]+$ ]] || die "bad IDLE_CONNS '$IDLE_CONNS'"
for v in PROXY_THREADS LOAD_THREADS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "bad $v '${!v}'"
done
case "$BACKEND" in nginx|cell) ;; *) die "BACKEND must be nginx or cell";; esac

secs_of() {  # 10s, 3s, 1m, 500ms, 10 -> whole seconds (at least 1)
  local d=$1
  case "$d" in
    *ms) echo $(( (${d%ms} + 999) / 1000 ));;
    *s) echo "${d%s}";;
    *m) echo $(( ${d%m} * 60 ));;
    *) echo "$d";;
  esac
}
for d in DURATION BODY_DURATION WARMUP; do
  [[ "${!d}" =~ ^[0-9]+(ms|s|m)?$ ]] || die "bad $d '${!d}' (e.g. 10s, 3s, 1m)"
done
dur_s=$(secs_of "$DURATION"); body_s=$(secs_of "$BODY_DURATION"); warm_s=$(secs_of "$WARMUP")
[ "$WARMUP" = 0 ] && warm_s=0

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: run scripts/install-bench-deps.sh${2:+ ($2)}"; }
PATH=$PATH:/usr/sbin:/sbin
need wrk; need taskset util-linux; need python3; need curl; need awk; need timeout coreutils
wants() { local x; for x in "${contenders[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
if [ "$BACKEND" = nginx ] || wants nginx; then need nginx; fi
if wants haproxy; then need haproxy; fi
if wants router || wants router-log; then
  [ -x "$BUILD_DIR/cell-router" ] || die "$BUILD_DIR/cell-router not found: run scripts/build.sh first"
fi
if [ "$BACKEND" = cell ]; then
  [ -x "$BUILD_DIR/cells/cell" ] || die "$BUILD_DIR/cells/cell not found: run scripts/build.sh first"
fi
ncpu=$(nproc)
for cores in "$PROXY_CPU" "$LOAD_CPU"; do
  [[ "$cores" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "bad core list '$cores' (e.g. 0 or 0,1)"
  for core in ${cores//,/ }; do [ "$core" -lt "$ncpu" ] || die "core $core: PROXY_CPU/LOAD_CPU must be < nproc ($ncpu)"; done
done
[ "$PROXY_CPU" != "$LOAD_CPU" ] || log "warning: PROXY_CPU and LOAD_CPU are the same core"
[ -f "$CONFIG" ] || die "no routing file $CONFIG"
if [ "$IDLE_CONNS" -gt 0 ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
  ulimit -n $((IDLE_CONNS + 1024)) 2>/dev/null || die "ulimit -n $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"
fi

# --- bookkeeping: our processes only --------------------------------------------------------------
# shellcheck source=scripts/lib/bench-processes.sh
. "$ROOT/scripts/lib/bench-processes.sh"
work=$(mktemp -d /tmp/cellrouter-bench.XXXXXX)
chmod 755 "$work"
declare -A live=()          # pid -> description, for every process this script started
watchdog=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pids "${!live[@]}"
  if [ -n "$watchdog" ]; then
    [ -f "$work/watchdog.pid" ] && kill "$(cat "$work/watchdog.pid")" 2>/dev/null || true
    kill "$watchdog" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "stopped (SIGTERM; MAX_SECONDS=$MAX_SECONDS?)"; exit 143' TERM

( sleep "$MAX_SECONDS" & echo $! >"$work/watchdog.pid"; wait $! && { echo "bench: MAX_SECONDS=$MAX_SECONDS exceeded, stopping" >&2; kill -TERM $$; } ) 2>/dev/null &
watchdog=$!

# Stops one process we started (TERM, then KILL after 5 s) and reaps it.
stop_pid() {
  local pid=$1
  [ -n "${live[$pid]:-}" ] || return 0
  stop_pids "$pid"
  wait "$pid" 2>/dev/null || true
  unset "live[$pid]"
}

# nginx's workers are children of the master we started; they die with it.
children_of() { local p; for p in /proc/[0-9]*; do
  [ "$(awk '{sub(/.*\) /, ""); print $2}' "$p/stat" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"; done; return 0; }

stat_ticks() {  # EXPRESSION pids...: the awk EXPRESSION of /proc/PID/stat's fields, summed over the pids
  local expression=$1 total=0 pid t
  shift
  for pid in "$@"; do
    t=$(awk '{sub(/.*\) /, ""); print '"$expression"'}' "/proc/$pid/stat" 2>/dev/null) || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
cpu_ticks() { stat_ticks '$12 + $13' "$@"; }  # utime+stime (all their threads)
user_ticks() { stat_ticks '$12' "$@"; }       # utime alone
status_kib() {  # FIELD pids...: sum of a /proc/PID/status field (VmHWM, VmRSS) in KiB
  local field=$1 total=0 pid v; shift
  for pid in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null) || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
core_busy_ticks() {  # CPUS: busy ticks of those cores ("0" or "0,1") from /proc/stat (all but idle and iowait)
  awk -v cores="$1" 'BEGIN { n = split(cores, list, ","); for (i = 1; i <= n; i++) want["cpu" list[i]] = 1 }
    $1 in want { total += $2 + $3 + $4 + $7 + $8 + $9 } END { print total + 0 }' /proc/stat
}


# --- binaries and configs -------------------------------------------------------------------------
# Copies of the binaries: others may rebuild build/ while this runs.
mkdir -p "$work/bin"
if wants router || wants router-log; then cp "$BUILD_DIR/cell-router" "$work/bin/"; fi
if [ "$BACKEND" = cell ]; then cp "$BUILD_DIR/cells/cell" "$work/bin/"; fi

placements=$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(" ".join(c.get("placements") or c.get("cellEndpoints")))' "$CONFIG")
read -r -a placement_names <<<"$placements"
read -r -a ports <<<"$(free_ports $(( ${#placement_names[@]} + 3 )))"
nginx_port=${ports[0]}; haproxy_port=${ports[1]}; router_port=${ports[2]}
backend_args=(); backend_ports=()
for i in "${!placement_names[@]}"; do
  backend_ports+=("${ports[$((i + 3))]}")
  backend_args+=(--backend "${placement_names[$i]}=127.0.0.1:${ports[$((i + 3))]}")
done
python3 "$ROOT/bench/gen-configs.py" --config "$CONFIG" --out "$work/gen" "${backend_args[@]}" \
  --nginx-port "$nginx_port" --haproxy-port "$haproxy_port" --big-bytes "$BODY_BYTES" \
  --nginx-body-buffer "$NGINX_BODY_BUFFER" --workers "$PROXY_THREADS" >/dev/null
keys_file=$work/gen/keys.txt
first_key=$(head -n1 "$keys_file")
first_placement=$(awk -F'\t' 'NR == 1 {print $2}' "$work/gen/expected.tsv")
for i in "${!placement_names[@]}"; do
  [ "${placement_names[$i]}" = "$first_placement" ] && direct_port=${backend_ports[$i]}
done

if [ "$BACKEND" = nginx ]; then
  big_path=/big.bin; post_path=/upload
else
  big_path="/?response_bytes=$BODY_BYTES"; post_path=/
fi

# --- the backends (LOAD_CPU) ----------------------------------------------------------------------
backend_pids=()
start_backends() {
  if [ "$BACKEND" = nginx ]; then
    taskset -c "$LOAD_CPU" nginx -p "$work/gen/backend" -c "$work/gen/backend/nginx.conf" \
      -e "$work/gen/backend/error.log" -g 'daemon off;' >"$work/backend.out" 2>&1 &
    local master=$!; live[$master]="backend nginx"
    backend_pids=("$master")
  else
    local i
    for i in "${!placement_names[@]}"; do
      taskset -c "$LOAD_CPU" "$work/bin/cell" --name "${placement_names[$i]}" --port "${backend_ports[$i]}" \
        --listen 127.0.0.1 --threads 1 >/dev/null 2>>"$work/backend.out" &
      live[$!]="cell ${placement_names[$i]}"; backend_pids+=("$!")
    done
  fi
  local port ok
  for port in "${backend_ports[@]}"; do
    ok=0
    for _ in $(seq 100); do
      if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null; then ok=1; break; fi
      sleep 0.1
    done
    [ "$ok" = 1 ] || { cat "$work/backend.out" "$work/gen/backend/error.log" 2>/dev/null | tail -20 >&2; die "backend on port $port did not start"; }
  done
  if [ "$BACKEND" = nginx ]; then
    local w; for w in $(children_of "${backend_pids[0]}"); do backend_pids+=("$w"); done
  fi
}

# --- the contenders (PROXY_CPU) -------------------------------------------------------------------
cur_main=""; cur_pids=(); cur_url=""
start_contender() {
  local name=$1
  cur_pids=(); cur_main=""
  case "$name" in
    direct)
      cur_url="http://127.0.0.1:$direct_port"; return 0;;
    nginx)
      taskset -c "$PROXY_CPU" nginx -p "$work/gen/nginx" -c "$work/gen/nginx/nginx.conf" \
        -e "$work/gen/nginx/error.log" -g 'daemon off;' >"$work/contender.out" 2>&1 &
      cur_url="http://127.0.0.1:$nginx_port";;
    haproxy)
      taskset -c "$PROXY_CPU" haproxy -f "$work/gen/haproxy/haproxy.cfg" -db >"$work/contender.out" 2>&1 &
      cur_url="http://127.0.0.1:$haproxy_port";;
    router|router-log)
      local access=off binary=$work/bin/cell-router
      [ "$name" = router-log ] && access=on
      taskset -c "$PROXY_CPU" "$binary" --config "$work/gen/routing.json" --port "$router_port" \
        --admin-port 0 --listen 127.0.0.1 --threads "$PROXY_THREADS" --access-log "$access" --log-level warn \
        --drain-timeout 2s >/dev/null 2>"$work/contender.out" &
      cur_url="http://127.0.0.1:$router_port";;
  esac
  cur_main=$!; live[$cur_main]="$name"
  local ok=0
  for _ in $(seq 100); do
    kill -0 "$cur_main" 2>/dev/null || break
    if curl -fsS -o /dev/null --max-time 2 -H "X-Routing-Key: $first_key" "$cur_url/" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    tail -20 "$work/contender.out" >&2 || true
    [ "$name" = nginx ] && tail -20 "$work/gen/nginx/error.log" >&2
    die "$name did not start on $cur_url"
  fi
  cur_pids=("$cur_main")
  if [ "$name" = nginx ]; then
    local w; for w in $(children_of "$cur_main"); do cur_pids+=("$w"); live[$w]="nginx worker"; done
    [ ${#cur_pids[@]} -ge 2 ] || die "nginx started no worker"
  fi
}
stop_contender() {
  [ -n "$cur_main" ] || return 0
  stop_pid "$cur_main"
  local pid
  for pid in "${cur_pids[@]}"; do
    [ "$pid" = "$cur_main" ] && continue
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    unset "live[$pid]"
  done
  cur_main=""; cur_pids=()
}

# --- wrk -------------------------------------------------------------------------------------------
# run_wrk OUT SECONDS args...: wrk pinned to LOAD_CPU, bounded in time; its CPU time (user+sys,
# seconds) goes to OUT.cpu. Returns wrk's exit code.
run_wrk() {
  local out=$1 secs=$2 rc=0; shift 2
  local TIMEFORMAT='%U %S'
  { time taskset -c "$LOAD_CPU" timeout -k 5 $((secs + 60)) wrk "$@" >"$out" 2>&1 ; } 2>"$out.cpu" || rc=$?
  return $rc
}
# parse_wrk OUT: prints "requests seconds rps p50_ms p99_ms errors non2xx loadgen_cpu_s"
parse_wrk() {
  awk -v cpu="$(awk '{print $1 + $2}' "$1.cpu" 2>/dev/null || echo 0)" '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
      return v + 0
    }
    / requests in / { req = $1; t = $4; sub(/,$/, "", t); secs = ms(t) / 1000 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    END { printf "%d %.3f %.1f %.3f %.3f %d %d %.2f\n", req, secs, rps, p50, p99, err, non2xx, cpu }
  ' "$1"
}

# --- results ---------------------------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT_DIR"
csv=$OUT_DIR/results-$stamp.csv
echo "test,contender,connections,round,requests,seconds,rps,p50_ms,p99_ms,socket_errors,non2xx,proxy_cpu_s,cpu_us_per_req,proxy_core_pct,peak_rss_kib,rss_before_kib,rss_growth_kib,backend_cpu_us_per_req,load_core_pct,mib_per_s,cpu_us_per_mib,idle_conns,idle_delta_kib,idle_per_conn_bytes,loadavg,peak_rss_worker_kib,proxy_core_others_pct,user_cpu_us_per_req" >"$csv"
problems=0

fmt() { python3 -c "import sys; print(sys.argv[1] % tuple(float(a) for a in sys.argv[2:]))" "$@"; }

# measure TEST CONTENDER CONNECTIONS ROUND: one fresh contender, warm-up, one timed wrk run.
measure() {
  local test=$1 name=$2 conns=$3 round=$4
  local loadavg; loadavg=$(cut -d' ' -f1 /proc/loadavg)
  start_contender "$name"
  local secs wrk_args=() warm_args=()
  case "$test" in
    small)
      secs=$dur_s
      wrk_args=(-t"$LOAD_THREADS" -c"$conns" -d"$DURATION" --latency --timeout 10s -s "$ROOT/bench/rotate-keys.lua" "$cur_url/" -- "$keys_file")
      warm_args=(-t"$LOAD_THREADS" -c"$conns" -d"$WARMUP" -s "$ROOT/bench/rotate-keys.lua" "$cur_url/" -- "$keys_file");;
    get)
      secs=$body_s
      wrk_args=(-t"$LOAD_THREADS" -c"$conns" -d"$BODY_DURATION" --latency --timeout 30s -H "X-Routing-Key: $first_key" "$cur_url$big_path");;
    post)
      secs=$body_s
      wrk_args=(-t"$LOAD_THREADS" -c"$conns" -d"$BODY_DURATION" --latency --timeout 30s -s "$ROOT/bench/post-body.lua" "$cur_url$post_path" -- "$BODY_BYTES" "$first_key");;
  esac
  if [ "$warm_s" -gt 0 ] && [ ${#warm_args[@]} -gt 0 ]; then
    run_wrk "$work/warm.out" "$warm_s" "${warm_args[@]}" || { cat "$work/warm.out" >&2; die "$name: warm-up wrk failed"; }
  fi
  local rss_before=0; [ ${#cur_pids[@]} -gt 0 ] && rss_before=$(status_kib VmRSS "${cur_pids[@]}")
  local p0 b0 p1 b1
  local k0 k1 u0 u1
  p0=$(cpu_ticks "${cur_pids[@]}"); b0=$(cpu_ticks "${backend_pids[@]}"); k0=$(core_busy_ticks "$PROXY_CPU")
  u0=$(user_ticks "${cur_pids[@]}")
  run_wrk "$work/wrk.out" "$secs" "${wrk_args[@]}" || { cat "$work/wrk.out" >&2; die "$name: wrk failed ($test, c=$conns)"; }
  p1=$(cpu_ticks "${cur_pids[@]}"); b1=$(cpu_ticks "${backend_pids[@]}"); k1=$(core_busy_ticks "$PROXY_CPU")
  u1=$(user_ticks "${cur_pids[@]}")
  local hwm=0 hwm_worker=0
  if [ ${#cur_pids[@]} -gt 0 ]; then
    hwm=$(status_kib VmHWM "${cur_pids[@]}")
    hwm_worker=$(status_kib VmHWM "${cur_pids[$(( ${#cur_pids[@]} - 1 ))]}")  # nginx: the worker
  fi
  stop_contender
  local requests wsecs rps p50 p99 errs non2xx lcpu
  read -r requests wsecs rps p50 p99 errs non2xx lcpu < <(parse_wrk "$work/wrk.out")
  [ "$requests" -gt 0 ] || { cat "$work/wrk.out" >&2; die "$name: no request completed ($test, c=$conns)"; }
  if [ "$errs" -gt 0 ] || [ "$non2xx" -gt 0 ]; then
    problems=$((problems + 1))
    log "warning: $name $test c=$conns round $round: $errs socket errors, $non2xx non-2xx responses"
  fi
  local row
  row=$(python3 - "$test" "$name" "$conns" "$round" "$requests" "$wsecs" "$rps" "$p50" "$p99" "$errs" "$non2xx" \
        "$((p1 - p0))" "$((b1 - b0))" "$hz" "$lcpu" "$hwm" "$rss_before" "$BODY_BYTES" "$loadavg" "$hwm_worker" "$((k1 - k0))" "$((u1 - u0))" <<'PY'
import sys
(test, name, conns, rnd, req, secs, rps, p50, p99, errs, non2xx, pticks, bticks, hz, lcpu, hwm,
 rss_before, body_bytes, loadavg, hwm_worker, core_ticks, uticks) = sys.argv[1:]
req = int(req); secs = float(secs); hz = float(hz)
pcpu = int(pticks) / hz; bcpu = int(bticks) / hz
proxy = name != "direct"
cpu_us = pcpu * 1e6 / req if proxy else ""
user_us = int(uticks) / hz * 1e6 / req if proxy else ""
core = 100 * pcpu / secs if proxy else ""
load_core = 100 * (bcpu + float(lcpu)) / secs
# What other processes (other people's builds) took of the contender's core meanwhile.
others = min(100.0, max(0.0, 100 * (int(core_ticks) - int(pticks)) / hz / secs))
mib = mibs = cpu_mib = growth = ""
if test in ("get", "post"):
    mib = req * int(body_bytes) / 1048576
    mibs = mib / secs
    cpu_mib = pcpu * 1e6 / mib if proxy else ""
if proxy and test in ("get", "post"):
    growth = int(hwm) - int(rss_before)
def f(v, n):
    return "" if v == "" else f"{v:.{n}f}"
print(",".join([test, name, conns, rnd, str(req), f(secs, 3), rps, p50, p99, errs, non2xx,
                f(pcpu, 2) if proxy else "", f(cpu_us, 2), f(core, 1), hwm if proxy else "",
                rss_before if proxy else "", str(growth), f(bcpu * 1e6 / req, 2), f(load_core, 1),
                f(mibs, 1), f(cpu_mib, 1), "", "", "", loadavg, hwm_worker if proxy else "", f(others, 1), f(user_us, 2)]))
PY
)
  echo "$row" >>"$csv"
  IFS=, read -r -a f <<<"$row"
  case "$test" in
    small) log "$(printf '%-5s c=%-4s r%-2s %-10s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %6s us/req (user %6s; %5s%% core, others %5s%%)  peak RSS %7s KiB  load core %5s%%' \
              "$test" "$conns" "$round" "$name" "${f[6]}" "${f[7]}" "${f[8]}" "${f[12]:--}" "${f[27]:--}" "${f[13]:--}" "${f[26]}" "${f[14]:--}" "${f[18]}")";;
    *) log "$(printf '%-5s c=%-4s r%-2s %-10s %7s MiB/s  p99 %8s ms  cpu %7s us/MiB (%5s%% core)  RSS growth %7s KiB  load core %5s%%' \
              "$test" "$conns" "$round" "$name" "${f[19]}" "${f[8]}" "${f[20]:--}" "${f[13]:--}" "${f[16]:--}" "${f[18]}")";;
  esac
}

measure_idle() {
  local name=$1 round=$2
  local loadavg; loadavg=$(cut -d' ' -f1 /proc/loadavg)
  start_contender "$name"
  if [ "$warm_s" -gt 0 ]; then
    run_wrk "$work/warm.out" "$warm_s" -t1 -c16 -d"$WARMUP" -s "$ROOT/bench/rotate-keys.lua" "$cur_url/" -- "$keys_file" \
      || { cat "$work/warm.out" >&2; die "$name: warm-up wrk failed"; }
  fi
  sleep 0.5
  local pid_args=() pid line
  for pid in "${cur_pids[@]}"; do pid_args+=(--pid "$pid"); done
  line=$(taskset -c "$LOAD_CPU" timeout -k 5 120 python3 "$ROOT/bench/idle-conns.py" --port "${cur_url##*:}" \
           "${pid_args[@]}" --keys "$keys_file" --count "$IDLE_CONNS" 2>"$work/idle.err") \
    || { cat "$work/idle.err" >&2; die "$name: idle-conns.py failed"; }
  stop_contender
  local before after delta per ok failed
  read -r before after delta per ok failed < <(echo "$line" | sed -E 's/[a-z_]+=//g; s/^idle //')
  if [ "$failed" -gt 0 ]; then
    problems=$((problems + 1)); log "warning: $name idle: $failed of $IDLE_CONNS connections failed"; head -3 "$work/idle.err" >&2
  fi
  echo "idle,$name,$IDLE_CONNS,$round,$ok,,,,,,$failed,,,,,$before,,,,,,$IDLE_CONNS,$delta,$per,$loadavg,," >>"$csv"
  log "$(printf 'idle  n=%-4s r%-2s %-10s RSS %6s KiB -> %6s KiB: +%s KiB, %s bytes per connection' \
          "$IDLE_CONNS" "$round" "$name" "$before" "$after" "$delta" "$per")"
}

# sanity NAME: the contender routes every key as the router would, answers 400 without a key,
# and the rotating load really reaches every placement.
sanity() {
  local name=$1 key placement reason got
  start_contender "$name"
  if [ "$name" != direct ]; then
    while IFS=$'\t' read -r key placement reason; do
      got=$(curl -sS -o /dev/null -D - --max-time 5 -H "X-Routing-Key: $key" "$cur_url/" | tr -d '\r' |
            awk 'tolower($1) == "x-routed-to:" {to = $2} tolower($1) == "x-route-reason:" {r = $2} NR == 1 {s = $2} END {print s, to, r}')
      [ "$got" = "200 $placement $reason" ] || die "$name: key '$key' gave '$got', expected '200 $placement $reason'"
    done <"$work/gen/expected.tsv"
    got=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$cur_url/")
    [ "$got" = 400 ] || die "$name: a request without X-Routing-Key gave $got, expected 400"
    run_wrk "$work/sanity.out" 1 -t1 -c4 -d1s -s "$ROOT/bench/count-routes.lua" "$cur_url/" -- "$keys_file" \
      || { cat "$work/sanity.out" >&2; die "$name: sanity wrk failed"; }
    local want have
    want=$(awk -F'\t' '{print "200", $2, $3}' "$work/gen/expected.tsv" | sort -u)
    have=$(awk '$1 == "route" {print $2, $3, $4}' "$work/sanity.out" | sort -u)
    [ "$want" = "$have" ] || die "$name: the rotating load got routes [$(echo $have)], expected [$(echo $want)]"
  fi
  local code
  if [ ${#body_tests[@]} -gt 0 ]; then
    code=$(head -c "$BODY_BYTES" /dev/zero | curl -sS -o /dev/null -w '%{http_code}' --max-time 30 -H 'Expect:' \
           -H "X-Routing-Key: $first_key" --data-binary @- "$cur_url$post_path")
    [ "$code" = 200 ] || die "$name: POST of $BODY_BYTES bytes gave $code"
    code=$(curl -sS -o "$work/big.out" -w '%{http_code}' --max-time 30 -H "X-Routing-Key: $first_key" "$cur_url$big_path")
    [ "$code" = 200 ] && [ "$(stat -c %s "$work/big.out")" = "$BODY_BYTES" ] || die "$name: GET of $BODY_BYTES bytes failed ($code)"
    rm -f "$work/big.out"
  fi
  stop_contender
}

# --- run --------------------------------------------------------------------------------------------
proxies=(); for c in "${contenders[@]}"; do [ "$c" != direct ] && proxies+=("$c"); done
n_small=$((ROUNDS * ${#conns_list[@]} * ${#contenders[@]}))
n_body=$((ROUNDS * ${#body_tests[@]} * ${#contenders[@]}))
n_idle=0; [ "$IDLE_CONNS" -gt 0 ] && n_idle=$((ROUNDS * ${#proxies[@]}))
estimate=$((n_small * (dur_s + warm_s + 2) + n_body * (body_s + 2) + n_idle * (warm_s + 5) + 10 * ${#contenders[@]}))
log "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
log "contenders: ${contenders[*]}; connections: ${conns_list[*]}; rounds: $ROUNDS; duration: $DURATION (warm-up $WARMUP)"
log "body tests: ${body_tests[*]:-none} (${BODY_BYTES} bytes, ${BODY_CONNECTIONS} connections, $BODY_DURATION); idle connections: $IDLE_CONNS"
log "backend: $BACKEND on cpu $LOAD_CPU with wrk; contenders on cpu $PROXY_CPU; about $((estimate / 60)) min $((estimate % 60)) s"
[ "$estimate" -lt "$MAX_SECONDS" ] || die "the estimated time (${estimate}s) exceeds MAX_SECONDS=$MAX_SECONDS: lower ROUNDS/DURATION"

start_backends
log "backends: ${placement_names[*]} on ports ${backend_ports[*]} (pids ${backend_pids[*]})"
for c in "${contenders[@]}"; do sanity "$c"; done
log "sanity checks passed: every contender routes every key like the router${body_tests[0]:+ and passes $BODY_BYTES-byte bodies both ways}"

started_at=$(date +%s)
for round in $(seq "$ROUNDS"); do
  # Rotate the order each round so no contender always runs first or last.
  order=()
  for i in "${!contenders[@]}"; do order+=("${contenders[$(( (i + round - 1) % ${#contenders[@]} ))]}"); done
  for conns in "${conns_list[@]}"; do
    for c in "${order[@]}"; do measure small "$c" "$conns" "$round"; done
  done
  for t in "${body_tests[@]}"; do
    for c in "${order[@]}"; do measure "$t" "$c" "$BODY_CONNECTIONS" "$round"; done
  done
  if [ "$IDLE_CONNS" -gt 0 ]; then
    for c in "${order[@]}"; do [ "$c" != direct ] && measure_idle "$c" "$round"; done
  fi
done
elapsed=$(( $(date +%s) - started_at ))

# --- report -----------------------------------------------------------------------------------------
version_of() {
  case "$1" in
    nginx) nginx -v 2>&1 | head -n1;;
    haproxy) haproxy -v 2>/dev/null | head -n1;;
    wrk) wrk -v 2>&1 | head -n1;;
  esac
}
configs_dir=$OUT_DIR/configs-$stamp
mkdir -p "$configs_dir"
cp "$work/gen/routing.json" "$work/gen/keys.txt" "$work/gen/expected.tsv" "$configs_dir/"
mkdir -p "$configs_dir/nginx" "$configs_dir/haproxy" "$configs_dir/backend"
cp "$work/gen/nginx/nginx.conf" "$configs_dir/nginx/"
cp "$work/gen/haproxy/"* "$configs_dir/haproxy/"
cp "$work/gen/backend/nginx.conf" "$configs_dir/backend/"

git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Only changes to what the router is built from matter here (others edit tests and docs meanwhile).
git_dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no -- src include cells cmake CMakeLists.txt 2>/dev/null | head -c1 | wc -c)
python3 - "$OUT_DIR/results-$stamp.meta.json" <<PY
import json, sys
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "command": "ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS='${conns_list[*]}' CONTENDERS='${contenders[*]}' BODY_TESTS='${body_tests[*]}' BODY_DURATION=$BODY_DURATION BODY_CONNECTIONS=$BODY_CONNECTIONS IDLE_CONNS=$IDLE_CONNS BACKEND=$BACKEND$( [ "$NGINX_BODY_BUFFER" = 64k ] || echo " NGINX_BODY_BUFFER=$NGINX_BODY_BUFFER")$( [ "$PROXY_THREADS" = 1 ] || echo " PROXY_THREADS=$PROXY_THREADS")$( [ "$LOAD_THREADS" = 1 ] || echo " LOAD_THREADS=$LOAD_THREADS")$( [ "$PROXY_CPU" = 0 ] || echo " PROXY_CPU=$PROXY_CPU")$( [ "$LOAD_CPU" = 1 ] || echo " LOAD_CPU=$LOAD_CPU") scripts/bench.sh",
  "rounds": $ROUNDS, "duration": "$DURATION", "warmup": "$WARMUP", "connections": "${conns_list[*]}".split(),
  "contenders": "${contenders[*]}".split(), "body_tests": "${body_tests[*]}".split(),
  "body_bytes": $BODY_BYTES, "body_connections": $BODY_CONNECTIONS, "body_duration": "$BODY_DURATION",
  "idle_conns": $IDLE_CONNS, "backend": "$BACKEND", "proxy_cpu": "$PROXY_CPU", "load_cpu": "$LOAD_CPU",
  "proxy_threads": $PROXY_THREADS, "load_threads": $LOAD_THREADS,
  "machine": {"nproc": $(nproc), "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)",
              "kernel": "$(uname -r)", "os": "$(. /etc/os-release && echo "$PRETTY_NAME")"},
  "versions": {"nginx": "$(command -v nginx >/dev/null && version_of nginx)",
               "haproxy": "$(command -v haproxy >/dev/null && version_of haproxy)",
               "wrk": "$(version_of wrk)",
               "cell-router": "git $git_rev$( [ "$git_dirty" = 0 ] || echo ' with uncommitted changes to its sources')"},
  "elapsed_s": $elapsed, "problems": $problems, "configs": "$configs_dir",
}, open(sys.argv[1], "w"), indent=2)
PY

plot_args=()
if [ "$PLOT" = 1 ] || { [ "$PLOT" = auto ] && command -v gnuplot >/dev/null 2>&1; }; then
  plot_args=(--png "$OUT_DIR/results-$stamp.png")
fi
timeout 120 python3 "$ROOT/bench/report.py" --csv "$csv" --meta "$OUT_DIR/results-$stamp.meta.json" \
  --json "$OUT_DIR/results-$stamp.json" --md "$OUT_DIR/results-$stamp.md" "${plot_args[@]}"
log "done in $((elapsed / 60)) min $((elapsed % 60)) s; results: $csv, $OUT_DIR/results-$stamp.{json,md${plot_args:+,png}}, configs in $configs_dir"
[ "$problems" = 0 ] || log "warning: $problems measurements had errors or non-2xx answers (see the log above)"
