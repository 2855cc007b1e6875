-- wrk script: POST a large body (default 10 MiB) with a fixed X-Routing-Key on every request.
-- The request is formatted once (wrk.body), so the load generator only writes it out.
--
--   wrk -s bench/post-body.lua URL -- [BYTES] [ROUTING_KEY]

function init(args)
  local bytes = tonumber(args[1] or "10485760")
  local key = args[2] or "acme"
  local chunk = string.rep("0123456789abcdef", 4096)  -- 64 KiB
  local parts = {}
  local left = bytes
  while left > 0 do
    local n = math.min(left, #chunk)
    parts[#parts + 1] = (n == #chunk) and chunk or chunk:sub(1, n)
    left = left - n
  end
  wrk.method = "POST"
  wrk.body = table.concat(parts)
  wrk.headers["X-Routing-Key"] = key
  wrk.headers["Content-Type"] = "application/octet-stream"
end
