#!/usr/bin/env bash
# bench/pipeline-ab.sh: kv_store builds side by side, each request alone on its connection and
# pipelined, GET and PUT: the server's CPU time per request (bench/pipeline-cost.mjs).
#
#   bash bench/pipeline-ab.sh ROUNDS LABEL:MAIN_JS LABEL:MAIN_JS ...
#   bash bench/pipeline-ab.sh 3 old:/path/to/old/src/kv_store/dist/main.js now:src/kv_store/dist/kv_store.js
#
# Each round starts every build in turn, pinned to CPU 1 with kv_store's node flags, POSTs
# 10,000 keys (bench/lua/load.lua), warms up, then on CPU 0: GET and PUT one request at a time on
# each of 50 connections (2,000 each), then 64 requests a write on 4 connections (400 writes
# each). One line per cell. docs/performance.md ("A request alone") says what the two tell apart.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
export BENCH_LUA_DIR=$PWD/bench/lua BENCH_KEYS=10000
rounds=$1
shift
port=${AB_PORT_BASE:-19700}
for round in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS=: read -r label main <<<"$spec"
    port=$((port + 1))
    KV_PORT=$port KV_LOG_LEVEL=warn taskset -c 1 node "${KV_NODE_FLAGS[@]}" "$main" &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    LOAD_PREFIX=k LOAD_START=0 LOAD_COUNT=10000 taskset -c 0 wrk -t1 -c50 -d600s -s bench/lua/load.lua "http://127.0.0.1:$port" >/dev/null 2>&1
    taskset -c 0 node bench/pipeline-cost.mjs "$port" "$pid" get --rounds 1000 >/dev/null
    for load in get put; do
      echo "$label round $round: $(taskset -c 0 node bench/pipeline-cost.mjs "$port" "$pid" "$load" --depth 1 --conns 50 --rounds 2000)"
      echo "$label round $round: $(taskset -c 0 node bench/pipeline-cost.mjs "$port" "$pid" "$load" --depth 64 --conns 4 --rounds 400)"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null
  done
done
