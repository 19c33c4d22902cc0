#!/usr/bin/env bash
# bench/rss-ab.sh: RSS at a million keys of kv_store builds or settings, interleaved.
#
#   bash bench/rss-ab.sh ROUNDS LABEL:MAIN_JS[:VAR=VALUE ...] LABEL:MAIN_JS[:VAR=VALUE ...] ...
#   bash bench/rss-ab.sh 2 old:../old/src/kv_store/dist/main.js now:src/kv_store/dist/kv_store.js \
#     nowarm:src/kv_store/dist/kv_store.js:KV_WARM_UP_MS=0
#
# Each round starts every variant in turn, pinned to CPU 1 with kv_store's node flags (as its
# launchers pass them; NODE_FLAGS=... in a variant replaces them, as in bench/ab.sh) and
# bench/heap-probe.cjs preloaded; waits for /readyz (or /healthz, for a build from before
# /readyz); POSTs 10,000 keys and then MEM_KEYS (1,000,000) more with bench/lua/load.lua (16-byte
# keys, 100-byte values, as the bench's memory phase), then has the probe run two full
# collections and prints one line: label, VmRSS, V8's heap (total and used), and the
# ArrayBuffers (the record slabs and the indexes), in MiB.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
rounds=$1
shift
MEM_KEYS=${MEM_KEYS:-1000000}
port=${AB_PORT_BASE:-19500}
work=$(mktemp -d)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export BENCH_LUA_DIR=$PWD/bench/lua

load() { # URL PREFIX COUNT: POSTs COUNT new keys; fails unless each was created
  LOAD_PREFIX=$2 LOAD_START=0 LOAD_COUNT=$3 taskset -c 0 wrk -t1 -c20 -d900s -s bench/lua/load.lua "$1" >"$work/load.txt" 2>&1
  grep -q "\"load_ok\":$3,\"load_failed\":0" "$work/load.txt" || { echo "loading $3 keys into $1 failed:" >&2; cat "$work/load.txt" >&2; exit 1; }
}

for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS=: read -r label main envs <<<"$spec"
    port=$((port + 1))
    variant_env "${envs:-}"
    out=$work/$label.jsonl cmd=$work/$label.cmd
    rm -f "$out"
    env -u NODE_OPTIONS "${VARIANT_VARS[@]}" KV_PORT=$port KV_LOG_LEVEL=warn NODE_OPTIONS="--require $PWD/bench/heap-probe.cjs" \
      KV_PROBE_OUT="$out" KV_PROBE_CMD="$cmd" taskset -c 1 node "${VARIANT_FLAGS[@]}" "$main" >"$work/kv.log" 2>&1 &
    pid=$!
    url=http://127.0.0.1:$port
    for _ in $(seq 600); do
      curl -sf -o /dev/null "$url/readyz" && break
      # A build from before /readyz: it is ready once it answers /healthz.
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 404 ] && curl -sf -o /dev/null "$url/healthz" && break
      sleep 0.1
    done
    load "$url" k 10000
    load "$url" m "$MEM_KEYS"
    node bench/memory.mjs probe "$pid" "$cmd" "$out" gc loaded >/dev/null || { echo "$label: the heap probe did not answer" >&2; exit 1; }
    kill "$pid"
    wait "$pid" 2>/dev/null
    pid=
    node -e 'const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
      const m = (x) => (x / 1048576).toFixed(1);
      console.log(`${process.argv[2]}: RSS ${m(l.rssBytes)} MiB, heap ${m(l.afterGc.heapTotal)} / ${m(l.afterGc.heapUsed)} MiB (total / used), ArrayBuffers ${m(l.afterGc.arrayBuffers)} MiB`)' \
      "$out" "$label"
  done
done
