#!/usr/bin/env bash
# Instructions per HTTP request, two or more kv_store builds side by side, counted by callgrind:
# the server runs under valgrind with N1, then N2 requests sent by bench/request-client.mjs
# over 50 keep-alive connections (10,000 keys preloaded); the difference over N2 - N1 is what
# one more request costs in the server's own code (user space: the kernel's share, the
# socket reads and writes, is not counted). Repeatable whatever the machine's load, unlike
# req/s, so it shows a change of a few percent that a busy machine's wrk run cannot.
#
#   bash bench/request-count.sh "get put" LABEL:MAIN_JS[:VAR=VALUE...] LABEL:MAIN_JS[:VAR=VALUE...] ...
#   bash bench/request-count.sh get old:../old/src/kv_store/dist/main.js now:src/kv_store/dist/main.js
# REQ_N1 (2000) and REQ_N2 (6000) set the two counts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
loads=$1
shift
N1=${REQ_N1:-2000} N2=${REQ_N2:-6000}
port=${REQ_PORT:-19700}
count() { # MAIN_JS ENVS LOAD N PORT -> instructions
  local main=$1 envs=$2 load=$3 n=$4 port=$5 out pid
  out=$(mktemp)
  # shellcheck disable=SC2086
  env $envs KV_PORT=$port KV_LOG_LEVEL=warn valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    node --single-threaded "$main" 2>"$out" >/dev/null &
  pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  node bench/request-client.mjs "$port" load 10000
  node bench/request-client.mjs "$port" "$load" "$n"
  kill -TERM "$pid"
  wait "$pid" || true
  grep -o 'refs: *[0-9,]*' "$out" | tr -d ', ' | cut -d: -f2
  rm -f "$out"
}
printf '%-6s %-10s %14s\n' load build "Ir/request"
for load in $loads; do
  for spec in "$@"; do
    IFS=: read -r label main envs <<<"$spec"
    a=$(count "$main" "${envs:-}" "$load" "$N1" $((port += 1)))
    b=$(count "$main" "${envs:-}" "$load" "$N2" $((port += 1)))
    awk -v l="$load" -v b="$label" -v a1="$a" -v a2="$b" -v n=$((N2 - N1)) 'BEGIN { printf "%-6s %-10s %14.0f\n", l, b, (a2 - a1) / n }'
  done
done
