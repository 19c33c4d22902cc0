#!/usr/bin/env bash
# bench/ab.sh: an interleaved A/B (or A/B/C) of kv_store builds or settings, GET, PUT or any load of bench/lua.
#
#   bash bench/ab.sh LOADS ROUNDS LABEL:MAIN_JS[:VAR=VALUE ...] LABEL:MAIN_JS[:VAR=VALUE ...] ...
#   bash bench/ab.sh get 3 old:/path/to/old/src/kv_store/dist/kv_store.js now:src/kv_store/dist/kv_store.js
#   AB_KEYS=1000000 bash bench/ab.sh "list get" 3 old:... now:...   # a 100-key page and a GET at 1M keys
#   bash bench/ab.sh get 3 on:src/kv_store/dist/kv_store.js:KV_METRICS=on off:src/kv_store/dist/kv_store.js:KV_METRICS=off
#   bash bench/ab.sh put 3 now:src/kv_store/dist/kv_store.js semi2:src/kv_store/dist/kv_store.js:NODE_FLAGS=--max-semi-space-size=2
# The launchers run the bundle, dist/kv_store.js; dist/main.js (the unbundled tsc output) starts
# about 130 ms later, which matters for no throughput row but does for anything timing a start.
# NODE_FLAGS=<flag>[,<flag>...] is not put in the environment: its flags go on node's command
# line in place of kv_store's own (V8 flags such as these are refused in NODE_OPTIONS).
#
# Each round starts every variant in turn, pinned to CPU 1 with kv_store's node flags (as its launchers pass them): AB_KEYS
# (10,000) keys POSTed (bench/lua/load.lua), then for each of LOADS (one or more, in one process)
# 2 s of warm-up and 5 s of wrk -t1 -c50 on CPU 0 with bench/lua/LOAD.lua; one line per run and
# load: label, load, req/s, p99, the longest request (wrk's max) and the server's CPU time per request. To build an older commit beside this one: git worktree add --detach ../old <commit> && (cd ../old && npm ci && npm run build).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
KEYS=${AB_KEYS:-10000}
export BENCH_LUA_DIR=$PWD/bench/lua BENCH_KEYS=$KEYS
loads=$1 rounds=$2
shift 2
port=${AB_PORT_BASE:-19300}
HZ=$(getconf CLK_TCK)
# The server's user + system CPU time so far, in clock ticks: CPU time per request is steadier
# than req/s on a machine whose cores are shared (time descheduled does not count).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS=: read -r label main envs <<<"$spec"
    port=$((port + 1))
    variant_env "${envs:-}"
    env "${VARIANT_VARS[@]}" KV_PORT=$port KV_LOG_LEVEL=warn taskset -c 1 node "${VARIANT_FLAGS[@]}" "$main" &
    pid=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.1; done
    LOAD_PREFIX=k LOAD_START=0 LOAD_COUNT=$KEYS taskset -c 0 wrk -t1 -c50 -d600s -s bench/lua/load.lua "http://127.0.0.1:$port" >/dev/null 2>&1
    for load in $loads; do
      taskset -c 0 wrk -t1 -c50 -d2s -s "bench/lua/$load.lua" "http://127.0.0.1:$port" >/dev/null 2>&1
      cpu0=$(cpu_ticks "$pid")
      out=$(taskset -c 0 wrk -t1 -c50 -d5s --latency -s "bench/lua/$load.lua" "http://127.0.0.1:$port" 2>&1)
      cpu1=$(cpu_ticks "$pid")
      requests=$(awk '/requests in/ { print $1 }' <<<"$out")
      us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$HZ" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
      echo "$label $load $(awk '/Requests\/sec/ { print $2 }' <<<"$out") req/s, p99 $(awk '/ 99%/ { print $2 }' <<<"$out"), max $(awk '/^ +Latency/ { print $4 }' <<<"$out"), server CPU $us µs/request"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null
  done
done
