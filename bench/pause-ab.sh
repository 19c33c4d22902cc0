#!/usr/bin/env bash
# bench/pause-ab.sh WINDOW [ROOT...]: an interleaved A/B of one window of the pauses phase,
# kv_store only, each run on a fresh process. For each round and each ROOT (a checkout with a
# build; default: this one), in turn, start that checkout's kv_store on CPU 1 (wrk and the probe
# on CPU 0), then:
#   expiry: POST KEYS keys that all expire at one instant, then run bench/pause-probe.mjs (a GET
#           every 2 ms on its own connection) from 1 s before the instant for 6 s;
#   growth: run the probe while KEYS keys are POSTed, from the process's first request on. With
#           WARM_KEYS, first POST that many other keys and GET them for WARM_GET_S seconds (a
#           warm-up from outside), then wait a second.
# and print the probe's numbers on one line. What bench/pauses.sh does in these windows, without
# redis.
#
# Settings: ROUNDS (2), KEYS (1,000,000), PORT (19610), WARM_KEYS (none), WARM_GET_S (1),
# NODE_EXTRA (more node flags for kv_store, e.g. "--trace-gc"), LOG_TO (copy kv_store's output
# there after each run, and the probe's results, with each slow request's time, beside it); kv_store's own settings (KV_WARM_UP_MS, ...) pass through the environment.
#   bash bench/pause-ab.sh expiry /path/to/old-checkout .
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
window=${1:-}
case $window in expiry | growth) shift ;; *)
  echo "usage: bash bench/pause-ab.sh expiry|growth [ROOT...]" >&2
  exit 2
  ;;
esac
roots=("$@")
[ ${#roots[@]} -gt 0 ] || roots=("$here")
ROUNDS=${ROUNDS:-2}
KEYS=${KEYS:-1000000}
PORT=${PORT:-19610}
WARM_KEYS=${WARM_KEYS:-}
NODE_EXTRA=${NODE_EXTRA:-}
LOG_TO=${LOG_TO:-}
WARM_GET_S=${WARM_GET_S:-1}
LUA=$here/bench/lua
work=$(mktemp -d)
kv=
cleanup() {
  [ -z "$kv" ] || kill "$kv" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

run() {
  local root=$1 url=http://127.0.0.1:$PORT
  # shellcheck disable=SC2086 # NODE_EXTRA is a list of flags
  KV_PORT=$PORT KV_LOG_LEVEL=warn taskset -c 1 node --max-semi-space-size=2 --initial-old-space-size=64 $NODE_EXTRA \
    "$root/src/kv_store/dist/main.js" >"$work/kv.log" 2>&1 &
  kv=$!
  # Ready: recovered, and warmed up (KV_WARM_UP_MS) in a build that does.
  for _ in $(seq 600); do curl -sf -o /dev/null "$url/readyz" && break; sleep 0.1; done
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"key":"p000000000000000","value":1}' "$url/v1/"
  local late= probe
  rm -f "$work/stop"
  if [ "$window" = growth ]; then
    if [ -n "$WARM_KEYS" ]; then
      env BENCH_LUA_DIR="$LUA" LOAD_PREFIX=w LOAD_START=0 LOAD_COUNT="$WARM_KEYS" \
        taskset -c 0 wrk -t1 -c50 -d300s -s "$LUA/load.lua" "$url" >"$work/warm.txt" 2>&1
      env BENCH_LUA_DIR="$LUA" BENCH_PREFIX=w BENCH_KEYS="$WARM_KEYS" \
        taskset -c 0 wrk -t1 -c50 -d"${WARM_GET_S}s" -s "$LUA/get.lua" "$url" >>"$work/warm.txt" 2>&1
      sleep 1
    fi
    taskset -c 0 node "$here/bench/pause-probe.mjs" kv "127.0.0.1:$PORT" p000000000000000 "$work/probe.json" 2 "$work/stop" 2>"$work/probe.err" &
    probe=$!
    env BENCH_LUA_DIR="$LUA" LOAD_PREFIX=g LOAD_START=0 LOAD_COUNT="$KEYS" \
      taskset -c 0 wrk -t1 -c50 -d300s -s "$LUA/load.lua" "$url" >"$work/load.txt" 2>&1
  else
    # Time for the load at 25,000 keys/s or more, plus 5 s.
    local expire_at=$(($(now_ms) + KEYS * 2000 / 25000 + 5000))
    env BENCH_LUA_DIR="$LUA" LOAD_PREFIX=x LOAD_START=0 LOAD_COUNT="$KEYS" LOAD_EXPIRE_AT_MS="$expire_at" \
      taskset -c 0 wrk -t1 -c50 -d300s -s "$LUA/load.lua" "$url" >"$work/load.txt" 2>&1
    [ "$(now_ms)" -lt $((expire_at - 1000)) ] || late=' (the load ended less than 1 s before the instant)'
    while [ "$(now_ms)" -lt $((expire_at - 1000)) ]; do sleep 0.05; done
    taskset -c 0 node "$here/bench/pause-probe.mjs" kv "127.0.0.1:$PORT" p000000000000000 "$work/probe.json" 2 "$work/stop" 2>"$work/probe.err" &
    probe=$!
    sleep 6
  fi
  touch "$work/stop"
  wait "$probe"
  local gone
  gone=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/x000000000000000")
  [ "$window" = expiry ] || gone=
  kill "$kv"
  wait "$kv" 2>/dev/null || true
  kv=
  [ -z "$LOG_TO" ] || { cp "$work/kv.log" "$LOG_TO" && cp "$work/probe.json" "$LOG_TO.probe.json"; }
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const first = j.over10.filter((s) => s.atMs < 1000).length;
    console.log(`p99 ${j.p99} ms, p99.9 ${j.p999} ms, max ${j.max} ms, ${j.over5ms} over 5 ms, ${j.over10ms} over 10 ms (${first} in the first second; ${j.count} probes)`)' \
    "$work/probe.json" | sed "s|^|$1: |; s|\$|${gone:+; first expired key: $gone}$late|"
}

for round in $(seq "$ROUNDS"); do
  for root in "${roots[@]}"; do run "$root"; done
done
