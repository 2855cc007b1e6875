#!/usr/bin/env bash
# Installs the page tests' npm dependency (playwright-core, pinned in tests/pages/package.json
# and package-lock.json) into tests/pages/node_modules. A no-op when the locked version is
# already there. Called by scripts/install-deps.sh; needs node and npm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$ROOT/tests/pages

command -v node >/dev/null 2>&1 || { echo "install-page-deps: node not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install-page-deps: npm not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

locked=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' \
  "$dir/package-lock.json")
installed=$(node -e 'try { console.log(require(process.argv[1]).version) } catch { console.log("") }' \
  "$dir/node_modules/playwright-core/package.json")
if [ "$installed" = "$locked" ]; then
  echo "install-page-deps: playwright-core $locked present"
  exit 0
fi
echo "install-page-deps: installing playwright-core $locked into $dir/node_modules"
# ci: exactly the lock file's versions and integrity hashes; it never rewrites the lock.
npm ci --prefix "$dir" --no-audit --no-fund
