#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that building and testing cellrouter needs, then the
# page tests' npm dependency (scripts/install-page-deps.sh).
# A no-op when they are all present. Runs as root, or through sudo when available.
#
#   scripts/install-deps.sh          the gcc build, its tests and benchmarks
#   scripts/install-deps.sh --fuzz   also clang 15 and libFuzzer, for tests/fuzz (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps openssl
  chromium nodejs
  prometheus  # prometheus and promtool, for the /metrics tests
)
# The page tests (tests/pages) drive Chromium from Node. Debian's nodejs comes without npm; a
# nodejs from elsewhere (e.g. NodeSource) brings its own, and Debian's npm would conflict with it.
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

case "${1:-}" in
  "") ;;
  --fuzz) packages+=(clang-15 libfuzzer-15-dev) ;;
  -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exec "$(dirname "${BASH_SOURCE[0]}")/install-page-deps.sh"
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
"$(dirname "${BASH_SOURCE[0]}")/install-page-deps.sh"
