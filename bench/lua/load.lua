-- Loader, not a benchmark: POSTs keys <LOAD_PREFIX><15 digits> for indexes LOAD_START ..
-- LOAD_START+LOAD_COUNT-1, counts 201s and failures, and ends wrk once every POST has been
-- answered (requests issued after the last POST are health checks). Run it with -t1 and a -d
-- long enough to be a time limit: wrk's main thread sleeps for -d whatever the threads do, so
-- the script ends the run by sending wrk SIGINT, which cuts that sleep short.
-- With LOAD_EXPIRE_AT_MS (epoch ms), each key gets the ttl that makes it expire at that instant.
-- With BENCH_FLAVOR=webdis, keys are SET through webdis (PUT /SET/<key>, 200 counts as created).
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")
local ffi = require("ffi")

ffi.cdef([[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
int getpid(void);
int tgkill(int tgid, int tid, int sig);
]])
local tv = ffi.new("bench_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local prefix = os.getenv("LOAD_PREFIX") or "k"
local first = tonumber(os.getenv("LOAD_START") or "0")
local total = tonumber(os.getenv("LOAD_COUNT") or "0")
local expire_at = tonumber(os.getenv("LOAD_EXPIRE_AT_MS") or "")

load_ok = 0
load_failed = 0
local next_i = 0
-- wrk calls request() once on thread 0 before the run, to check the script, and discards it.
local checked = false

function request()
  issued = issued + 1
  if not checked then
    checked = true
    return c.health()
  end
  if next_i >= total then
    return c.health()
  end
  local key = c.key(prefix, first + next_i)
  next_i = next_i + 1
  if expire_at ~= nil then
    local ttl = (expire_at - now_ms()) / 1000
    if ttl < 0.001 then ttl = 0.001 end
    return c.post_ttl(key, string.format("%.3f", ttl))
  end
  return c.post(key)
end

function response(status, headers, body)
  -- kv_store creates with 201; webdis answers a SET with 200 (its PINGs, the health checks, are not counted then).
  if status == 201 or (c.flavor == "webdis" and status == 200 and next_i <= total and load_ok + load_failed < next_i) then
    load_ok = load_ok + 1
  elseif status ~= 200 then
    load_failed = load_failed + 1
  end
  if load_ok + load_failed >= total then
    wrk.thread:stop()
    -- SIGINT to the main thread (its tid is the pid): wrk stops waiting and reports.
    local pid = ffi.C.getpid()
    ffi.C.tgkill(pid, pid, 2)
  end
end
