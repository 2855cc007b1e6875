#!/usr/bin/env bash
# End-to-end routing check against a running router and its four demo cells.
#
#   scripts/test-routing.sh                                  # router at http://localhost:8080
#   ROUTER_URL=http://127.0.0.1:18080 scripts/test-routing.sh
#
# Env: ROUTER_URL    router base URL (default http://localhost:8080)
#      WAIT_SECONDS  how long to wait for the router to answer /debug/config first (default 15)
#      CURL_TIMEOUT  per-request timeout in seconds (default 5)
# Prints PASS/FAIL per case and "N passed, M failed"; exits non-zero if any case fails.
# Needs only bash, curl, grep and sed.
set -uo pipefail

ROUTER_URL=${ROUTER_URL:-http://localhost:8080}
ROUTER_URL=${ROUTER_URL%/}
WAIT_SECONDS=${WAIT_SECONDS:-15}
CURL_TIMEOUT=${CURL_TIMEOUT:-5}

if ! command -v curl >/dev/null 2>&1; then
  echo "test-routing.sh: curl is required (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-routing.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; }

# header NAME: value of response header NAME (case-insensitive) from the last request, CR stripped.
header() {
  grep -i "^$1:" "$tmp/headers" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

# body_cell: value of the "cell" string field in the last response body.
body_cell() {
  grep -o '"cell"[[:space:]]*:[[:space:]]*"[^"]*"' "$tmp/body" | head -n 1 | sed 's/.*:[[:space:]]*"\(.*\)"$/\1/'
}

# request PATH [curl args...]: GET $ROUTER_URL$PATH; sets $status ("000" when the request failed).
request() {
  local path=$1
  shift
  : >"$tmp/headers"; : >"$tmp/body"
  status=$(curl -sS -m "$CURL_TIMEOUT" -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
    "$@" "$ROUTER_URL$path" 2>"$tmp/curl.err") || status=000
}

# expect_route NAME KEY CELL REASON
expect_route() {
  local name=$1 key=$2 cell=$3 reason=$4 got problems=()
  request / -H "X-Routing-Key: $key"
  if [ "$status" = 000 ]; then
    fail "$name" "request failed: $(tr '\n' ' ' <"$tmp/curl.err")"
    return
  fi
  [ "$status" = 200 ] || problems+=("status $status, want 200")
  got=$(header X-Routed-To)
  [ "$got" = "$cell" ] || problems+=("X-Routed-To '$got', want '$cell'")
  got=$(header X-Route-Reason)
  [ "$got" = "$reason" ] || problems+=("X-Route-Reason '$got', want '$reason'")
  got=$(body_cell)
  [ "$got" = "$cell" ] || problems+=("body cell '$got', want '$cell'")
  got=$(header X-Request-Id)
  [ -n "$got" ] || problems+=("no X-Request-Id header")
  if [ ${#problems[@]} -eq 0 ]; then
    pass "$name -> $cell ($reason)"
  else
    local IFS=';'
    fail "$name" "${problems[*]}"
  fi
}

# expect_status NAME STATUS PATH [BODY_PATTERN]: the answer has STATUS (and a body matching the
# extended regex BODY_PATTERN, if given).
expect_status() {
  local name=$1 want=$2 path=$3 pattern=${4:-}
  request "$path"
  if [ "$status" = 000 ]; then
    fail "$name" "request failed: $(tr '\n' ' ' <"$tmp/curl.err")"
  elif [ "$status" != "$want" ]; then
    fail "$name" "status $status, want $want"
  elif [ -n "$pattern" ] && ! grep -Eq "$pattern" "$tmp/body"; then
    fail "$name" "body does not match /$pattern/: $(head -c 200 "$tmp/body")"
  else
    pass "$name -> $want"
  fi
}

echo "Testing router at $ROUTER_URL"

# Wait until the router answers (it may still be starting).
deadline=$((SECONDS + WAIT_SECONDS))
until curl -fsS -m 2 -o /dev/null "$ROUTER_URL/debug/config" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "warning: $ROUTER_URL/debug/config did not answer within ${WAIT_SECONDS}s"
    break
  fi
  sleep 0.5
done

expect_route "visa (dedicated cell)"      visa    visa  dedicated
expect_route "acme (shared tier1)"        acme    tier1 tier
expect_route "globex (shared tier2)"      globex  tier2 tier
expect_route "initech (shared tier3)"     initech tier3 tier
expect_route "unknown key (default)"      unknown-tenant-42 tier3 default
expect_status "missing X-Routing-Key"     400 /
expect_status "GET /debug/config"         200 /debug/config '"version"[[:space:]]*:' 

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
