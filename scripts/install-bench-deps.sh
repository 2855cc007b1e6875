#!/usr/bin/env bash
# Installs the Debian 12 packages that scripts/bench.sh needs: the load generator (wrk), the
# contenders it compares cell-router with (nginx, haproxy), gnuplot for the chart, and the small
# tools the script itself uses; and the counters of scripts/bench-instructions.sh (valgrind) and
# scripts/bench-syscalls.sh (perf). A no-op when they are all present. Runs as root, or through sudo.
#
# The benchmark never uses the system services these packages install: it starts its own
# foreground nginx/haproxy instances on free loopback ports in a temp dir. Where the package
# scripts start the service anyway (a machine with systemd), it is stopped and disabled again
# unless it was already running before.
set -euo pipefail

packages=(
  wrk nginx haproxy gnuplot-nox
  python3 curl procps util-linux coreutils
  valgrind linux-perf
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "install-bench-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

# Services that were already active before we started are left alone.
was_active=()
if command -v systemctl >/dev/null 2>&1; then
  for svc in nginx haproxy; do
    if systemctl is-active --quiet "$svc" 2>/dev/null; then was_active+=("$svc"); fi
  done
fi

echo "install-bench-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout 600 "${as_root[@]}" apt-get update -qq
timeout 900 "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in nginx haproxy; do
    case " ${was_active[*]} " in *" $svc "*) continue ;; esac
    if systemctl is-active --quiet "$svc" 2>/dev/null; then
      echo "install-bench-deps: stopping and disabling the $svc system service (the benchmark runs its own)"
      "${as_root[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
fi
echo "install-bench-deps: done"
