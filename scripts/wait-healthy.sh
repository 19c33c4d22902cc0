#!/usr/bin/env bash
# wait-healthy.sh CONTAINER URL: waits (up to 30 s) until URL answers 200, so the command after
# `make docker-run` finds the service up. Shows the container's logs if it never does.
set -u
container=$1 url=$2
for _ in $(seq 60); do
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && { echo "$container is up at $url"; exit 0; }
  else
    node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$url" 2>/dev/null && { echo "$container is up at $url"; exit 0; }
  fi
  [ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ] || break
  sleep 0.5
done
echo "$container did not answer at $url; its logs:" >&2
docker logs --tail 50 "$container" >&2 || true
exit 1
