-- GET one page of 100 keys (keys and their numbers, no values) from a random preloaded key on:
-- the first page of a listing, the cost of which is compared with a single GET.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  return wrk.format("GET", "/v1/?limit=100&start=" .. c.random_key())
end
