#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that building and testing cellrouter needs, then the
# page tests' npm dependency (scripts/install-page-deps.sh).
# A no-op when they are all present. Runs as root, or through sudo when available.
#
#   scripts/install-deps.sh               the gcc build, its tests and benchmarks
#   scripts/install-deps.sh --fuzz        also clang 15 and libFuzzer, for tests/fuzz (scripts/fuzz.sh)
#   scripts/install-deps.sh --build-only  only what compiling the binaries needs (the Dockerfile):
#                                         no Chromium, Node or Prometheus
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev libmimalloc-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps openssl
)
# What the tests use besides the compiler: Chromium driven from Node for the page tests
# (tests/pages), prometheus + promtool for the /metrics tests, and etcd (3.4) as the control
# plane's store in the M6 tests.
test_tools=(chromium nodejs prometheus etcd-server)
# Debian's nodejs comes without npm; a nodejs from elsewhere (e.g. NodeSource) brings its own,
# and Debian's npm would conflict with it.
if ! command -v npm >/dev/null 2>&1; then test_tools+=(npm); fi

build_only=0
case "${1:-}" in
  "") packages+=("${test_tools[@]}") ;;
  --fuzz) packages+=("${test_tools[@]}" clang-15 libfuzzer-15-dev) ;;
  --build-only) build_only=1 ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

page_deps() {
  [ "$build_only" = 1 ] || "$(dirname "${BASH_SOURCE[0]}")/install-page-deps.sh"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  page_deps
  exit 0
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
page_deps
