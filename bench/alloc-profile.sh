#!/usr/bin/env bash
# Bytes allocated per request, by the function that allocated them: kv_store runs with
# bench/alloc-sample.cjs preloaded (sampling 5 s of a wrk load, 8 to 13 s after start), then the
# samples are summed by function and divided by the requests answered in those 5 s (kv_store's
# kv_http_requests_total for /v1/{key}, read at both ends; metrics must be on).
#
#   bash bench/alloc-profile.sh MAIN_JS get|put [TOP]
# kv_store on CPU 1 with its launchers' node flags, 10,000 keys POSTed (bench/lua/load.lua), then
# wrk -t1 -c50 on CPU 0 for 14 s with bench/lua/<load>.lua. Prints bytes a request in total and
# for the TOP (25) functions that allocate most.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
main=$1 load=$2 top=${3:-25}
port=${ALLOC_PORT:-19640}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export BENCH_LUA_DIR=$PWD/bench/lua BENCH_KEYS=10000
ALLOC_OUT=$out/alloc.heapprofile KV_WARM_UP_MS=0 KV_PORT=$port KV_LOG_LEVEL=warn \
  taskset -c 1 node -r ./bench/alloc-sample.cjs "${KV_NODE_FLAGS[@]}" "$main" &
pid=$!
started=$(date +%s.%N)
# The requests answered in the sampled window, from kv_store's own counter at its two ends.
answered() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^kv_http_requests_total\{.*route="\/v1\/\{key\}"/ { n += $2 } END { print n + 0 }'; }
at() { sleep "$(echo "$started + $1 - $(date +%s.%N)" | bc)"; }
(at "${ALLOC_FROM_S:-8}"; answered >"$out/from"; at "${ALLOC_TO_S:-13}"; answered >"$out/to") &
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
LOAD_PREFIX=k LOAD_START=0 LOAD_COUNT=10000 taskset -c 0 wrk -t1 -c50 -d60s -s bench/lua/load.lua "http://127.0.0.1:$port" >/dev/null 2>&1
sleep 1
taskset -c 0 wrk -t1 -c50 -d14s -s "bench/lua/$load.lua" "http://127.0.0.1:$port" >"$out/wrk.txt" 2>&1
kill -TERM "$pid"
wait "$pid" || true
wait
rps=$(awk '/Requests\/sec/ { print $2 }' "$out/wrk.txt")
requests=$(($(cat "$out/to") - $(cat "$out/from")))
node -e '
const [file, requestsText, rps, top] = process.argv.slice(1);
const profile = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
const requests = Number(requestsText);
const byFunction = new Map();
let total = 0;
(function walk(node) {
  const f = node.callFrame;
  const name = `${f.functionName || "(anonymous)"} ${f.url.replace(/.*\/(dist|node_modules)\//, "")}:${f.lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
  total += node.selfSize;
  for (const child of node.children) walk(child);
})(profile.head);
console.log(`${(total / requests).toFixed(0)} bytes a request (${requests} requests sampled; ${rps} req/s over the whole run)`);
for (const [name, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${(bytes / requests).toFixed(0).padStart(7)}  ${name}`);
}' "$out/alloc.heapprofile" "$requests" "$rps" "$top"
