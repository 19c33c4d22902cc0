#!/usr/bin/env bash
# Runs kv_store and test_client in the foreground until Ctrl-C (or SIGTERM), then stops both.
# Each honours its own environment variables (KV_PORT, TEST_CLIENT_PORT, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
stop() {
  trap - INT TERM EXIT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
# Ctrl-C or SIGTERM is how one ends it: a clean stop of both is a success.
trap 'stop; exit 0' INT TERM
trap stop EXIT
node --max-semi-space-size=2 src/kv_store/dist/main.js &
pids+=($!)
node src/test_client/dist/main.js &
pids+=($!)
echo "kv_store on http://${KV_HOST:-127.0.0.1}:${KV_PORT:-8080}, test_client on http://${TEST_CLIENT_HOST:-127.0.0.1}:${TEST_CLIENT_PORT:-8081}; Ctrl-C stops both" >&2
# Whichever exits first takes the other down with it.
wait -n "${pids[@]}"
