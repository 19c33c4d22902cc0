import type { EtcdFailure } from './etcd-wire.js';

/*
 * What the etcd engine tells its metrics (metrics/etcd-metrics.ts) as it works: each request to
 * an etcd member, each Txn the write batcher sends, each time the node's watch starts again. The
 * engine's parts share one EtcdTelemetry and report to it; until an observer is attached (with
 * KV_METRICS=off, never) a report is one property read. Reports come per request to etcd, not per
 * client request: a batch of writes is one.
 */

/** How the node's watch on etcd started again: from the next revision, counted once it is live again (`restart`); or by loading the whole keyspace again (`reload`). */
export type WatchRestart = 'restart' | 'reload';

export interface EtcdObserver {
  /** One request to an etcd member took `seconds`; `call` names it (txn, range, put, lease_grant…), `failure` says how it failed, if it did. */
  request(call: string, seconds: number, failure: EtcdFailure | undefined): void;
  /** The write batcher sent a batch of `writes` client writes, one etcd Txn (1: a write sent alone, also one of a refused batch sent again alone). */
  batch(writes: number): void;
  /** The node's watch started again. */
  watch(how: WatchRestart): void;
}

/** Where the engine's parts report; a report never fails the work it reports on (an observer that throws is ignored). */
export class EtcdTelemetry {
  observer: EtcdObserver | undefined;

  request(call: string, seconds: number, failure: EtcdFailure | undefined): void {
    try {
      this.observer?.request(call, seconds, failure);
    } catch {
      // A metric is not worth a request.
    }
  }

  batch(writes: number): void {
    try {
      this.observer?.batch(writes);
    } catch {
      // As above.
    }
  }

  watch(how: WatchRestart): void {
    try {
      this.observer?.watch(how);
    } catch {
      // As above.
    }
  }
}

/** The name of an etcd API path as a metric label: `/v3/kv/txn` is `txn`, `/v3/lease/grant` is `lease_grant`. */
export function callName(path: string): string {
  let name = CALL_NAMES.get(path);
  if (name === undefined) {
    name = path
      .replace(/^\/v3\//, '')
      .replace(/^kv\//, '')
      .replaceAll('/', '_');
    CALL_NAMES.set(path, name);
  }
  return name;
}

const CALL_NAMES = new Map<string, string>();
