-- wrk script for bench.sh's sanity check: the rotate-keys.lua load, plus a tally of each
-- response's status, X-Routed-To and X-Route-Reason, printed at the end as
--   route <status> <X-Routed-To> <X-Route-Reason> <count>
--
--   wrk -s bench/count-routes.lua URL -- KEYS_FILE [PATH]

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "rotate-keys.lua")

local rotate_setup = setup
local threads = {}
function setup(thread)
  rotate_setup(thread)
  threads[#threads + 1] = thread
end

counts = {}
function response(status, headers, body)
  local to, reason = "-", "-"
  for name, value in pairs(headers) do
    local lower = name:lower()
    if lower == "x-routed-to" then to = value elseif lower == "x-route-reason" then reason = value end
  end
  local k = status .. " " .. to .. " " .. reason
  counts[k] = (counts[k] or 0) + 1
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do
      io.write("route ", k, " ", v, "\n")
    end
  end
end
