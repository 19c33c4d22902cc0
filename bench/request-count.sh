#!/usr/bin/env bash
# Instructions per HTTP request, kv_store builds or settings side by side, counted by callgrind.
# The server runs under valgrind; 10,000 keys are POSTed and WARMUP requests of the load sent
# (the code is compiled and optimized by then). Then the counters are zeroed twice: for
# IDLE_S seconds of nothing (what the process's timers run per second), and for N requests
# sent by bench/request-client.mjs over 50 keep-alive connections. The instructions of the N
# requests, less the idle rate times their duration, over N, are what a request costs in the
# server's own code: user space only (the kernel's socket reads and writes are not counted),
# and the same however busy the machine is, unlike req/s, so a change of a few percent shows.
#
#   bash bench/request-count.sh "get put" LABEL:MAIN_JS[:VAR=VALUE...] LABEL:MAIN_JS[:VAR=VALUE...] ...
#   bash bench/request-count.sh get old:../old/src/kv_store/dist/kv_store.js now:src/kv_store/dist/kv_store.js
# REQ_WARMUP (5000), REQ_N (5000) and REQ_IDLE_S (10) set the counts and the idle time; with
# REQ_JSON=<file>, each result is also appended to it as a JSON line ({"load", "label",
# "irPerRequest", "requests"}). kv_store runs with its launchers' node flags (and --single-threaded,
# so that V8's helper threads do not blur the count); NODE_FLAGS=<flag>[,<flag>...] among a
# variant's variables replaces the launchers' flags, as in bench/ab.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
loads=$1
shift
WARMUP=${REQ_WARMUP:-5000} N=${REQ_N:-5000} IDLE_S=${REQ_IDLE_S:-10}
port=${REQ_PORT:-19700}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
count() { # MAIN_JS ENVS LOAD PORT -> instructions per request
  local main=$1 envs=$2 load=$3 port=$4 pid dump
  variant_env "$envs"
  env "${VARIANT_VARS[@]}" KV_PORT=$port KV_LOG_LEVEL=warn valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$port" \
    node --single-threaded "${VARIANT_FLAGS[@]}" "$main" 2>/dev/null >/dev/null &
  pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  node bench/request-client.mjs "$port" load 10000
  node bench/request-client.mjs "$port" "$load" "$WARMUP"
  # What the process runs while idle (its timers: sweeps, maintenance, connection checks), per
  # second: under valgrind N requests take a minute or more, and a busier machine makes that
  # longer, so the timers' share is measured and taken out.
  callgrind_control --zero "$pid" >/dev/null 2>&1
  t0=$(date +%s%N)
  sleep "$IDLE_S"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  t1=$(date +%s%N)
  callgrind_control --zero "$pid" >/dev/null 2>&1
  t2=$(date +%s%N)
  REQ_FIRST=$WARMUP node bench/request-client.mjs "$port" "$load" "$N"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  t3=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" || true
  local idle busy
  idle=$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg.$port.1")
  busy=$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg.$port.2")
  awk -v idle="$idle" -v busy="$busy" -v ti=$((t1 - t0)) -v tb=$((t3 - t2)) -v n="$N" \
    'BEGIN { print int((busy - idle / ti * tb) / n) }'
}
printf '%-6s %-12s %12s\n' load build "Ir/request"
for load in $loads; do
  for spec in "$@"; do
    IFS=: read -r label main envs <<<"$spec"
    ir=$(count "$main" "${envs:-}" "$load" $((port += 1)))
    [ -n "$ir" ] || { echo "request-count: no count for $label $load" >&2; exit 1; }
    printf '%-6s %-12s %12s\n' "$load" "$label" "$ir"
    if [ -n "${REQ_JSON:-}" ]; then
      echo "{\"load\":\"$load\",\"label\":\"$label\",\"irPerRequest\":$ir,\"requests\":$N}" >>"$REQ_JSON"
    fi
  done
done
