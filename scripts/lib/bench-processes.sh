# shellcheck shell=bash
# Sourced by the benchmark scripts: the process bookkeeping and the waits they share. Every benchmark stops
# exactly the processes it started, by PID, and nothing else.

# stop_pids PID...: TERM each, give them 5 s together to exit, then KILL whatever is left.
# The caller reaps them (`wait`).
stop_pids() {
  local pid any
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    any=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && any=1; done
    [ "$any" = 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# free_ports N: N distinct free loopback ports, held together while chosen so none repeats.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# wait_for_http SECONDS URL CURL_ARGS...: until URL answers with a success status, polling every
# 0.2 s; returns 1 when SECONDS pass first.
wait_for_http() {
  local deadline=$((SECONDS + $1)) url=$2
  shift 2
  until curl -fsS -m 2 -o /dev/null "$@" "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
