import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EtcdStore } from '../store/etcd/etcd-store.js';

/**
 * A node's view of etcd (KV_BACKEND=etcd), for the operator who asks "is it etcd that is slow,
 * or us?": the time of every request the node makes to an etcd member, by call; the requests
 * that failed, by call and how (unreachable: nothing reached etcd; ambiguous: no answer, it may
 * have been applied; refused: etcd said no); how many client writes each Txn of the write
 * batcher held; whether the node's watch is live, and how often it had to start again. Observed
 * per request to etcd, not per client request (a batch of writes is one Txn), so prom-client's
 * own observe() is cheap enough here.
 */
export function registerEtcdMetrics(registry: Registry, store: EtcdStore): void {
  const requests = new Histogram({
    name: 'kv_etcd_request_duration_seconds',
    help: 'How long each request from this node to an etcd member took, by call (txn, range, put, deleterange, lease_grant, ...); failed ones too.',
    labelNames: ['call'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'kv_etcd_request_failures_total',
    help: 'Requests to etcd that failed, by call and failure: unreachable (nothing reached etcd), ambiguous (no answer: a write may have been applied), refused (etcd answered an error).',
    labelNames: ['call', 'failure'] as const,
    registers: [registry],
  });
  const batches = new Histogram({
    name: 'kv_etcd_batch_writes',
    help: 'Client writes per etcd Txn sent by the write batcher (1: a write sent alone); deletes and transactions are not batched.',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'kv_etcd_watch_restarts_total',
    help: "Times this node's watch on etcd started again since start: from the next revision, counted once live again (restart), or by loading the whole keyspace first, after etcd compacted the history it needed or while its quota was full (reload).",
    labelNames: ['how'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'kv_etcd_watch_live',
    help: "1 while this node's watch on etcd is live and its cache serves reads; 0 while it loads, reconnects or catches up (reads then go to etcd).",
    registers: [registry],
    collect() {
      this.set(store.watchLive ? 1 : 0);
    },
  });
  store.observe({
    request(call, seconds, failure) {
      requests.observe({ call }, seconds);
      if (failure !== undefined) failures.inc({ call, failure });
    },
    batch(writes) {
      batches.observe(writes);
    },
    watch(how) {
      restarts.inc({ how });
    },
  });
}
