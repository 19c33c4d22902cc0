-- GET a random preloaded key.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  return c.get(c.random_key())
end
