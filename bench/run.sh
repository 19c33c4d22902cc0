#!/usr/bin/env bash
# bench/run.sh: kv_store's benchmark (docs/performance.md says what it measures and how to read it).
#
#   bash bench/run.sh                 full run (about 15 minutes)
#   BENCH_QUICK=1 bash bench/run.sh   smoke test (about 3.5 minutes): 2 s runs, 1 start, 100k keys
#
# Servers (kv_store as built, with its default configuration; the bare node:http + Map reference
# in bench/reference-server.mjs; webdis in front of redis-server; the ceiling, a Node.js process
# that only writes canned answers, bench/ceiling-server.mjs) run on CPU $BENCH_SERVER_CPU (1),
# the load generator (wrk -t1 -c50) on CPU $BENCH_CLIENT_CPU (0). Everything listens on
# 127.0.0.1 only. Results go to bench/results/<UTC time>/ (gitignored); the report is printed on
# stdout and written to report.md there; progress goes to stderr.
#
# Settings (environment): BENCH_QUICK, BENCH_DURATION (s), BENCH_WARMUP (s), BENCH_STARTS (kv_store
# process starts), BENCH_KEYS (10000), BENCH_MEM_KEYS (1000000; 100000 quick), BENCH_CONNECTIONS (50),
# BENCH_TARGETS ("kv ref webdis ceiling"), BENCH_LOADS ("get put mix post delete"), BENCH_PHASES
# ("throughput metrics memory expiry profile watch durability txn pauses"; add "layouts" for bench/entry-layouts.mjs), BENCH_SKIP_BUILD=1,
# BENCH_PAUSE_KEYS, BENCH_PAUSE_EXPIRY_KEYS, BENCH_PAUSE_TARGETS (the pauses phase: bench/pauses.sh),
# BENCH_WATCHERS (1000 SSE watchers in the watch phase), BENCH_PROBE_MS (50: a probe write every 50 ms),
# BENCH_ETCD (1: list-all through etcd's JSON gateway when etcd is installed; 0 to leave it out),
# BENCH_DUR_KEYS (keys for the restart-time rows of the durability phase; BENCH_MEM_KEYS by default),
# BENCH_OUT (results folder), BENCH_PORT_BASE (18080: kv_store, +1 reference, +2 webdis, +3 redis-server, +4/+5 etcd, +6 ceiling),
# BENCH_WEBDIS_THREADS (1), BENCH_SERVER_CPU (1), BENCH_CLIENT_CPU (0), BENCH_RESTART_CPUS (both: the restart rows' servers),
# BENCH_RESTARTS (restarts of each kind in the restart rows; BENCH_STARTS by default).
# BENCH_NODE_FLAGS (node flags after kv_store's own, for an A/B of one, e.g. "--initial-old-space-size=128": a later flag wins).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DURATION=${BENCH_DURATION:-2} WARMUP=${BENCH_WARMUP:-1} STARTS=${BENCH_STARTS:-1} MEM_KEYS=${BENCH_MEM_KEYS:-100000}
  EXPIRY_LEAD=0.5
else
  DURATION=${BENCH_DURATION:-10} WARMUP=${BENCH_WARMUP:-3} STARTS=${BENCH_STARTS:-3} MEM_KEYS=${BENCH_MEM_KEYS:-1000000}
  EXPIRY_LEAD=2
fi
KEYS=${BENCH_KEYS:-10000}
CONNS=${BENCH_CONNECTIONS:-50}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
RESTART_CPUS=${BENCH_RESTART_CPUS:-$SERVER_CPU,$CLIENT_CPU}
# Restarts of each kind in the restart rows (kv_store after a kill -9 and after a clean stop;
# redis-server from its AOF and from its RDB-preamble AOF): STARTS, so 3 (1 when quick).
RESTARTS=${BENCH_RESTARTS:-$STARTS}
TARGETS=${BENCH_TARGETS:-kv ref webdis ceiling}
LOADS=${BENCH_LOADS:-get put mix post delete}
PHASES=${BENCH_PHASES:-throughput metrics memory expiry profile watch durability txn pauses}
WATCHERS=${BENCH_WATCHERS:-1000}
PROBE_MS=${BENCH_PROBE_MS:-50}
ETCD=${BENCH_ETCD:-1}
DUR_KEYS=${BENCH_DUR_KEYS:-$MEM_KEYS}
PORT_BASE=${BENCH_PORT_BASE:-18080}
KV_PORT=$PORT_BASE REF_PORT=$((PORT_BASE + 1)) WEBDIS_PORT=$((PORT_BASE + 2)) REDIS_PORT=$((PORT_BASE + 3))
ETCD_PORT=$((PORT_BASE + 4)) ETCD_PEER_PORT=$((PORT_BASE + 5)) CEILING_PORT=$((PORT_BASE + 6))
WEBDIS_THREADS=${BENCH_WEBDIS_THREADS:-1}
WRK_TIMEOUT=5s
OUT=${BENCH_OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"/{raw,logs,memory,expiry,profile,listwatch,durability,pauses}
OUT=$(cd "$OUT" && pwd)
LUA=$ROOT/bench/lua
KV_MAIN=$ROOT/src/kv_store/dist/kv_store.js
# shellcheck source=bench/node-flags.sh
source "$ROOT/bench/node-flags.sh"
# BENCH_NODE_FLAGS adds flags after them, for an A/B of a flag (space-separated; a later flag wins).
# shellcheck disable=SC2206
KV_NODE_FLAGS+=(${BENCH_NODE_FLAGS:-})
PROBE=$ROOT/bench/heap-probe.cjs

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
has() { [[ " $2 " == *" $1 "* ]]; }

# --- processes we start (and only those) are stopped on exit, by pid -------------------------
STARTED=()
alive() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $s != Z* ]]
}
# kill_redis_hard PID: SIGKILLs redis-server and any child it forked. After loading a large AOF,
# redis-server begins a rewrite in a child of its own (`redis-aof-rewrite`), and a SIGKILL of the
# parent leaves the child running: it took most of a core (89% in `ps`) during the kv_store start
# that came next, and only that start. Stopped first, so it forks nothing meanwhile.
kill_redis_hard() {
  local pid=$1 child children i state
  kill -STOP "$pid" 2>/dev/null || true
  children=$(pgrep -P "$pid" || true)
  for child in $children; do kill -KILL "$child" 2>/dev/null || true; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for child in $children; do
    # Until it is gone, or a zombie (which holds no core and no memory).
    for i in $(seq 100); do
      state=$(awk '{ print $3 }' "/proc/$child/stat" 2>/dev/null || true)
      [ -z "$state" ] || [ "$state" = Z ] && break
      sleep 0.02
    done
  done
}
stop_pid() {
  local pid=$1 i
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 150); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "pid $pid did not stop in 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local kept=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  STARTED=("${kept[@]}")
}
cleanup() {
  local p
  for p in "${STARTED[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_http URL PID NAME: returns once URL (http://127.0.0.1:PORT/PATH) answers 200. The waiting
# is one process on the client's CPU (bench/first-answer.mjs), not a curl loop: starting
# processes a hundred times a second slowed a starting server on the other CPU by about 30%.
wait_http() {
  [[ $1 =~ ^http://127\.0\.0\.1:([0-9]+)(/.*)$ ]] || die "wait_http: $1 is not http://127.0.0.1:PORT/PATH"
  taskset -c "$CLIENT_CPU" node "$ROOT/bench/first-answer.mjs" http "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$2" && return 0
  alive "$2" && die "$3 did not answer $1 within 120 s"
  die "$3 exited during start-up; see its log in $OUT/logs"
}


# start_kv LABEL [probe] [node flags...]: sets KV_PID. With "probe", bench/heap-probe.cjs is
# preloaded and answers SIGUSR2 (writes to $PROBE_OUT); throughput runs start kv_store bare.
# KV_ENV (an array of VAR=VALUE) is added to kv_store's otherwise default environment.
# start_kv returns once kv_store answers KV_WAIT_PATH: readyz (recovered and warmed up, as a load
# balancer would wait) unless a row times the first answer of any kind (healthz).
KV_ENV=()
KV_WAIT_PATH=readyz
start_kv() {
  local label=$1
  shift
  local extra_env=()
  if [ "${1:-}" = probe ]; then
    shift
    PROBE_OUT=$OUT/memory/probe-$label.jsonl
    PROBE_CMD=$OUT/memory/probe-$label.cmd
    extra_env=(NODE_OPTIONS="--require $PROBE" KV_PROBE_OUT="$PROBE_OUT" KV_PROBE_CMD="$PROBE_CMD")
  fi
  port_free "$KV_PORT" || die "port $KV_PORT is in use (set BENCH_PORT_BASE)"
  # A clean environment: kv_store's default configuration, except the port it listens on.
  local v unset_args=()
  for v in $(compgen -e); do [[ $v == KV_* || $v == NODE_OPTIONS ]] && unset_args+=(-u "$v"); done
  env "${unset_args[@]}" KV_PORT="$KV_PORT" "${KV_ENV[@]}" "${extra_env[@]}" \
    taskset -c "${KV_CPUS:-$SERVER_CPU}" node "${KV_NODE_FLAGS[@]}" "$@" "$KV_MAIN" >"$OUT/logs/kv-$label.log" 2>&1 &
  KV_PID=$!
  STARTED+=("$KV_PID")
  wait_http "http://127.0.0.1:$KV_PORT/$KV_WAIT_PATH" "$KV_PID" "kv_store ($label)"
}

# start_node_server SCRIPT PORT_VAR LOG NAME: bench/SCRIPT, pinned like the servers, listening on
# the port in $PORT_VAR (passed to it under that name); sets NODE_SERVER_PID.
start_node_server() {
  local script=$1 port_var=$2 log=$3 name=$4
  local port=${!port_var}
  port_free "$port" || die "port $port is in use (set BENCH_PORT_BASE)"
  env "$port_var=$port" taskset -c "$SERVER_CPU" node "$ROOT/bench/$script" >"$OUT/logs/$log.log" 2>&1 &
  NODE_SERVER_PID=$!
  STARTED+=("$NODE_SERVER_PID")
  wait_http "http://127.0.0.1:$port/healthz" "$NODE_SERVER_PID" "$name"
}

start_redis() { # LABEL [APPENDFSYNC]; redis-server pinned like the servers: persistence off, or the AOF with that appendfsync
  port_free "$REDIS_PORT" || die "port $REDIS_PORT is in use (set BENCH_PORT_BASE)"
  mkdir -p "$OUT/redis-$1"
  local aof=(--appendonly no)
  [ -z "${2:-}" ] || aof=(--appendonly yes --appendfsync "$2")
  taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' "${aof[@]}" \
    --daemonize no --dir "$OUT/redis-$1" >"$OUT/logs/redis-$1.log" 2>&1 &
  REDIS_PID=$!
  STARTED+=("$REDIS_PID")
  local i
  # Up to 60 s: with an AOF to load, redis-server answers LOADING until it is done.
  for i in $(seq 600); do
    [ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && return 0
    alive "$REDIS_PID" || die "redis-server exited; see $OUT/logs/redis-$1.log"
    sleep 0.1
  done
  die "redis-server did not answer within 60 s"
}

start_webdis() { # LABEL; webdis in front of the running redis-server
  port_free "$WEBDIS_PORT" || die "port $WEBDIS_PORT is in use (set BENCH_PORT_BASE)"
  cat >"$OUT/webdis-$1.json" <<EOF
{
  "redis_host": "127.0.0.1", "redis_port": $REDIS_PORT, "redis_auth": null,
  "http_host": "127.0.0.1", "http_port": $WEBDIS_PORT, "threads": $WEBDIS_THREADS,
  "daemonize": false, "database": 0,
  "acl": [{ "disabled": ["DEBUG"] }],
  "verbosity": 0, "logfile": "$OUT/logs/webdis-$1.log"
}
EOF
  taskset -c "$SERVER_CPU" webdis "$OUT/webdis-$1.json" >"$OUT/logs/webdis-$1.out" 2>&1 &
  WEBDIS_PID=$!
  STARTED+=("$WEBDIS_PID")
  wait_http "http://127.0.0.1:$WEBDIS_PORT/PING" "$WEBDIS_PID" "webdis"
}

start_etcd() { # LABEL; etcd (one member, its own data dir under the results), pinned like the servers
  port_free "$ETCD_PORT" || die "port $ETCD_PORT is in use (set BENCH_PORT_BASE)"
  mkdir -p "$OUT/etcd-$1"
  taskset -c "$SERVER_CPU" etcd --data-dir "$OUT/etcd-$1" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
    >"$OUT/logs/etcd-$1.log" 2>&1 &
  ETCD_PID=$!
  STARTED+=("$ETCD_PID")
  wait_http "http://127.0.0.1:$ETCD_PORT/health" "$ETCD_PID" "etcd"
}

# --- CPU accounting: how busy the server core was, and how much of that was ours -------------
CLK_TCK=$(getconf CLK_TCK)
core_ticks() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat; }
proc_ticks() {
  local pid t=0 s
  for pid in "$@"; do
    s=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || s=0
    t=$((t + ${s:-0}))
  done
  echo "$t"
}

# wrk_run NAME SCRIPT URL SECONDS [VAR=VALUE...]: one wrk run, pinned to the client CPU; its
# output in raw/NAME.txt, its result line in raw/NAME.json, with the CPU use over the run of
# both cores, of the servers (SERVER_PIDS) and of wrk added.
wrk_run() {
  local name=$1 script=$2 url=$3 secs=$4
  shift 4
  local c0 p0 c1 p1 w0 w1
  read -r -a c0 < <(core_ticks "$SERVER_CPU")
  read -r -a w0 < <(core_ticks "$CLIENT_CPU")
  p0=$(proc_ticks "${SERVER_PIDS[@]}")
  local TIMEFORMAT='%U %S'
  { time env BENCH_LUA_DIR="$LUA" BENCH_THREADS=1 BENCH_KEYS="$KEYS" "$@" \
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" --timeout "$WRK_TIMEOUT" -s "$LUA/$script.lua" "$url" \
    >"$OUT/raw/$name.txt" 2>&1 || die "wrk failed; see $OUT/raw/$name.txt"; } 2>"$OUT/raw/$name.time"
  read -r -a c1 < <(core_ticks "$SERVER_CPU")
  read -r -a w1 < <(core_ticks "$CLIENT_CPU")
  p1=$(proc_ticks "${SERVER_PIDS[@]}")
  grep '^BENCH_JSON ' "$OUT/raw/$name.txt" | sed 's/^BENCH_JSON //' >"$OUT/raw/$name.json" || true
  [ -s "$OUT/raw/$name.json" ] || die "wrk printed no result; see $OUT/raw/$name.txt"
  local total=$((c1[0] - c0[0])) idle=$((c1[1] - c0[1])) ours=$((p1 - p0)) wrk_s
  local ctotal=$((w1[0] - w0[0])) cidle=$((w1[1] - w0[1]))
  wrk_s=$(awk '{ print $1 + $2 }' "$OUT/raw/$name.time")
  node "$ROOT/bench/report.mjs" annotate "$OUT/raw/$name.json" \
    "{\"cpu\":{\"clkTck\":$CLK_TCK,\"coreTicks\":$total,\"coreIdleTicks\":$idle,\"serverTicks\":$ours,\"wrkCpuS\":$wrk_s,\"clientCoreTicks\":$ctotal,\"clientCoreIdleTicks\":$cidle}}"
}

# The number in a result file at a path, e.g. field raw/x.json requests
field() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));let v=j;for(const k of process.argv[2].split("."))v=v?.[k];console.log(v)' "$1" "$2"; }
rps() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(Math.round(j.requests/j.duration_us*1e6))' "$1"; }

# http_load NAME URL PREFIX COUNT [VAR=VALUE...]: POSTs COUNT keys through wrk (bench/lua/load.lua).
http_load() {
  local name=$1 url=$2 prefix=$3 count=$4
  shift 4
  wrk_run "$name" load "$url" 900 LOAD_PREFIX="$prefix" LOAD_COUNT="$count" BENCH_PHASE=load "$@"
  local ok failed
  ok=$(field "$OUT/raw/$name.json" load_ok)
  failed=$(field "$OUT/raw/$name.json" load_failed)
  [ "$ok" = "$count" ] && [ "$failed" = 0 ] || die "loading $count keys into $url: $ok created, $failed failed (see $OUT/raw/$name.txt)"
}

# redis_load PREFIX COUNT: SET COUNT keys through redis-cli --pipe.
redis_load() {
  local out
  out=$(node "$ROOT/bench/preload.mjs" resp "$1" 0 "$2" | taskset -c "$CLIENT_CPU" redis-cli -p "$REDIS_PORT" --pipe 2>&1) ||
    die "redis-cli --pipe failed: $out"
  [[ $out == *"errors: 0, replies: $2"* ]] || die "redis-cli --pipe: $out"
}

# preload FLAVOR URL PREFIX COUNT LABEL [VAR=VALUE...] (the variables go to bench/lua/load.lua)
preload() {
  local flavor=$1 url=$2 prefix=$3 count=$4 label=$5
  shift 5
  if [ "$flavor" = webdis ]; then
    redis_load "$prefix" "$count"
  else
    http_load "load-$label-$prefix" "$url" "$prefix" "$count" "$@"
  fi
  node "$ROOT/bench/preload.mjs" check "$flavor" "$url" "$prefix" "$count" 2>>"$OUT/logs/checks.log" ||
    die "preloaded keys do not read back; see $OUT/logs/checks.log"
}

# measure NAME SCRIPT URL [VAR=VALUE...]: a warm-up run (discarded), then the measured run.
measure() {
  local name=$1 script=$2 url=$3
  shift 3
  wrk_run "$name-warmup" "$script" "$url" "$WARMUP" BENCH_PHASE=warmup "$@"
  wrk_run "$name" "$script" "$url" "$DURATION" BENCH_PHASE=measure "$@"
}

# throughput_session TARGET FLAVOR URL START: the preload, then every load, on one server process.
throughput_session() {
  local target=$1 flavor=$2 url=$3 start=$4 load max_rps=20000
  local labels=(BENCH_TARGET="$target" BENCH_START="$start" BENCH_FLAVOR="$flavor")
  # The ceiling stores nothing: it has nothing to preload or to read back.
  [ "$target" = ceiling ] || preload "$flavor" "$url" k "$KEYS" "tp-$target-s$start"
  for load in $LOADS; do
    local name="tp-$target-s$start-$load"
    log "  $target (start $start): $load"
    case $load in
      post)
        wrk_run "$name-warmup" post "$url" "$WARMUP" "${labels[@]}" BENCH_LOAD=post BENCH_PHASE=warmup BENCH_TAG=w
        wrk_run "$name" post "$url" "$DURATION" "${labels[@]}" BENCH_LOAD=post BENCH_PHASE=measure BENCH_TAG=m
        ;;
      delete)
        # Keys for 1.2 x the fastest rate seen so far over warm-up and run; should the run still
        # use them all up, it ends there (see bench/lua/delete.lua) and the report says so.
        local count offset
        count=$((max_rps * (WARMUP + DURATION) * 6 / 5))
        [ "$count" -ge 50000 ] || count=50000
        [ "$count" -le 1500000 ] || count=1500000
        if [ "$target" != ceiling ]; then
          log "    preloading $count keys to delete"
          preload "$flavor" "$url" d "$count" "tp-$target-s$start"
        fi
        wrk_run "$name-warmup" delete "$url" "$WARMUP" "${labels[@]}" BENCH_LOAD=delete BENCH_PHASE=warmup \
          BENCH_DEL_COUNT="$count" BENCH_DEL_OFFSET=0
        offset=$(field "$OUT/raw/$name-warmup.json" issued)
        wrk_run "$name" delete "$url" "$DURATION" "${labels[@]}" BENCH_LOAD=delete BENCH_PHASE=measure \
          BENCH_DEL_COUNT="$count" BENCH_DEL_OFFSET="$offset"
        node "$ROOT/bench/report.mjs" annotate "$OUT/raw/$name.json" "{\"deleteKeys\":$count,\"deleteOffset\":$offset}"
        ;;
      *)
        measure "$name" "$load" "$url" "${labels[@]}" BENCH_LOAD="$load"
        ;;
    esac
    local r
    r=$(rps "$OUT/raw/$name.json")
    [ "$r" -le "$max_rps" ] || max_rps=$r
  done
}

# --- setup ---------------------------------------------------------------------------------------
ensure_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v taskset >/dev/null || missing+=(util-linux)
  command -v pgrep >/dev/null || missing+=(procps)
  if has webdis "$TARGETS" || has memory "$PHASES" || has pauses "$PHASES"; then
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
  fi
  { has webdis "$TARGETS" || has pauses "$PHASES"; } && ! command -v webdis >/dev/null && missing+=(webdis)
  if has memory "$PHASES" && [ "$ETCD" = 1 ]; then command -v etcd >/dev/null || missing+=(etcd-server); fi
  if has metrics "$PHASES"; then command -v valgrind >/dev/null || missing+=(valgrind); fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing ${missing[*]} with apt-get"
      apt-get update -qq >&2 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2 ||
        log "apt-get could not install everything; going on with what there is"
    else
      log "missing: ${missing[*]} (install them, e.g. apt-get install -y ${missing[*]})"
    fi
  fi
  command -v wrk >/dev/null || die "wrk is required (apt-get install -y wrk)"
  command -v curl >/dev/null || die "curl is required"
  command -v taskset >/dev/null || die "taskset is required (util-linux)"
  if has webdis "$TARGETS" && ! command -v webdis >/dev/null; then
    log "webdis is not available: leaving it out (the report says so)"
    TARGETS=${TARGETS//webdis/}
    echo "webdis could not be installed" >"$OUT/webdis-missing.txt"
  fi
  if ! command -v redis-server >/dev/null; then
    log "redis-server is not available: leaving out its memory figures"
    echo "redis-server could not be installed" >"$OUT/redis-missing.txt"
  fi
}

ensure_tools
[ "$(nproc)" -ge 2 ] || log "warning: $(nproc) CPU(s); the server and the load generator will share one"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building kv_store (npm run build -w src/kv_store: tsc, then the one-file bundle)"
  npm run -s build -w src/kv_store >&2 || die "kv_store does not build"
fi
[ -f "$KV_MAIN" ] || die "$KV_MAIN is missing; build kv_store first (npm run build -w src/kv_store)"

cat >"$OUT/env.json" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "quick": $([ "$QUICK" = 1 ] && echo true || echo false),
  "command": "$([ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1 ')bash bench/run.sh",
  "nproc": $(nproc),
  "cpuModel": "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')",
  "memTotalKb": $(awk '/MemTotal/ { print $2 }' /proc/meminfo),
  "kernel": "$(uname -r)",
  "os": "$(. /etc/os-release && echo "$PRETTY_NAME")",
  "node": "$(node --version)",
  "wrk": "$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo unknown)",
  "redis": "$(redis-server --version 2>/dev/null | sed 's/.*v=\([^ ]*\).*/\1/' || echo none)",
  "webdis": "$(dpkg-query -W -f='${Version}' webdis 2>/dev/null || echo none)",
  "webdisThreads": $WEBDIS_THREADS,
  "gitCommit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "kvStoreSourceChanged": $(git status --porcelain -- src/kv_store/src 2>/dev/null | grep -q . && echo true || echo false),
  "loadAvgStart": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "settings": { "threads": 1, "connections": $CONNS, "durationS": $DURATION, "warmupS": $WARMUP, "starts": $STARTS,
    "keys": $KEYS, "memKeys": $MEM_KEYS, "keyBytes": 16, "valueBytes": 100, "serverCpu": $SERVER_CPU, "clientCpu": $CLIENT_CPU,
    "wrkTimeout": "$WRK_TIMEOUT", "targets": "$TARGETS", "loads": "$LOADS", "phases": "$PHASES",
    "watchers": $WATCHERS, "probeMs": $PROBE_MS }
}
EOF
log "results in $OUT"

# --- throughput: one table, every server, every load ---------------------------------------------
if has throughput "$PHASES"; then
  for target in $TARGETS; do
    case $target in
      kv)
        for start in $(seq "$STARTS"); do
          log "throughput: kv_store, process start $start of $STARTS"
          start_kv "tp-s$start"
          SERVER_PIDS=("$KV_PID")
          throughput_session kv kv "http://127.0.0.1:$KV_PORT" "$start"
          stop_pid "$KV_PID"
        done
        ;;
      ref)
        log "throughput: reference server (node:http + Map)"
        start_node_server reference-server.mjs REF_PORT ref-tp "reference server"
        SERVER_PIDS=("$NODE_SERVER_PID")
        throughput_session ref kv "http://127.0.0.1:$REF_PORT" 1
        stop_pid "$NODE_SERVER_PID"
        ;;
      webdis)
        log "throughput: webdis + redis-server"
        start_redis tp
        start_webdis tp
        SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
        throughput_session webdis webdis "http://127.0.0.1:$WEBDIS_PORT" 1
        stop_pid "$WEBDIS_PID"
        stop_pid "$REDIS_PID"
        ;;
      ceiling)
        log "throughput: the ceiling (a Node.js process writing canned answers)"
        start_node_server ceiling-server.mjs CEILING_PORT ceiling-tp "ceiling server"
        SERVER_PIDS=("$NODE_SERVER_PID")
        throughput_session ceiling kv "http://127.0.0.1:$CEILING_PORT" 1
        stop_pid "$NODE_SERVER_PID"
        ;;
      *) die "unknown target $target" ;;
    esac
  done
fi

# --- metrics A/B: what /metrics costs on the request path ---------------------------------------
# kv_store with KV_METRICS=on (the default: every answer counted) and off, GET and PUT, STARTS
# process starts of each, interleaved (on/off, then off/on...) so that a busy machine's drift
# falls on both. Results: raw/ab-metrics-<on|off>-s<start>-<load>.json.
if has metrics "$PHASES"; then
  for start in $(seq "$STARTS"); do
    order="on off"
    [ $((start % 2)) = 1 ] || order="off on"
    for variant in $order; do
      log "metrics A/B: KV_METRICS=$variant, process start $start of $STARTS"
      KV_ENV=(KV_METRICS="$variant")
      start_kv "ab-metrics-$variant-s$start"
      KV_ENV=()
      SERVER_PIDS=("$KV_PID")
      url="http://127.0.0.1:$KV_PORT"
      code=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics")
      [ "$code" = "$([ "$variant" = on ] && echo 200 || echo 404)" ] || die "GET /metrics answered $code with KV_METRICS=$variant"
      preload kv "$url" k "$KEYS" "ab-metrics-$variant-s$start"
      for load in get put; do
        measure "ab-metrics-$variant-s$start-$load" "$load" "$url" BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_START="$start" BENCH_LOAD="$load"
      done
      stop_pid "$KV_PID"
    done
  done
  # The same A/B counted in instructions (callgrind): repeatable where req/s moves by more than
  # the difference. bench/request-count.sh, on and off, GET and PUT.
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    log "metrics A/B: instructions per request under callgrind, KV_METRICS=on and off (about 5 minutes)"
    REQ_PORT=$((KV_PORT + 100)) REQ_JSON="$OUT/raw/ab-metrics-instructions.jsonl" bash "$ROOT/bench/request-count.sh" "get put" \
      "on:$KV_MAIN:KV_METRICS=on" "off:$KV_MAIN:KV_METRICS=off" >&2 ||
      die "bench/request-count.sh failed"
  else
    log "valgrind is not installed: the metrics A/B has no instruction counts (apt-get install -y valgrind)"
  fi
fi

# --- memory and scale: MEM_KEYS keys in kv_store and in redis-server; GET at 10k and at MEM_KEYS --
probe() { # CMD LABEL OUTFILE
  node "$ROOT/bench/memory.mjs" probe "$KV_PID" "$PROBE_CMD" "$PROBE_OUT" "$1" "$2" >"$3" || die "heap probe failed"
}
if has memory "$PHASES"; then
  log "memory: kv_store with $MEM_KEYS keys"
  start_kv mem probe
  SERVER_PIDS=("$KV_PID")
  url="http://127.0.0.1:$KV_PORT"
  labels=(BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_START=1)
  probe gc empty "$OUT/memory/kv-empty.json"
  preload kv "$url" k "$KEYS" mem
  log "  GET with $KEYS keys"
  measure scale-kv-small get "$url" "${labels[@]}" BENCH_LOAD=get
  probe gc small "$OUT/memory/kv-small.json"
  log "  loading $MEM_KEYS keys over HTTP"
  preload kv "$url" m "$MEM_KEYS" mem
  probe gc loaded "$OUT/memory/kv-loaded.json"
  # GET and the 100-key page in turn, three rounds: each page run is compared with the GET run
  # just before it, so that a slow or fast stretch of the machine falls on both sides of a ratio
  # (one pair of runs gave 1.70x to 5.22x in five runs of this phase); the report takes the median.
  for round in 1 2 3; do
    suffix=""
    [ "$round" = 1 ] || suffix="-r$round"
    log "  GET with $KEYS + $MEM_KEYS keys (round $round of 3)"
    measure "scale-kv-large$suffix" get "$url" "${labels[@]}" BENCH_LOAD=get BENCH_PREFIX=m BENCH_KEYS="$MEM_KEYS"
    log "  a 100-key page (GET /v1/?limit=100&start=<random key>) with $KEYS + $MEM_KEYS keys (round $round of 3)"
    measure "scale-kv-large-list$suffix" list "$url" "${labels[@]}" BENCH_LOAD=list BENCH_PREFIX=m BENCH_KEYS="$MEM_KEYS"
  done
  log "  list every key, 1000 a page"
  taskset -c "$CLIENT_CPU" node "$ROOT/bench/list-all.mjs" kv "$url" >"$OUT/listwatch/list-all-kv.json" || die "list-all (kv_store) failed"
  stop_pid "$KV_PID"

  if command -v redis-server >/dev/null; then
    log "memory: redis-server with $MEM_KEYS keys"
    start_redis mem
    node "$ROOT/bench/memory.mjs" redis "$REDIS_PORT" "$REDIS_PID" empty >"$OUT/memory/redis-empty.json"
    redis_load k "$KEYS"
    node "$ROOT/bench/memory.mjs" redis "$REDIS_PORT" "$REDIS_PID" small >"$OUT/memory/redis-small.json"
    redis_load m "$MEM_KEYS"
    node "$ROOT/bench/memory.mjs" redis "$REDIS_PORT" "$REDIS_PID" loaded >"$OUT/memory/redis-loaded.json"
    log "  redis-server: SCAN every key, COUNT 1000"
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/list-all.mjs" redis "$REDIS_PORT" >"$OUT/listwatch/list-all-redis.json" || die "list-all (redis) failed"
    if has webdis "$TARGETS"; then
      start_webdis mem
      SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
      labels=(BENCH_TARGET=webdis BENCH_FLAVOR=webdis BENCH_START=1)
      log "  webdis GET with $KEYS + $MEM_KEYS keys"
      measure scale-webdis-large get "http://127.0.0.1:$WEBDIS_PORT" "${labels[@]}" BENCH_LOAD=get BENCH_PREFIX=m BENCH_KEYS="$MEM_KEYS"
      stop_pid "$WEBDIS_PID"
    fi
    stop_pid "$REDIS_PID"
  fi

  if [ "$ETCD" = 1 ] && command -v etcd >/dev/null; then
    log "memory: etcd with $KEYS + $MEM_KEYS keys, for list-all through its JSON gateway"
    start_etcd mem
    etcd_url="http://127.0.0.1:$ETCD_PORT"
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/list-all.mjs" etcd-load "$etcd_url" k "$KEYS" >/dev/null || die "loading etcd failed"
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/list-all.mjs" etcd-load "$etcd_url" m "$MEM_KEYS" >/dev/null || die "loading etcd failed"
    log "  etcd: range over every key, 1000 a page, keys only, at one revision"
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/list-all.mjs" etcd "$etcd_url" >"$OUT/listwatch/list-all-etcd.json" || die "list-all (etcd) failed"
    dpkg-query -W -f='${Version}' etcd-server >"$OUT/listwatch/etcd-version.txt" 2>/dev/null || etcd --version | head -1 >"$OUT/listwatch/etcd-version.txt"
    stop_pid "$ETCD_PID"
  elif [ "$ETCD" = 1 ]; then
    echo "etcd is not installed (apt-get install -y etcd-server)" >"$OUT/listwatch/etcd-missing.txt"
  fi
fi

# --- expiry: MEM_KEYS keys expiring in the same millisecond while GETs go on -----------------
now_ms() { date +%s%3N; }
sleep_until_ms() {
  local left=$(($1 - $(now_ms)))
  [ "$left" -le 0 ] || sleep "$(awk -v l="$left" 'BEGIN { printf "%.3f", l / 1000 }')"
}
if has expiry "$PHASES"; then
  log "expiry: $MEM_KEYS keys with one expiry time, GETs on $KEYS other keys"
  start_kv exp probe
  SERVER_PIDS=("$KV_PID")
  url="http://127.0.0.1:$KV_PORT"
  labels=(BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_START=1 BENCH_LOAD=get)
  preload kv "$url" k "$KEYS" exp
  # Time to load, from the memory phase's load if there was one; else a cautious guess.
  load_rate=5000
  if [ -f "$OUT/raw/load-mem-m.json" ]; then load_rate=$(rps "$OUT/raw/load-mem-m.json"); fi
  [ "$load_rate" -ge 1000 ] || load_rate=1000
  load_ms=$((MEM_KEYS * 1000 / load_rate))
  # After the load: a GC'd reading, a warm-up and a baseline run, then the window around expiry.
  expire_at=$(($(now_ms) + load_ms * 2 + (WARMUP + DURATION + 8) * 1000))
  lead_ms=$(awk -v l="$EXPIRY_LEAD" 'BEGIN { print int(l * 1000) }')
  log "  loading $MEM_KEYS keys that all expire at $(date -u -d "@$((expire_at / 1000))" +%H:%M:%S) (epoch ms $expire_at)"
  preload kv "$url" e "$MEM_KEYS" exp LOAD_EXPIRE_AT_MS="$expire_at"
  probe gc before-expiry "$OUT/expiry/kv-before.json"
  if [ $(($(now_ms) + (WARMUP + DURATION + 1) * 1000 + lead_ms)) -lt "$expire_at" ]; then
    log "  baseline GET while the keys are live"
    measure exp-kv-baseline get "$url" "${labels[@]}"
  else
    log "  no time left for a baseline run before expiry"
  fi
  now=$(now_ms)
  if [ "$now" -ge $((expire_at - lead_ms)) ]; then
    echo "{\"error\":\"the keys began to expire $((now - expire_at + lead_ms)) ms before the measured window\"}" >"$OUT/expiry/invalid.json"
    log "  the load took too long: the window missed the expiry (see $OUT/expiry/invalid.json)"
  fi
  sleep_until_ms $((expire_at - lead_ms))
  probe mark window-start "$OUT/expiry/kv-window-start.json"
  log "  GET across the expiry instant"
  wrk_run exp-kv-window get "$url" "$DURATION" "${labels[@]}" BENCH_PHASE=measure
  probe mark window-end "$OUT/expiry/kv-window-end.json"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/e000000000000000")
  echo "{\"expiredKeyStatus\":$code,\"expireAtMs\":$expire_at,\"leadMs\":$lead_ms}" >"$OUT/expiry/kv-check.json"
  probe gc after-expiry "$OUT/expiry/kv-after.json"
  stop_pid "$KV_PID"
fi

# --- profile: kv_store under GET and PUT, CPU profile of the measured window --------------------
if has profile "$PHASES"; then
  for load in get put; do
    log "profile: kv_store under $load"
    mkdir -p "$OUT/profile/$load"
    start_kv "prof-$load" probe --cpu-prof --cpu-prof-dir="$OUT/profile/$load"
    SERVER_PIDS=("$KV_PID")
    url="http://127.0.0.1:$KV_PORT"
    preload kv "$url" k "$KEYS" "prof-$load"
    wrk_run "prof-$load-warmup" "$load" "$url" "$WARMUP" BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_LOAD="$load" BENCH_PHASE=warmup
    probe mark start "$OUT/profile/$load-start.json"
    wrk_run "prof-$load" "$load" "$url" "$DURATION" BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_LOAD="$load" BENCH_PHASE=measure
    probe mark end "$OUT/profile/$load-end.json"
    stop_pid "$KV_PID"
    prof=$(ls "$OUT/profile/$load"/*.cpuprofile 2>/dev/null | head -1)
    [ -n "$prof" ] || die "no CPU profile in $OUT/profile/$load"
    node "$ROOT/bench/profile-summary.mjs" "$prof" \
      --from "$(field "$OUT/profile/$load-start.json" hrtimeUs)" --to "$(field "$OUT/profile/$load-end.json" hrtimeUs)" \
      --json "$OUT/profile/$load-summary.json" >"$OUT/profile/$load-summary.md"
  done
fi

# --- watch: PUT throughput without and with WATCHERS SSE watchers, and delivery latency ------------
# Three rounds in one kv_store process, each a run without watchers and then one with them (the
# watchers connect for that run only): each with-watchers run is compared with the run just
# before it, so that a slow or fast stretch of the machine falls on both sides of a ratio. Round 1
# is watch-none / watch-many, then -r2 and -r3 (as the page rounds of the memory phase).
if has watch "$PHASES"; then
  log "watch: 3 rounds of PUT with no watchers, then with $WATCHERS SSE watchers of prefix w/ (a probe write every $PROBE_MS ms)"
  start_kv watch
  SERVER_PIDS=("$KV_PID")
  url="http://127.0.0.1:$KV_PORT"
  labels=(BENCH_TARGET=kv BENCH_FLAVOR=kv BENCH_START=1 BENCH_LOAD=put)
  preload kv "$url" k "$KEYS" watch
  for round in 1 2 3; do
    suffix=""
    [ "$round" = 1 ] || suffix="-r$round"
    measure "watch-none$suffix" put "$url" "${labels[@]}"
    ready="$OUT/listwatch/watchers$suffix.ready"
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/watch-load.mjs" "$url" "$WATCHERS" $((WARMUP + DURATION + 2)) w/ "$PROBE_MS" "$ready" \
      >"$OUT/listwatch/watchers$suffix.json" 2>"$OUT/logs/watch-load$suffix.log" &
    WL_PID=$!
    STARTED+=("$WL_PID")
    for _ in $(seq 600); do [ -f "$ready" ] && break; sleep 0.1; done
    [ -f "$ready" ] || die "the watchers did not connect within 60 s; see $OUT/logs/watch-load$suffix.log"
    log "  round $round: $(cat "$ready") of $WATCHERS watchers streaming"
    measure "watch-many$suffix" put "$url" "${labels[@]}"
    wait "$WL_PID" || die "bench/watch-load.mjs failed; see $OUT/logs/watch-load$suffix.log"
    kept=()
    for p in "${STARTED[@]}"; do [ "$p" = "$WL_PID" ] || kept+=("$p"); done
    STARTED=("${kept[@]}")
  done
  stop_pid "$KV_PID"
fi

# --- durability: writes with KV_DATA_DIR under each KV_FSYNC, beside redis-server's AOF; restart time --
now_ns() { date +%s%N; }
if has durability "$PHASES"; then
  mkdir -p "$OUT/durability/data"
  # STARTS rounds, each starting kv_store once per setting in turn (a fresh data directory each
  # time), then redis-server (behind webdis) once per appendfsync setting (a fresh AOF each
  # time), so that a fast or slow stretch of the machine falls on every setting of both; the
  # report takes the median of each setting's starts.
  for start in $(seq "$STARTS"); do
    for mode in memory always everysec no; do
      log "durability: kv_store PUT, ${mode/memory/in memory (no KV_DATA_DIR)}, process start $start of $STARTS"
      KV_ENV=()
      rm -rf "$OUT/durability/data/kv-$mode"
      [ "$mode" = memory ] || KV_ENV=(KV_DATA_DIR="$OUT/durability/data/kv-$mode" KV_FSYNC="$mode")
      start_kv "dur-$mode-s$start"
      SERVER_PIDS=("$KV_PID")
      url="http://127.0.0.1:$KV_PORT"
      preload kv "$url" k "$KEYS" "dur-$mode-s$start"
      measure "dur-kv-$mode-s$start-put" put "$url" BENCH_FLAVOR=kv BENCH_START="$start" BENCH_TARGET="kv-$mode" BENCH_LOAD=put
      stop_pid "$KV_PID"
      KV_ENV=()
    done
    has webdis "$TARGETS" || continue
    for mode in always everysec no; do
      log "durability: webdis + redis-server appendonly yes, appendfsync $mode, PUT, process start $start of $STARTS"
      start_redis "dur-$mode-s$start" "$mode"
      start_webdis "dur-$mode-s$start"
      SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
      preload webdis "http://127.0.0.1:$WEBDIS_PORT" k "$KEYS" "dur-$mode-s$start"
      measure "dur-webdis-$mode-s$start-put" put "http://127.0.0.1:$WEBDIS_PORT" BENCH_FLAVOR=webdis BENCH_START="$start" BENCH_TARGET="webdis-$mode" BENCH_LOAD=put
      stop_pid "$WEBDIS_PID"
      stop_pid "$REDIS_PID"
    done
  done

  # Restart time: DUR_KEYS keys written, then the time from starting the process to its first
  # answer (kv_store: GET /healthz, which answers once recovery is done and it listens;
  # redis-server: PING answered PONG, not LOADING). Four directories are made first and kept as
  # they are: kv_store's after a kill -9 (its last snapshot and the log after it to replay) and
  # after a clean stop (which writes a snapshot: KV_SNAPSHOT_ON_STOP); redis-server's AOF as the
  # load left it and after BGREWRITEAOF (an RDB preamble). Then RESTARTS rounds, each starting
  # kv_store after the kill -9, redis-server from its AOF, kv_store after the clean stop and
  # redis-server from its RDB preamble, in turn, every start on a fresh copy of its directory
  # (synced to disk first): a slow or fast stretch of the machine falls on both servers of a
  # pair, and the report compares each start with its pair's in the same round. Both servers
  # restart with both cores (RESTART_CPUS): kv_store's recovery faults its memory in on a second
  # thread (src/kv_store/src/store/memory/slab-prefaulter.ts); redis-server loads on one thread
  # either way. A last kv_store start after the clean stop, pinned to SERVER_CPU alone, shows
  # what recovery takes without it.
  log "durability: restarts with $DUR_KEYS keys, kv_store and redis-server in turn"
  kept_dirs=$OUT/durability/data/kept
  kv_dir=$OUT/durability/data/kv-restart
  mkdir -p "$kept_dirs"
  KV_ENV=(KV_DATA_DIR="$kv_dir" KV_FSYNC=everysec)
  start_kv dur-load
  SERVER_PIDS=("$KV_PID")
  preload kv "http://127.0.0.1:$KV_PORT" r "$DUR_KEYS" dur-restart
  kill -KILL "$KV_PID"
  wait "$KV_PID" 2>/dev/null || true
  cp -a "$kv_dir" "$kept_dirs/kv-kill"
  KV_WAIT_PATH=healthz start_kv dur-clean-stop
  t0=$(now_ns)
  stop_pid "$KV_PID"
  clean_stop_ms=$((($(now_ns) - t0) / 1000000))
  cp -a "$kv_dir" "$kept_dirs/kv-clean"
  redis_dir=$OUT/redis-dur-restart
  has_redis=0
  if command -v redis-server >/dev/null; then
    has_redis=1
    start_redis dur-restart everysec
    redis_load r "$DUR_KEYS"
    redis-cli -p "$REDIS_PORT" SHUTDOWN >/dev/null 2>&1 || true
    wait "$REDIS_PID" 2>/dev/null || true
    cp -a "$redis_dir" "$kept_dirs/redis-aof"
    start_redis dur-restart everysec
    redis-cli -p "$REDIS_PORT" BGREWRITEAOF >/dev/null
    while [ "$(redis-cli -p "$REDIS_PORT" INFO persistence | tr -d '\r' | awk -F: '/^aof_rewrite_in_progress/ { print $2 }')" != 0 ]; do sleep 0.2; done
    redis-cli -p "$REDIS_PORT" SHUTDOWN >/dev/null 2>&1 || true
    wait "$REDIS_PID" 2>/dev/null || true
    cp -a "$redis_dir" "$kept_dirs/redis-rdb"
  fi
  KV_ENV=()
  # fresh_copy KEPT DIR: DIR becomes a copy of the kept directory KEPT, on disk before the start.
  fresh_copy() {
    rm -rf "$2" && cp -a "$kept_dirs/$1" "$2" && sync
  }
  # kv_restart N ROUND AFTER KEPT CPUS: one timed kv_store start on a copy of KEPT.
  kv_restart() {
    local run=$1 round=$2 after=$3 kept=$4 cpus=$5 stop_ms=null
    [ "$after" = "clean stop" ] && stop_ms=$clean_stop_ms
    fresh_copy "$kept" "$kv_dir"
    KV_ENV=(KV_DATA_DIR="$kv_dir" KV_FSYNC=everysec)
    t0=$(now_ns)
    KV_CPUS=$cpus KV_WAIT_PATH=healthz start_kv "dur-restart-$run"
    t1=$(now_ns)
    KV_ENV=()
    node "$ROOT/bench/preload.mjs" check kv "http://127.0.0.1:$KV_PORT" r "$DUR_KEYS" 2>>"$OUT/logs/checks.log" ||
      die "kv_store lost keys over its restart; see $OUT/logs/checks.log"
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$KV_PID/status")
    # What kv_store logged about its recovery: how long, and how much came from the snapshot and the log.
    recovery=$(node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) { try { const j = JSON.parse(l); if (j.msg === "recovered the store from the data directory") console.log(JSON.stringify({ recoveryMs: j.ms, snapshotEntries: j.snapshotEntries, logCommits: j.logCommits }).slice(1, -1)); } catch {} }' \
      "$OUT/logs/kv-dur-restart-$run.log")
    echo "{\"server\":\"kv\",\"keys\":$DUR_KEYS,\"run\":$run,\"round\":$round,\"cpus\":\"$cpus\",\"after\":\"$after\",\"stopMs\":$stop_ms,\"startMs\":$(((t1 - t0) / 1000000)),${recovery:+$recovery,}\"rssBytes\":${rss:-null},\"diskBytes\":$(du -sb "$kv_dir" | cut -f1)}" \
      >"$OUT/durability/restart-kv-$(printf %02d "$run").json"
    kill -KILL "$KV_PID"
    wait "$KV_PID" 2>/dev/null || true
  }
  # redis_restart ROUND VARIANT: one timed redis-server start on a copy of its kept directory.
  redis_restart() {
    local round=$1 variant=$2
    fresh_copy "redis-$variant" "$redis_dir"
    t0=$(now_ns)
    taskset -c "$RESTART_CPUS" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec \
      --daemonize no --dir "$redis_dir" >"$OUT/logs/redis-dur-restart-$variant-$round.log" 2>&1 &
    REDIS_PID=$!
    STARTED+=("$REDIS_PID")
    taskset -c "$CLIENT_CPU" node "$ROOT/bench/first-answer.mjs" redis "$REDIS_PORT" "$REDIS_PID" ||
      die "redis-server exited or did not answer; see $OUT/logs/redis-dur-restart-$variant-$round.log"
    t1=$(now_ns)
    keys=$(redis-cli -p "$REDIS_PORT" DBSIZE)
    rss=$(awk '/VmRSS/ { print $2 * 1024 }' "/proc/$REDIS_PID/status")
    kill_redis_hard "$REDIS_PID"
    echo "{\"server\":\"redis-$variant\",\"keys\":$keys,\"run\":$round,\"round\":$round,\"cpus\":\"$RESTART_CPUS\",\"startMs\":$(((t1 - t0) / 1000000)),\"rssBytes\":${rss:-null},\"diskBytes\":$(du -sb "$redis_dir" | cut -f1)}" \
      >"$OUT/durability/restart-redis-$variant-$round.json"
  }
  run=0
  for round in $(seq "$RESTARTS"); do
    log "  restart round $round of $RESTARTS"
    run=$((run + 1)) && kv_restart "$run" "$round" "kill -9" kv-kill "$RESTART_CPUS"
    [ "$has_redis" = 0 ] || redis_restart "$round" aof
    run=$((run + 1)) && kv_restart "$run" "$round" "clean stop" kv-clean "$RESTART_CPUS"
    [ "$has_redis" = 0 ] || redis_restart "$round" rdb
  done
  run=$((run + 1)) && kv_restart "$run" 0 "clean stop" kv-clean "$SERVER_CPU"
  rm -rf "$OUT/durability/data" "$OUT/redis-dur-"*
fi

# txn_rows FLAVOR URL: the txn phase's rows for one server: its single write (PUT), then its
# atomic batch of 2 and of 10 sets (bench/lua/txn.lua).
txn_rows() {
  local flavor=$1 url=$2
  preload "$flavor" "$url" k "$KEYS" txn
  measure "txn-$flavor-1-put" put "$url" BENCH_FLAVOR="$flavor" BENCH_START=1 BENCH_TARGET="$flavor" BENCH_LOAD=put
  for n in 2 10; do
    measure "txn-$flavor-$n-txn" txn "$url" BENCH_FLAVOR="$flavor" BENCH_START=1 BENCH_TARGET="$flavor" BENCH_LOAD="txn$n" BENCH_TXN_OPS="$n"
  done
}

if has txn "$PHASES"; then
  # Transactions: a single PUT, then POST /txn setting 2 and 10 random preloaded keys at once, on one
  # kv_store process; beside webdis + redis-server running SET and an EVAL that SETs 2 and 10 keys
  # (Redis runs a script atomically; webdis cannot hold MULTI and EXEC on one connection).
  log "txn: kv_store PUT, then POST /txn with 2 and 10 sets"
  start_kv txn
  SERVER_PIDS=("$KV_PID")
  url="http://127.0.0.1:$KV_PORT"
  txn_rows kv "$url"
  stop_pid "$KV_PID"
  if has webdis "$TARGETS"; then
    log "txn: webdis + redis-server SET, then EVAL setting 2 and 10 keys"
    start_redis txn
    start_webdis txn
    SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
    url="http://127.0.0.1:$WEBDIS_PORT"
    txn_rows webdis "$url"
    stop_pid "$WEBDIS_PID"
    stop_pid "$REDIS_PID"
  fi
fi

# --- pauses: what a request waits while the store grows and while keys expire at once ------------
if has pauses "$PHASES"; then
  # shellcheck source=bench/pauses.sh
  . "$ROOT/bench/pauses.sh"
fi

if has layouts "$PHASES"; then
  log "layouts: heap per entry of kv_store's store and of alternative layouts ($MEM_KEYS entries)"
  node "$ROOT/bench/entry-layouts.mjs" "$MEM_KEYS" >"$OUT/layouts.md" 2>>"$OUT/logs/layouts.log"
fi

sed -i "s/\"loadAvgStart\"/\"loadAvgEnd\": \"$(cut -d' ' -f1-3 /proc/loadavg)\",\n  \"loadAvgStart\"/" "$OUT/env.json"
node "$ROOT/bench/report.mjs" "$OUT" | tee "$OUT/report.md"
log "done: $OUT/report.md"
