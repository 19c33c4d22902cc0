-- GET a key that was never written: a cache miss. kv_store and the reference answer 404
-- (key_not_found); webdis answers 200 {"GET":null}.
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  return c.get(c.key("z", math.random(0, c.nkeys - 1)))
end
