-- Create a new, never used key per request: n<tag><thread><13-digit counter> (16 bytes).
package.path = (os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/?.lua;" .. package.path
local c = require("common")

function request()
  issued = issued + 1
  return c.post(string.format("n%s%d%013d", c.tag, thread_index % 10, issued))
end
