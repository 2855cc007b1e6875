#!/usr/bin/env bash
# System calls per proxied request, by name, for cell-router next to nginx and HAProxy doing the
# same job (bench/gen-configs.py): counted by the kernel's syscall tracepoints (perf stat), so
# the figures do not depend on how busy the machine is, unlike CPU time. With them, the
# contender's user-space and kernel CPU time per request (utime and stime), its page faults and
# its context switches.
#
#   scripts/install-bench-deps.sh && scripts/build.sh && scripts/bench-syscalls.sh
#   ROUTERS="/path/to/old/cell-router build/cell-router" CONTENDERS="router" scripts/bench-syscalls.sh
#
# One static nginx backend (one listener per placement) on LOAD_CPU; each contender with one
# worker pinned to PROXY_CPU, access log off; a 1 s warm-up, then wrk sends small keep-alive
# GETs rotating the routing key for DURATION while perf counts the system calls of the
# contender's worker process. Each measurement runs ROUNDS times.
#
# Contenders: nginx, haproxy, router (access log off), router-log (access log on, written to
# /dev/null as in scripts/bench.sh).
#
# Env: CONTENDERS ["nginx haproxy router"]  ROUTERS [build/cell-router]  CONNECTIONS ["16 256"]
#      DURATION [5]  ROUNDS [2]  PROXY_CPU [0]  LOAD_CPU [1]  CONFIG [bench/routing.json]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONTENDERS=${CONTENDERS:-nginx haproxy router}
ROUTERS=${ROUTERS:-$ROOT/build/cell-router}
CONNECTIONS=${CONNECTIONS:-16 256}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CONFIG=${CONFIG:-$ROOT/bench/routing.json}
# The calls a proxy makes per request; any other call still counts in the total.
SYSCALLS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_ctl io_uring_enter
  accept4 connect close getsockopt setsockopt getpid futex timerfd_settime)

die() { echo "bench-syscalls: $*" >&2; exit 1; }
[[ "$DURATION" =~ ^[0-9]+$ ]] && [ "$DURATION" -gt 0 ] || die "DURATION is whole seconds, got '$DURATION'"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -gt 0 ] || die "bad ROUNDS '$ROUNDS'"
for tool in perf wrk nginx curl python3 taskset; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-bench-deps.sh"
done
for c in $CONTENDERS; do
  case "$c" in
    nginx) ;;
    haproxy) command -v haproxy >/dev/null || die "haproxy not found: run scripts/install-bench-deps.sh";;
    router|router-log) for r in $ROUTERS; do [ -x "$r" ] || die "$r not found: run scripts/build.sh first"; done;;
    *) die "unknown contender '$c' (nginx haproxy router router-log)";;
  esac
done
perf stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null ||
  die "perf cannot read the syscall tracepoints: run as root, or lower kernel.perf_event_paranoid"

# shellcheck source=scripts/lib/bench-processes.sh
. "$ROOT/scripts/lib/bench-processes.sh"

work=$(mktemp -d)
pids=()
cleanup() {
  stop_pids "${pids[@]}"
  local pid
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for URL HEADER...: until it answers, at most 10 s.
wait_for() { wait_for_http 10 "$@" || die "$1 did not answer within 10 s"; }

read -r -a placements <<<"$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(" ".join(c.get("placements") or c.get("cellEndpoints")))' "$CONFIG")"
read -r -a ports <<<"$(free_ports $(( ${#placements[@]} + 3 )))"
nginx_port=${ports[0]}; haproxy_port=${ports[1]}; router_port=${ports[2]}
backend_args=()
for i in "${!placements[@]}"; do
  backend_args+=(--backend "${placements[$i]}=127.0.0.1:${ports[$((i + 3))]}")
done
python3 "$ROOT/bench/gen-configs.py" --config "$CONFIG" --out "$work/gen" "${backend_args[@]}" \
  --nginx-port "$nginx_port" --haproxy-port "$haproxy_port" --big-bytes 1024 --workers 1 >/dev/null
keys=$work/gen/keys.txt
first_key=$(head -n1 "$keys")

taskset -c "$LOAD_CPU" nginx -p "$work/gen/backend" -c "$work/gen/backend/nginx.conf" \
  -e "$work/gen/backend/error.log" -g 'daemon off;' >/dev/null 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:${ports[3]}/"

# measure NAME BINARY CONNECTIONS: one line of figures per request
measure() {
  local name=$1 binary=$2 conns=$3 main target url
  case "$name" in
    nginx)
      taskset -c "$PROXY_CPU" nginx -p "$work/gen/nginx" -c "$work/gen/nginx/nginx.conf" \
        -e "$work/gen/nginx/error.log" -g 'daemon off;' >/dev/null 2>&1 &
      url=http://127.0.0.1:$nginx_port;;
    haproxy)
      taskset -c "$PROXY_CPU" haproxy -f "$work/gen/haproxy/haproxy.cfg" -db >/dev/null 2>&1 &
      url=http://127.0.0.1:$haproxy_port;;
    router|router-log)
      local access=off
      [ "$name" = router-log ] && access=on
      taskset -c "$PROXY_CPU" "$binary" --config "$work/gen/routing.json" --port "$router_port" --admin-port 0 \
        --listen 127.0.0.1 --threads 1 --access-log "$access" --log-level warn >/dev/null 2>&1 &
      url=http://127.0.0.1:$router_port;;
  esac
  main=$!
  # measure runs in a subshell: it stops its own contender, on every way out.
  trap 'kill -TERM "$main" 2>/dev/null || true' EXIT
  wait_for "$url/" -H "X-Routing-Key: $first_key"
  target=$main
  if [ "$name" = nginx ]; then  # the worker, not the master
    target=$(pgrep -P "$main" | head -n1)
    [ -n "$target" ] || die "nginx started no worker"
  fi
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d1s -s "$ROOT/bench/rotate-keys.lua" "$url/" -- "$keys" >/dev/null
  local events="raw_syscalls:sys_enter,page-faults,context-switches" call
  for call in "${SYSCALLS[@]}"; do events+=",syscalls:sys_enter_$call"; done
  local before after
  before=$(awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$target/stat")
  perf stat -x, -e "$events" -p "$target" -o "$work/perf.csv" -- sleep "$((DURATION + 1))" 2>/dev/null &
  local perf_pid=$!
  sleep 0.5
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" -s "$ROOT/bench/rotate-keys.lua" "$url/" -- "$keys" \
    >"$work/wrk.txt"
  after=$(awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$target/stat")
  wait "$perf_pid" || die "perf stat failed"
  kill -TERM "$main"
  wait "$main" 2>/dev/null || true
  trap - EXIT
  local requests
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  [ -n "$requests" ] && [ "$requests" -gt 0 ] || die "$name: wrk completed no requests"
  # perf counted from before wrk started to after it ended: only the requests' own calls
  # happen then (the proxy is otherwise idle), so dividing by wrk's count is fair.
  python3 - "$work/perf.csv" "$requests" "$(getconf CLK_TCK)" $before $after <<'PY'
import sys
path, requests, hz, u0, s0, u1, s1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:])
calls, total, extra = [], 0.0, {}
for line in open(path):
    fields = line.strip().split(",")
    if len(fields) < 3 or not fields[0].replace(".", "").isdigit():
        continue
    count, event = float(fields[0]), fields[2]
    if event == "raw_syscalls:sys_enter":
        total = count / requests
    elif event in ("page-faults", "context-switches"):
        extra[event] = count / requests
    elif count / requests >= 0.01:
        calls.append(f"{event.removeprefix('syscalls:sys_enter_')} {count / requests:.2f}")
user = (u1 - u0) / hz * 1e6 / requests
kernel = (s1 - s0) / hz * 1e6 / requests
print(f"{total:5.2f}  user {user:5.1f} µs  kernel {kernel:5.1f} µs  faults {extra.get('page-faults', 0):.3f}  "
      f"switches {extra.get('context-switches', 0):.3f}  ({', '.join(calls)})")
PY
}

echo "system calls per request (all / by name) and CPU per request; one worker on cpu $PROXY_CPU, load on cpu $LOAD_CPU"
for conns in $CONNECTIONS; do
  for name in $CONTENDERS; do
    binaries=("$name")
    case "$name" in router|router-log) read -r -a binaries <<<"$ROUTERS";; esac
    for binary in "${binaries[@]}"; do
      label=$name
      case "$name" in router|router-log) label="$name $binary";; esac
      for round in $(seq "$ROUNDS"); do
        printf 'c=%-4s %-40s r%s  %s\n' "$conns" "$label" "$round" "$(measure "$name" "$binary" "$conns")"
      done
    done
  done
done
