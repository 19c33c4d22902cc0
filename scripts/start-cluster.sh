#!/usr/bin/env bash
# start-cluster.sh (make start-cluster): a three-member etcd cluster (scripts/etcd-cluster.sh:
# 127.0.0.1:2379, :2381, :2383) and two kv_store nodes on it (KV_BACKEND=etcd), on 127.0.0.1:8080
# and :8082, in the foreground until Ctrl-C (or SIGTERM), which stops the nodes and then etcd.
# etcd's data stays in $ETCD_CLUSTER_DIR (default ./.etcd-cluster), so the store survives a restart;
# `rm -rf .etcd-cluster` starts afresh. Settings: KV_CLUSTER_PORTS ("8080 8082"), KV_ETCD_PREFIX (kv/).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a ports <<<"${KV_CLUSTER_PORTS:-8080 8082}"
endpoints=(http://127.0.0.1:2379 http://127.0.0.1:2381 http://127.0.0.1:2383)
pids=()
stop() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  bash scripts/etcd-cluster.sh stop >&2 || true
}
# Ctrl-C or SIGTERM is how one ends it: a clean stop of everything is a success.
trap 'stop; exit 0' INT TERM
trap stop EXIT
bash scripts/etcd-cluster.sh start >&2
for i in "${!ports[@]}"; do
  # Each node lists the members from a different one, so their watches start on different members.
  list=$(printf '%s\n' "${endpoints[@]:i%3}" "${endpoints[@]:0:i%3}" | paste -sd, -)
  KV_BACKEND=etcd KV_ETCD_ENDPOINTS="$list" KV_PORT="${ports[$i]}" \
    node --max-semi-space-size=16 --initial-old-space-size=64 src/kv_store/dist/kv_store.js &
  pids+=($!)
done
cat >&2 <<MSG
kv_store nodes on $(printf 'http://127.0.0.1:%s ' "${ports[@]}")over etcd at $(
  IFS=,
  echo "${endpoints[*]}"
); Ctrl-C stops them all. Try:
  curl -X POST -H 'Content-Type: application/json' http://127.0.0.1:${ports[0]}/v1/ -d '{"key": "hello", "value": "from ${ports[0]}"}'
  curl 'http://127.0.0.1:${ports[1]:-${ports[0]}}/v1/hello?consistent=true'
  curl -N -H 'Accept: text/event-stream' 'http://127.0.0.1:${ports[1]:-${ports[0]}}/v1/?watch=true'   # then write through ${ports[0]}
MSG
# Whichever node exits first takes the rest down with it.
wait -n "${pids[@]}"
