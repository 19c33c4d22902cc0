-- Shared by every wrk script in bench/lua: the key space, the value, request builders for the
-- two API flavours, and a done() that prints one machine-readable result line.
--
-- Environment (read by every wrk thread):
--   BENCH_FLAVOR  kv (kv_store and the reference server: /v1/ JSON API) | webdis (/GET/, /SET/, /DEL/)
--   BENCH_KEYS    size of the preloaded key space k000000000000000.. (default 10000)
--   BENCH_PREFIX  one-character prefix of the key space read by get/put/mix (default k)
--   BENCH_TAG     one character making this run's POST keys unique within a server process
--   BENCH_DEL_COUNT, BENCH_DEL_OFFSET  the preloaded delete key space and where this run starts in it
--   BENCH_TARGET, BENCH_LOAD, BENCH_START, BENCH_PHASE  labels copied into the result line
local M = {}

M.flavor = os.getenv("BENCH_FLAVOR") or "kv"
M.nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
M.prefix = os.getenv("BENCH_PREFIX") or "k"
M.tag = os.getenv("BENCH_TAG") or "a"

-- The value: a JSON string whose JSON text is exactly 100 bytes. kv_store stores that text as is;
-- webdis/redis store the same 100 bytes, so every server holds the same bytes per key.
M.value = '"' .. string.rep("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 2):sub(1, 98) .. '"'
assert(#M.value == 100)

local json_headers = { ["Content-Type"] = "application/json" }

-- A 16-byte key: a one-character prefix and 15 digits.
function M.key(prefix, i)
  return string.format("%s%015d", prefix, i)
end

function M.random_key()
  return M.key(M.prefix, math.random(0, M.nkeys - 1))
end

function M.get(key)
  if M.flavor == "webdis" then
    return wrk.format("GET", "/GET/" .. key)
  end
  return wrk.format("GET", "/v1/" .. key)
end

-- Overwrite an existing key.
function M.put(key)
  if M.flavor == "webdis" then
    -- webdis "file upload": PUT /SET/<key> takes the body as the last argument.
    return wrk.format("PUT", "/SET/" .. key, nil, M.value)
  end
  return wrk.format("PUT", "/v1/" .. key, json_headers, '{"value":' .. M.value .. "}")
end

-- Create a new key.
function M.post(key)
  if M.flavor == "webdis" then
    return wrk.format("PUT", "/SET/" .. key, nil, M.value)
  end
  return wrk.format("POST", "/v1/", json_headers, '{"key":"' .. key .. '","value":' .. M.value .. "}")
end

-- Create a new key that expires after ttl seconds (kv flavour only).
function M.post_ttl(key, ttl)
  return wrk.format("POST", "/v1/", json_headers,
    '{"key":"' .. key .. '","value":' .. M.value .. ',"ttl":' .. ttl .. "}")
end

function M.delete(key)
  if M.flavor == "webdis" then
    -- webdis answers 405 to the DELETE method; DEL is a GET of /DEL/<key>.
    return wrk.format("GET", "/DEL/" .. key)
  end
  return wrk.format("DELETE", "/v1/" .. key)
end

function M.health()
  if M.flavor == "webdis" then
    return wrk.format("GET", "/PING")
  end
  return wrk.format("GET", "/healthz")
end

-- Per-thread state: `issued` counts requests this thread generated (read back in done()).
issued = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local seed = tonumber(os.getenv("BENCH_SEED") or "") or os.time()
  math.randomseed(seed * 7919 + (thread_index or 0) * 104729)
  -- The first values of a fresh LuaJIT generator are poorly mixed; skip a few.
  for _ = 1, 16 do math.random() end
end

local function env_label(name)
  local v = os.getenv(name)
  if v == nil then return "null" end
  return string.format("%q", v)
end

-- One line: BENCH_JSON {...}; latencies in microseconds.
function done(summary, latency, requests)
  local total_issued, max_issued, ok, failed = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    local n = t:get("issued") or 0
    total_issued = total_issued + n
    if n > max_issued then max_issued = n end
    ok = ok + (t:get("load_ok") or 0)
    failed = failed + (t:get("load_failed") or 0)
  end
  local e = summary.errors
  local parts = {
    string.format('"target":%s,"load":%s,"start":%s,"phase":%s,"flavor":%q',
      env_label("BENCH_TARGET"), env_label("BENCH_LOAD"), env_label("BENCH_START"), env_label("BENCH_PHASE"), M.flavor),
    string.format('"requests":%d,"issued":%d,"issued_max":%d,"threads":%d,"duration_us":%d,"bytes":%d',
      summary.requests, total_issued, max_issued, #threads, summary.duration, summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}', e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}',
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)),
    string.format('"load_ok":%d,"load_failed":%d', ok, failed),
  }
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end

return M
