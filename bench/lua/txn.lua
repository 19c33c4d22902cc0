-- One atomic write of BENCH_TXN_OPS random preloaded keys (default 2), each set to the 100-byte value.
--   kv flavour:     POST /txn {"ops":[{"op":"set","key":k1,"value":v}, ...]} (one revision for all)
--   webdis flavour: EVAL of a Lua script that SETs every key it is given, through webdis: Redis runs a
--                   script atomically, as MULTI/EXEC would, and webdis can express it in one request
--                   (MULTI and EXEC are separate commands, which webdis cannot hold on one connection).
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

local nops = tonumber(os.getenv("BENCH_TXN_OPS") or "2")
local json_headers = { ["Content-Type"] = "application/json" }

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", string.byte(ch)) end))
end

local script = urlencode("for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end return #KEYS")
local value_arg = urlencode(c.value)

function request()
  issued = issued + 1
  if c.flavor == "webdis" then
    local keys = {}
    for i = 1, nops do keys[i] = c.random_key() end
    return wrk.format("GET", "/EVAL/" .. script .. "/" .. nops .. "/" .. table.concat(keys, "/") .. "/" .. value_arg)
  end
  local ops = {}
  for i = 1, nops do
    ops[i] = '{"op":"set","key":"' .. c.random_key() .. '","value":' .. c.value .. "}"
  end
  return wrk.format("POST", "/txn", json_headers, '{"ops":[' .. table.concat(ops, ",") .. "]}")
end

