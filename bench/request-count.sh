#!/usr/bin/env bash
# Instructions per HTTP request, kv_store builds or settings side by side, counted by callgrind:
# the server runs under valgrind; 10,000 keys are POSTed and WARMUP requests of the load are
# sent (the code is compiled and optimized by then), the counters are zeroed, N more requests
# are sent by bench/request-client.mjs over 50 keep-alive connections, and the instructions
# counted since, over N, are what a request costs in the server's own code (user space: the
# kernel's share, the socket reads and writes, is not counted). Repeatable whatever the
# machine's load, unlike req/s, so it shows a change of a few percent that a busy machine's
# wrk run cannot.
#
#   bash bench/request-count.sh "get put" LABEL:MAIN_JS[:VAR=VALUE...] LABEL:MAIN_JS[:VAR=VALUE...] ...
#   bash bench/request-count.sh get old:../old/src/kv_store/dist/main.js now:src/kv_store/dist/main.js
# REQ_WARMUP (5000) and REQ_N (5000) set the two counts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
loads=$1
shift
WARMUP=${REQ_WARMUP:-5000} N=${REQ_N:-5000}
port=${REQ_PORT:-19700}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
count() { # MAIN_JS ENVS LOAD PORT -> instructions per request
  local main=$1 envs=$2 load=$3 port=$4 pid dump
  # shellcheck disable=SC2086
  env $envs KV_PORT=$port KV_LOG_LEVEL=warn valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$port" \
    node --single-threaded "$main" 2>/dev/null >/dev/null &
  pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  node bench/request-client.mjs "$port" load 10000
  node bench/request-client.mjs "$port" "$load" "$WARMUP"
  callgrind_control --zero "$pid" >/dev/null 2>&1
  node bench/request-client.mjs "$port" "$load" "$N"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  kill -TERM "$pid"
  wait "$pid" || true
  dump=$(ls "$dir"/cg."$port".* | head -1)
  awk -v n="$N" '/^(summary|totals):/ { print int($2 / n); exit }' "$dump"
}
printf '%-6s %-12s %12s\n' load build "Ir/request"
for load in $loads; do
  for spec in "$@"; do
    IFS=: read -r label main envs <<<"$spec"
    printf '%-6s %-12s %12s\n' "$load" "$label" "$(count "$main" "${envs:-}" "$load" $((port += 1)))"
  done
done
