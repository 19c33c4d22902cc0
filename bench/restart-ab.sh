#!/usr/bin/env bash
# bench/restart-ab.sh: an interleaved A/B of kv_store builds restarting on the same data directory.
#
#   bash bench/restart-ab.sh ROUNDS DATA_DIR LABEL:MAIN_JS[:VAR=VALUE,...] ...
#   bash bench/restart-ab.sh 3 /tmp/kv-1m old:../old/src/kv_store/dist/kv_store.js now:src/kv_store/dist/kv_store.js
#   bash bench/restart-ab.sh 3 /tmp/kv-1m plain:src/kv_store/dist/kv_store.js:GLIBC_TUNABLES= thp:src/kv_store/dist/kv_store.js:GLIBC_TUNABLES=glibc.malloc.hugetlb=1
#
# Give each side its bundle, dist/kv_store.js, as make start and bench/run.sh run it: the
# unbundled dist/main.js loads its modules one by one, and a restart time counts that: here its
# recovery of a million keys began about 380 ms after the process started, the bundle's about 250.
#
# The variables after a second colon are set for that start only; DIR=<path> among them gives
# that side a data directory of its own instead of DATA_DIR (two formats of the same data:
#   bash bench/restart-ab.sh 3 /tmp/kv-entries entries:src/kv_store/dist/kv_store.js records:src/kv_store/dist/kv_store.js:DIR=/tmp/kv-records).
# Each start runs on a fresh copy of DATA_DIR (its LOCK removed: the directory is taken as a
# kill -9 left it), on CPUs $RESTART_CPUS (0,1: both; its recovery faults memory in on the second,
# slab-prefaulter.ts; RESTART_CPUS=1 for one core) with kv_store's node flags, and is timed from the process
# start to its first answer (GET /healthz, answered once recovery is done and it listens; waited
# for by bench/first-answer.mjs on CPU 0, which disturbs the start less than a curl loop). One
# line per start: label, that time, and what kv_store logged about its recovery (its own time,
# entries from the snapshot, commits replayed from the log).
#
# A data directory of a million keys as the durability bench leaves one (a snapshot, then the
# log after it), made with a build of this repository:
#   KV_PORT=19090 KV_DATA_DIR=/tmp/kv-1m KV_FSYNC=no node src/kv_store/dist/kv_store.js &
#   BENCH_LUA_DIR=$PWD/bench/lua LOAD_PREFIX=m LOAD_COUNT=1000000 wrk -t1 -c50 -d900s -s bench/lua/load.lua http://127.0.0.1:19090
#   kill -9 %1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
rounds=$1 data=$2
shift 2
port=${RESTART_PORT:-19090}
cpus=${RESTART_CPUS:-0,1}
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS=: read -r label main vars <<<"$spec"
    IFS=, read -r -a given <<<"${vars:-}"
    dir=$data extra=()
    for v in "${given[@]}"; do
      if [[ $v == DIR=* ]]; then dir=${v#DIR=}; else extra+=("$v"); fi
    done
    rm -rf "$copy/data" && cp -r "$dir" "$copy/data" && rm -f "$copy/data/LOCK"
    sync
    t0=$(date +%s%N)
    env "${extra[@]}" KV_PORT=$port KV_DATA_DIR="$copy/data" KV_FSYNC=no KV_LOG_LEVEL=info taskset -c "$cpus" node "${KV_NODE_FLAGS[@]}" "$main" >"$copy/log" 2>&1 &
    pid=$!
    taskset -c 0 node bench/first-answer.mjs http "$port" /healthz "$pid" || {
      echo "restart-ab: $label exited or did not answer; see its log:" >&2
      cat "$copy/log" >&2
      kill -KILL "$pid" 2>/dev/null
      exit 1
    }
    t1=$(date +%s%N)
    recovery=$(node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) { try { const j = JSON.parse(l); if (j.msg === "recovered the store from the data directory") console.log(`recovery ${j.ms} ms, snapshot entries ${j.snapshotEntries}, log commits ${j.logCommits}`); } catch {} }' "$copy/log")
    printf '%-8s first answer %6d ms; %s\n' "$label" $(((t1 - t0) / 1000000)) "$recovery"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
