#!/usr/bin/env bash
# docker-e2e.sh: the seed README's whole Docker sequence, as a user would type it, checked at
# every step: kv_store image and container, the seed's four curl commands, the same image as a
# node on etcd (when etcd is installed), test_client image and container, /test_overwrite and
# /test_delete, `make logs`, then cleanup, after which nothing of ours may be left in
# `docker ps -a`, `docker images` or `docker network ls`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOCKER_BUILDKIT=0
KV=http://127.0.0.1:8080
TC=http://127.0.0.1:8081
failures=0

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
ok() { printf '  ok: %s\n' "$*"; }
bad() { printf '  FAILED: %s\n' "$*"; failures=$((failures + 1)); }

# expect STATUS PATTERN -- curl args...: runs curl as the seed writes it, prints the answer (its
# first lines), and checks its status and that its body matches the regex PATTERN.
expect() {
  local want=$1 needle=$2
  shift 3
  say "curl $*"
  local out status body
  out=$(curl -sS -w '\n%{http_code}' "$@") || { bad "curl failed"; return; }
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  local lines
  lines=$(printf '%s\n' "$body" | wc -l)
  head -n 12 <<<"$body"  # a here-string: a pipe's writer could die of SIGPIPE once head has its lines
  [[ $lines -le 12 ]] || printf '  ... (%s lines in all)\n' "$lines"
  printf '  -> %s\n' "$status"
  if [[ $status == "$want" && $body =~ $needle ]]; then ok "$want, body has $needle"; else bad "wanted $want with $needle"; fi
}

cleanup() {
  docker rm -f kv_store_etcd >/dev/null 2>&1 || true
  if [[ -n ${etcd_pid:-} ]]; then kill "$etcd_pid" 2>/dev/null || true; fi
  if [[ -n ${etcd_dir:-} ]]; then rm -rf "$etcd_dir"; fi
  (cd src/test_client && make -s docker-clean >/dev/null 2>&1) || true
  (cd src/kv_store && make -s docker-unnet >/dev/null 2>&1) || true
}

leftovers() {
  {
    docker ps -a --format '{{.Names}}' | grep -Ex 'kv_store|kv_store_etcd|test_client' || true
    docker images --format '{{.Repository}}' | grep -Ex 'kv_store|test_client' || true
    docker images -q --filter label=kv.build-stage || true
    docker network ls --format '{{.Name}}' | grep -Ex 'kv_net' || true
  } | sed 's/^/  left over: /'
}

# The workplace's stand-in for Docker Hub: starts an engine if there is none and builds the
# node:24-bookworm-slim base image locally (no registry can be reached here).
standin=${DOCKER_STANDIN:-$root/../shared/tools/docker-standin.sh}
if [[ -f $standin ]]; then
  say "bash $standin"
  bash "$standin"
elif docker info >/dev/null 2>&1; then
  echo "docker-e2e: no $standin; using the running Docker engine as it is"
else
  echo "docker-e2e: no Docker engine, and no $standin to start one (set DOCKER_STANDIN)" >&2
  exit 1
fi

# Start from nothing, as a new user would (a previous run may have died half-way).
cleanup
trap 'status=$?; if [ $status -ne 0 ]; then docker logs kv_store 2>&1 | tail -20; docker logs test_client 2>&1 | tail -20; cleanup; fi' EXIT

say "cd ./src/kv_store && make docker-build && make docker-run"
(cd src/kv_store && make docker-build >/tmp/kv-docker-build.log 2>&1) || { tail -30 /tmp/kv-docker-build.log; exit 1; }
docker images kv_store --format '  image {{.Repository}}:{{.Tag}} {{.Size}}'
(cd src/kv_store && make docker-run)

expect 201 '"value":"bar"' -- -X POST -H "Content-Type: application/json" $KV/v1/ -d '{"key": "foo", "value": "bar"}'
expect 200 '"value":"bar"' -- -X GET $KV/v1/foo
expect 409 '"code":"key_exists"' -- -X POST -H "Content-Type: application/json" $KV/v1/ -d '{"key": "foo", "value": "bar2"}'
expect 200 '"value":"bar2"' -- -X PUT -H "Content-Type: application/json" $KV/v1/foo -d '{"value": "bar2"}'

say "beyond the seed: the image serves the web UI, health, metrics, listing and transactions"
expect 200 '<title>kv</title>' -- $KV/ui/
expect 200 '"status":"ready"' -- $KV/readyz
expect 200 'kv_http_requests_total' -- $KV/metrics
expect 200 '"succeeded":true' -- -X POST -H "Content-Type: application/json" $KV/txn -d '{"ops": [{"op": "incr", "key": "hits", "by": 2}]}'
expect 200 '"key":"foo"' -- -X GET "$KV/v1/?prefix=f"

# The same image as a node on etcd (KV_BACKEND=etcd): it carries the etcd client (@grpc/grpc-js,
# protobufjs) and talks to an etcd member on the host's loopback. Skipped, and said, without etcd.
if command -v etcd >/dev/null 2>&1; then
  say "docker run --network host -e KV_BACKEND=etcd -e KV_ETCD_ENDPOINTS=http://127.0.0.1:23790 -e KV_PORT=18088 kv_store"
  etcd_dir=$(mktemp -d)
  setsid etcd --name e2e --data-dir "$etcd_dir/data" --log-level error \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster e2e=http://127.0.0.1:23800 >"$etcd_dir/etcd.log" 2>&1 &
  etcd_pid=$!
  docker run -d --name kv_store_etcd --network host -e KV_BACKEND=etcd -e KV_ETCD_ENDPOINTS=http://127.0.0.1:23790 \
    -e KV_ETCD_PREFIX=e2e/ -e KV_PORT=18088 kv_store >/dev/null
  ready=0
  for _ in $(seq 1 100); do
    if curl -sf http://127.0.0.1:18088/readyz >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
  done
  if [[ $ready == 1 ]]; then ok "the node on etcd is ready"; else docker logs kv_store_etcd 2>&1 | tail -20; bad "the node on etcd never became ready"; fi
  expect 201 '"value":"on etcd"' -- -X POST -H "Content-Type: application/json" http://127.0.0.1:18088/v1/ -d '{"key": "where", "value": "on etcd"}'
  stored=$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23790 get e2e/d/where --print-value-only 2>/dev/null || true)
  if [[ $stored == *'"on etcd"'* ]]; then ok "etcd holds it: $stored"; else bad "etcd does not hold the key (etcdctl: $stored)"; fi
  expect 200 '"value":"on etcd"' -- -X GET "http://127.0.0.1:18088/v1/where?consistent=true"
  docker rm -f kv_store_etcd >/dev/null
  kill "$etcd_pid"
  wait "$etcd_pid" 2>/dev/null || true
  rm -rf "$etcd_dir"
  etcd_pid='' etcd_dir=''
else
  say "no etcd on PATH: the image's etcd backend is not checked here (apt-get install etcd-server)"
fi

say "cd ./src/test_client && make docker-build && make docker-run"
(cd src/test_client && make docker-build >/tmp/tc-docker-build.log 2>&1) || { tail -30 /tmp/tc-docker-build.log; exit 1; }
docker images test_client --format '  image {{.Repository}}:{{.Tag}} {{.Size}}'
(cd src/test_client && make docker-run)

expect 200 '"status": ?"passed"' -- -X GET $TC/test_overwrite
expect 200 '"status": ?"passed"' -- -X GET $TC/test_delete
expect 200 '"status": ?"passed"' -- -X GET $TC/test_list
expect 200 '"status": ?"passed"' -- -X GET $TC/test_watch
expect 200 '"status": ?"passed"' -- -X GET $TC/test_txn

say "cd ./src/test_client && make logs"
logs=$(cd src/test_client && make -s logs 2>&1)
tail -n 25 <<<"$logs"
if grep -q 'PUT' <<<"$logs" && grep -q 'DELETE' <<<"$logs" && grep -q '/v1/' <<<"$logs"; then ok "logs show the API calls"; else bad "logs do not show the API calls"; fi

say "docker stop (SIGTERM reaches node: both exit 0 well within the 10 s grace period)"
for c in test_client kv_store; do
  start=$(date +%s%N)
  docker stop "$c" >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
  if [[ $code == 0 && $ms -lt 5000 ]]; then ok "$c stopped in ${ms} ms, exit code $code"; else bad "$c stopped in ${ms} ms, exit code $code"; fi
done

say "cd ./src/test_client && make docker-clean; cd ./src/kv_store && make docker-unnet"
(cd src/test_client && make docker-clean) | grep -v '^Deleted: '
(cd src/kv_store && make docker-unnet) | grep -v '^Deleted: '

left=$(leftovers)
if [[ -z $left ]]; then ok "nothing of ours left in docker ps -a, docker images or docker network ls"; else printf '%s\n' "$left"; bad "left over after cleanup"; fi

trap - EXIT
if [[ $failures -eq 0 ]]; then echo "docker e2e: all checks passed"; else echo "docker e2e: $failures check(s) FAILED"; exit 1; fi
