#!/usr/bin/env bash
# bench/watch-redis.sh: the watch phase's question asked of redis-server. How much of its SET
# throughput does it keep while it writes a message every 50 ms to each of 1,000 subscribers
# (bench/redis-subscribers.mjs), as kv_store writes a probe's change to each of 1,000 watchers in
# bench/run.sh's watch phase? Same layout: redis-server on CPU 1; the load (redis-benchmark SET,
# 50 connections, 100-byte values over 10,000 keys) and the subscribers on CPU 0. Three rounds,
# each a run without subscribers and then one with them, in one redis-server process.
#
#   bash bench/watch-redis.sh        (settings: SUBSCRIBERS=1000 INTERVAL_MS=50 REQUESTS=400000 PORT=18099)
set -euo pipefail
cd "$(dirname "$0")/.."
SUBSCRIBERS=${SUBSCRIBERS:-1000} INTERVAL_MS=${INTERVAL_MS:-50} REQUESTS=${REQUESTS:-400000} PORT=${PORT:-18099}
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 1; }
tmp=$(mktemp -d)
taskset -c 1 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --maxclients 4096 --dir "$tmp" >"$tmp/redis.log" 2>&1 &
redis=$!
trap 'kill $redis 2>/dev/null; wait $redis 2>/dev/null; rm -rf "$tmp"' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
# sets: SET/s of one redis-benchmark run, and the share of a core redis-server used meanwhile.
ticks() { awk '{print $14 + $15}' "/proc/$redis/stat"; }
sets() {
  local t0 n0 rate
  t0=$(ticks) n0=$(date +%s%N)
  rate=$(taskset -c 0 redis-benchmark -p "$PORT" -t set -c 50 -n "$REQUESTS" -r 10000 -d 100 --csv | awk -F'"' '/^"SET"/{print $4}')
  echo "$rate $(( ($(ticks) - t0) * 10000000 * 100 / ($(date +%s%N) - n0) ))"
}
sets >/dev/null # warm-up
echo "| round | SET/s, no subscribers | with $SUBSCRIBERS subscribers | kept | redis-server's core, none / with | subscribers' counts |"
echo "| ---: | ---: | ---: | ---: | --- | --- |"
for round in 1 2 3; do
  read -r none none_cpu < <(sets)
  rm -f "$tmp/ready"
  taskset -c 0 node bench/redis-subscribers.mjs "$PORT" "$SUBSCRIBERS" 600 "$INTERVAL_MS" "$tmp/ready" >"$tmp/subs.json" &
  subs=$!
  until [ -f "$tmp/ready" ]; do sleep 0.1; done
  read -r many many_cpu < <(sets)
  kill -TERM "$subs"
  wait "$subs"
  printf '| %s | %.0f | %.0f | %.0f%% | %s%% / %s%% | `%s` |\n' "$round" "$none" "$many" "$(echo "100 * $many / $none" | bc -l)" "$none_cpu" "$many_cpu" "$(cat "$tmp/subs.json")"
done
