#!/usr/bin/env bash
# Runs kv_store and test_client in the foreground until Ctrl-C (or SIGTERM), then stops both.
# Each honours its own environment variables (KV_PORT, TEST_CLIENT_PORT, ...); test_client calls
# kv_store where it listens (KV_HOST, KV_PORT) unless KV_STORE_URL says otherwise.
# On a terminal the JSON log lines are shown through pino-pretty; otherwise (a pipe, a file)
# they stay JSON, one line each.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${KV_STORE_URL:-}" ]; then
  kv_host=${KV_HOST:-127.0.0.1}
  case "$kv_host" in
    0.0.0.0) kv_host=127.0.0.1 ;;   # listening everywhere: reach it on loopback
    :: | '[::]') kv_host='[::1]' ;;
    \[*) ;;
    *:*) kv_host="[$kv_host]" ;;    # an IPv6 address goes in brackets in a URL
  esac
  export KV_STORE_URL="http://${kv_host}:${KV_PORT:-8080}"
fi

pretty=
if [ -t 1 ] && [ -x node_modules/.bin/pino-pretty ]; then
  # One pino-pretty for both services, in a session of its own: Ctrl-C stops the services, and
  # pino-pretty still shows their last lines, ending when they have closed their output.
  exec > >(exec setsid -w node_modules/.bin/pino-pretty --singleLine --ignore pid,hostname,service --translateTime SYS:HH:MM:ss.l)
  pretty=$!
fi

pids=()
stop() {
  trap - INT TERM EXIT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  if [ -n "$pretty" ]; then
    exec >&-
    wait "$pretty" 2>/dev/null || true
  fi
}
# Ctrl-C or SIGTERM is how one ends it: a clean stop of both is a success.
trap 'stop; exit 0' INT TERM
trap stop EXIT
node --max-semi-space-size=2 --initial-old-space-size=64 src/kv_store/dist/kv_store.js &
pids+=($!)
node src/test_client/dist/main.js &
pids+=($!)
echo "kv_store on http://${KV_HOST:-127.0.0.1}:${KV_PORT:-8080}, test_client on http://${TEST_CLIENT_HOST:-127.0.0.1}:${TEST_CLIENT_PORT:-8081} (calling ${KV_STORE_URL}); Ctrl-C stops both" >&2
# Whichever exits first takes the other down with it.
wait -n "${pids[@]}"
