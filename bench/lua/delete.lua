-- DELETE a preloaded key of the delete key space d000000000000000..; each key is deleted once,
-- in a scattered order: request i (counted over all threads) takes index (offset + i) * P mod N,
-- with P a prime larger than N, so no index repeats until N requests have been issued.
-- bench/run.sh sizes N from the server's rates so a run should not run out; if it does, the run
-- ends there (wrk is sent SIGINT, as in load.lua) and is reported over the time it ran, so no
-- request ever deletes a key that is already gone.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")
local ffi = require("ffi")

ffi.cdef([[
int getpid(void);
int tgkill(int tgid, int tid, int sig);
]])

local count = tonumber(os.getenv("BENCH_DEL_COUNT") or "0")
local offset = tonumber(os.getenv("BENCH_DEL_OFFSET") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local P = 15485863 -- the millionth prime; (offset + i) * P stays far below 2^53
assert(count > 0 and count < P, "BENCH_DEL_COUNT must be set, below " .. P)
assert(nthreads == 1, "delete.lua runs with -t1")

ran_out = 0

function request()
  local i = offset + issued
  issued = issued + 1
  if i >= count then
    if ran_out == 0 then
      ran_out = 1
      wrk.thread:stop()
      local pid = ffi.C.getpid()
      ffi.C.tgkill(pid, pid, 2)
    end
    return c.health()
  end
  return c.delete(c.key("d", (i * P) % count))
end
