# bench/pauses.sh: the `pauses` phase of bench/run.sh (sourced by it: it uses run.sh's start_*,
# wrk_run, http_load and stop_pid). What a request waits while the store grows and while a
# million keys expire at once, measured from outside by bench/pause-probe.mjs (a GET every 2 ms
# on a connection of its own, on the load generator's CPU), beside redis-server doing the same
# through webdis (and redis-cli --latency, straight to redis-server, during the load).
#
#   growth:  0 -> PAUSE_KEYS keys POSTed over HTTP by wrk (kv_store), SET through webdis (redis)
#   expiry:  EXPIRY_KEYS keys that all expire at one instant: the load, then the instant
#            (kv_store: POST with a ttl; redis: SET ... PXAT through redis-cli --pipe)
#
# kv_store runs with --trace-gc; bench/gc-trace.mjs reads its collector pauses from its log. For
# each window the server core's CPU taken by other processes, its steal and its iowait are
# recorded beside the numbers (a busy machine's pauses are not kv_store's).
#
# Settings: BENCH_PAUSE_KEYS (3,000,000; 300,000 quick; 10,000,000 fits in 24 GiB, about 4 GiB RSS),
# BENCH_PAUSE_EXPIRY_KEYS (1,000,000; 100,000 quick), BENCH_PAUSE_TARGETS ("kv redis").
# Results: $OUT/pauses/<target>-<window>-{probe,cpu,gc,latency}.json.

PAUSE_KEYS=${BENCH_PAUSE_KEYS:-$([ "$QUICK" = 1 ] && echo 300000 || echo 3000000)}
PAUSE_EXPIRY_KEYS=${BENCH_PAUSE_EXPIRY_KEYS:-$([ "$QUICK" = 1 ] && echo 100000 || echo 1000000)}
PAUSE_TARGETS=${BENCH_PAUSE_TARGETS:-kv redis}
PAUSE_DIR=$OUT/pauses
mkdir -p "$PAUSE_DIR"
PROBE_KEY=p000000000000000

# The server core's jiffies: total, idle, iowait, steal.
pause_core() { awk -v c="cpu$SERVER_CPU" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5, $6, $9 }' /proc/stat; }

# probe_start TARGET WINDOW FLAVOR PORT: the probe in the background (PROBE_PID), and the CPU counters at its start.
probe_start() {
  PROBE_NAME=$1-$2
  PROBE_STOP=$PAUSE_DIR/$PROBE_NAME.stop
  rm -f "$PROBE_STOP"
  taskset -c "$CLIENT_CPU" node "$ROOT/bench/pause-probe.mjs" "$3" "127.0.0.1:$4" "$PROBE_KEY" "$PAUSE_DIR/$PROBE_NAME-probe.json" 2 "$PROBE_STOP" \
    2>>"$OUT/logs/pause-probe.log" &
  PROBE_PID=$!
  STARTED+=("$PROBE_PID")
  read -r -a PROBE_CORE0 < <(pause_core)
  PROBE_TICKS0=$(proc_ticks "${SERVER_PIDS[@]}")
  PROBE_LOAD0=$(cut -d' ' -f1 /proc/loadavg)
}

# probe_stop: ends the probe and writes the window's CPU accounting.
probe_stop() {
  touch "$PROBE_STOP"
  wait "$PROBE_PID" || log "  the probe ($PROBE_NAME) failed; see $OUT/logs/pause-probe.log"
  local kept=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$PROBE_PID" ] || kept+=("$p"); done
  STARTED=("${kept[@]}")
  local c1 t1
  read -r -a c1 < <(pause_core)
  t1=$(proc_ticks "${SERVER_PIDS[@]}")
  local total=$((c1[0] - PROBE_CORE0[0]))
  [ "$total" -gt 0 ] || total=1
  awk -v total="$total" -v idle=$((c1[1] - PROBE_CORE0[1])) -v iowait=$((c1[2] - PROBE_CORE0[2])) -v steal=$((c1[3] - PROBE_CORE0[3])) \
    -v ours=$((t1 - PROBE_TICKS0)) -v l0="$PROBE_LOAD0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      others = 100 * (total - idle - iowait - steal - ours) / total; if (others < 0) others = 0
      printf "{\"serverPct\":%.1f,\"othersPct\":%.1f,\"iowaitPct\":%.1f,\"stealPct\":%.1f,\"loadAvgStart\":%s,\"loadAvgEnd\":%s}\n",
        100 * ours / total, others, 100 * iowait / total, 100 * steal / total, l0, l1 }' >"$PAUSE_DIR/$PROBE_NAME-cpu.json"
}

# redis_latency_start NAME / redis_latency_stop: redis-cli --latency (1 s samples) in a loop, straight to redis-server.
redis_latency_start() {
  LAT_FILE=$PAUSE_DIR/redis-$1-latency.txt
  : >"$LAT_FILE"
  (while :; do taskset -c "$CLIENT_CPU" redis-cli -p "$REDIS_PORT" --latency --raw >>"$LAT_FILE" 2>/dev/null || break; done) &
  LAT_PID=$!
  STARTED+=("$LAT_PID")
}
redis_latency_stop() {
  kill "$LAT_PID" 2>/dev/null || true
  wait "$LAT_PID" 2>/dev/null || true
  local kept=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$LAT_PID" ] || kept+=("$p"); done
  STARTED=("${kept[@]}")
  # Each line: min max avg samples (ms).
  awk 'NF >= 4 { if ($2 > max) max = $2; s += $3 * $4; n += $4 } END {
    printf "{\"maxMs\":%s,\"avgMs\":%.3f,\"samples\":%d}\n", max + 0, n ? s / n : 0, n }' "$LAT_FILE" >"${LAT_FILE%.txt}.json"
}

rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

if has kv "$PAUSE_TARGETS"; then
  log "pauses: kv_store growing 0 -> $PAUSE_KEYS keys (probe every 2 ms, --trace-gc)"
  start_kv pause-grow --trace-gc
  SERVER_PIDS=("$KV_PID")
  url="http://127.0.0.1:$KV_PORT"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"key\":\"$PROBE_KEY\",\"value\":1}" "$url/v1/" || die "could not create the probe key"
  probe_start kv grow kv "$KV_PORT"
  http_load pause-load-kv "$url" g "$PAUSE_KEYS" BENCH_FLAVOR=kv
  probe_stop
  echo "{\"rssKiB\":$(rss_kib "$KV_PID"),\"keys\":$PAUSE_KEYS}" >"$PAUSE_DIR/kv-grow-rss.json"
  stop_pid "$KV_PID"
  node "$ROOT/bench/gc-trace.mjs" "$OUT/logs/kv-pause-grow.log" >"$PAUSE_DIR/kv-grow-gc.json"

  log "pauses: kv_store with $PAUSE_EXPIRY_KEYS keys expiring at one instant"
  start_kv pause-exp --trace-gc
  SERVER_PIDS=("$KV_PID")
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"key\":\"$PROBE_KEY\",\"value\":1}" "$url/v1/" || die "could not create the probe key"
  rate=$(rps "$OUT/raw/pause-load-kv.json")
  [ "$rate" -ge 1000 ] || rate=1000
  expire_at=$(($(date +%s%3N) + PAUSE_EXPIRY_KEYS * 2000 / rate + 5000))
  probe_start kv expiry-load kv "$KV_PORT"
  http_load pause-load-kv-exp "$url" x "$PAUSE_EXPIRY_KEYS" BENCH_FLAVOR=kv LOAD_EXPIRE_AT_MS="$expire_at"
  probe_stop
  [ "$(date +%s%3N)" -lt $((expire_at - 1000)) ] || log "  the load ended less than 1 s before the instant: the windows overlap"
  while [ "$(date +%s%3N)" -lt $((expire_at - 1000)) ]; do sleep 0.1; done
  probe_start kv expiry-instant kv "$KV_PORT"
  sleep 6
  probe_stop
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/x000000000000000")
  echo "{\"expiredKeyStatus\":$code,\"keys\":$PAUSE_EXPIRY_KEYS,\"expireAtMs\":$expire_at}" >"$PAUSE_DIR/kv-expiry-check.json"
  stop_pid "$KV_PID"
  node "$ROOT/bench/gc-trace.mjs" "$OUT/logs/kv-pause-exp.log" >"$PAUSE_DIR/kv-expiry-gc.json"
fi

if has redis "$PAUSE_TARGETS" && command -v redis-server >/dev/null && command -v webdis >/dev/null; then
  log "pauses: redis-server growing 0 -> $PAUSE_KEYS keys, SET through webdis (probe through webdis, redis-cli --latency)"
  start_redis pause-grow
  start_webdis pause-grow
  SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
  redis-cli -p "$REDIS_PORT" SET "$PROBE_KEY" 1 >/dev/null
  probe_start redis grow webdis "$WEBDIS_PORT"
  redis_latency_start grow
  wrk_run pause-load-redis load "http://127.0.0.1:$WEBDIS_PORT" 900 LOAD_PREFIX=g LOAD_COUNT="$PAUSE_KEYS" BENCH_PHASE=load BENCH_FLAVOR=webdis
  redis_latency_stop
  probe_stop
  echo "{\"rssKiB\":$(rss_kib "$REDIS_PID"),\"keys\":$(redis-cli -p "$REDIS_PORT" DBSIZE)}" >"$PAUSE_DIR/redis-grow-rss.json"
  stop_pid "$WEBDIS_PID"
  stop_pid "$REDIS_PID"

  log "pauses: redis-server with $PAUSE_EXPIRY_KEYS keys expiring at one instant (SET ... PXAT)"
  start_redis pause-exp
  start_webdis pause-exp
  SERVER_PIDS=("$WEBDIS_PID" "$REDIS_PID")
  redis-cli -p "$REDIS_PORT" SET "$PROBE_KEY" 1 >/dev/null
  expire_at=$(($(date +%s%3N) + 20000))
  probe_start redis expiry-load webdis "$WEBDIS_PORT"
  redis_latency_start expiry-load
  out=$(node "$ROOT/bench/preload.mjs" resp x 0 "$PAUSE_EXPIRY_KEYS" "$expire_at" | taskset -c "$CLIENT_CPU" redis-cli -p "$REDIS_PORT" --pipe 2>&1) ||
    die "redis-cli --pipe failed: $out"
  redis_latency_stop
  probe_stop
  while [ "$(date +%s%3N)" -lt $((expire_at - 1000)) ]; do sleep 0.1; done
  probe_start redis expiry-instant webdis "$WEBDIS_PORT"
  redis_latency_start expiry-instant
  sleep 6
  redis_latency_stop
  probe_stop
  echo "{\"keysLeft\":$(redis-cli -p "$REDIS_PORT" DBSIZE),\"keys\":$PAUSE_EXPIRY_KEYS,\"expireAtMs\":$expire_at}" >"$PAUSE_DIR/redis-expiry-check.json"
  stop_pid "$WEBDIS_PID"
  stop_pid "$REDIS_PID"
fi
