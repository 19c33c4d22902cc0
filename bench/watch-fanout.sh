#!/usr/bin/env bash
# bench/watch-fanout.sh: kv_store's CPU per delivered watch event, with no other load.
#
#   bash bench/watch-fanout.sh [DIST] [PROBE_MS] [ROUNDS]
#
# kv_store (DIST, default src/kv_store/dist) on CPU 1; bench/watch-load.mjs on CPU 0 with 1,000 SSE
# watchers of w/ and a probe PUT of a w/ key every PROBE_MS (20) ms, so every probe is one event
# on each of the 1,000 sockets. Over 8 s in the middle of each round, the server's user and
# system CPU time (/proc/<pid>/stat) divided by the events delivered. Compare with
# bench/socket-fanout-floor.mjs, the same writes from a bare node:net server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIST=${1:-src/kv_store/dist} PROBE=${2:-20} ROUNDS=${3:-3} PORT=${BENCH_PORT:-19280}
HZ=$(getconf CLK_TCK)
ready=$(mktemp -u)
for round in $(seq "$ROUNDS"); do
  env KV_PORT=$PORT KV_LOG_LEVEL=warn KV_WARM_UP_MS=0 taskset -c 1 node --max-semi-space-size=2 --initial-old-space-size=64 "$DIST/main.js" &
  kv=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
  rm -f "$ready"
  taskset -c 0 node bench/watch-load.mjs "http://127.0.0.1:$PORT" 1000 14 w/ "$PROBE" "$ready" >/dev/null 2>&1 &
  wl=$!
  for _ in $(seq 600); do [ -f "$ready" ] && break; sleep 0.1; done
  sleep 2
  read -r u0 s0 < <(sed 's/.*) //' "/proc/$kv/stat" | awk '{ print $12, $13 }')
  sleep 8
  read -r u1 s1 < <(sed 's/.*) //' "/proc/$kv/stat" | awk '{ print $12, $13 }')
  wait "$wl" || true
  kill "$kv"
  wait "$kv" 2>/dev/null || true
  events=$((8000 / PROBE * 1000))
  awk -v r="$round" -v e="$events" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" 'BEGIN {
    printf "round %d: %d events in 8 s; kv_store CPU per event: user %.2f us, system %.2f us, total %.2f us\n", r, e, u / hz * 1e6 / e, s / hz * 1e6 / e, (u + s) / hz * 1e6 / e }'
done
rm -f "$ready"
