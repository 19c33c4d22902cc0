-- Overwrite a random preloaded key with a 100-byte value.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  return c.put(c.random_key())
end
