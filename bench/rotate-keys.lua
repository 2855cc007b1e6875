-- wrk script: every request carries the next X-Routing-Key of a fixed rotation, so the load
-- spreads over every placement of the table and over keys the table does not know (which go to
-- defaultPlacement). The requests are formatted once, in init(); request() only picks the next.
--
--   wrk -s bench/rotate-keys.lua URL -- KEYS_FILE [PATH]
--
-- KEYS_FILE: one routing key a line (bench/gen-configs.py writes keys.txt). PATH: default "/".
-- Each wrk thread starts at a different offset of the rotation.

local requests = {}
local next_index = 1
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_offset", thread_counter)
end

function init(args)
  local keys_file = args[1]
  local path = args[2] or "/"
  if keys_file == nil then
    error("rotate-keys.lua: pass the keys file after --, e.g. wrk ... URL -- keys.txt")
  end
  local f = assert(io.open(keys_file, "r"))
  for line in f:lines() do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("GET", path, { ["X-Routing-Key"] = line })
    end
  end
  f:close()
  if #requests == 0 then
    error("rotate-keys.lua: no keys in " .. keys_file)
  end
  next_index = ((thread_offset or 1) - 1) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end
