#!/usr/bin/env bash
# etcd-cluster.sh start|stop|status: a three-member etcd cluster on loopback, for trying kv_store's
# etcd backend by hand (the tests start their own, see src/kv_store/test/support/etcd-cluster.ts).
#
#   member m1: client http://127.0.0.1:2379, peer :2380
#   member m2: client http://127.0.0.1:2381, peer :2382
#   member m3: client http://127.0.0.1:2383, peer :2384
#
# Data, logs and pid files live in $ETCD_CLUSTER_DIR (default ./.etcd-cluster, gitignored); a
# restart keeps the data. Needs Debian's etcd-server and etcd-client (apt-get install etcd-server etcd-client).
set -euo pipefail
dir=${ETCD_CLUSTER_DIR:-./.etcd-cluster}
members=(m1 m2 m3)
client_port() { echo $((2379 + 2 * ${1#m} - 2)); }
peer_port() { echo $((2380 + 2 * ${1#m} - 2)); }
endpoints="http://127.0.0.1:2379,http://127.0.0.1:2381,http://127.0.0.1:2383"
initial_cluster="m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2382,m3=http://127.0.0.1:2384"

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start() {
  command -v etcd >/dev/null || { echo "etcd not found: apt-get install etcd-server etcd-client" >&2; exit 1; }
  mkdir -p "$dir"
  for m in "${members[@]}"; do
    running "$m" && continue
    # setsid: the members outlive this script (stop them with `etcd-cluster.sh stop`).
    setsid etcd --name "$m" --data-dir "$dir/$m.etcd" --logger zap \
      --listen-client-urls "http://127.0.0.1:$(client_port "$m")" \
      --advertise-client-urls "http://127.0.0.1:$(client_port "$m")" \
      --listen-peer-urls "http://127.0.0.1:$(peer_port "$m")" \
      --initial-advertise-peer-urls "http://127.0.0.1:$(peer_port "$m")" \
      --initial-cluster "$initial_cluster" --initial-cluster-state new \
      --initial-cluster-token kv-etcd-cluster >>"$dir/$m.log" 2>&1 </dev/null &
    echo $! >"$dir/$m.pid"
  done
  for _ in $(seq 60); do
    if ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; then
      echo "etcd cluster up: KV_ETCD_ENDPOINTS=$endpoints"
      return
    fi
    sleep 0.5
  done
  echo "etcd cluster not healthy after 30 s; logs in $dir/m*.log" >&2
  exit 1
}

stop() {
  for m in "${members[@]}"; do
    if running "$m"; then
      pid=$(cat "$dir/$m.pid")
      kill -TERM "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$dir/$m.pid"
  done
  echo "etcd cluster stopped (data kept in $dir)"
}

status() {
  for m in "${members[@]}"; do
    if running "$m"; then echo "$m: running (pid $(cat "$dir/$m.pid"))"; else echo "$m: stopped"; fi
  done
  ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w table 2>/dev/null || true
}

case ${1:-} in
  start | stop | status) "$1" ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
