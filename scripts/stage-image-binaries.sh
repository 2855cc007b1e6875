#!/usr/bin/env bash
# Puts the binaries of a build directory where the Dockerfile's BINARIES=prebuilt takes them
# (build/image-binaries/), stripped, so the images can be built without compiling again:
#
#   scripts/build.sh --no-tests && scripts/stage-image-binaries.sh
#   CELLROUTER_BINARIES=prebuilt docker compose up --build
#
# The images run Debian 12 (bookworm) with its own libraries, so the binaries must have been
# built on Debian 12 too: anywhere else this refuses.
#
# Env: BUILD_DIR (build), the directory the binaries come from.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
from=${BUILD_DIR:-$ROOT/build}
to=$ROOT/build/image-binaries

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || codename=""
if [ "$codename" != bookworm ]; then
  echo "stage-image-binaries.sh: this is not Debian 12 (bookworm) but '${codename:-unknown}';" \
       "its binaries would not run in the images. Build them in the image (BINARIES=source)." >&2
  exit 1
fi

sources=("$from/cell-router" "$from/cell-control-plane" "$from/cellctl" "$from/cells/cell")
for binary in "${sources[@]}"; do
  if [ ! -x "$binary" ]; then
    echo "stage-image-binaries.sh: $binary not found; build first (scripts/build.sh)" >&2
    exit 1
  fi
done
if grep -q 'CELLROUTER_SANITIZE:STRING=.\+' "$from/CMakeCache.txt" 2>/dev/null; then
  echo "stage-image-binaries.sh: $from is a sanitizer build; the images need a Release one" >&2
  exit 1
fi

rm -rf "$to"
mkdir -p "$to"
for binary in "${sources[@]}"; do
  strip -o "$to/$(basename "$binary")" "$binary"
done
echo "stage-image-binaries.sh: $(ls "$to" | tr '\n' ' ')in $to (from $from)"
