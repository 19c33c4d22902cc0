-- 90% GET, 10% PUT (overwrite), each on a random preloaded key.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  if math.random(10) == 1 then
    return c.put(c.random_key())
  end
  return c.get(c.random_key())
end
