import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import type { CacheFollower } from '../src/store/etcd/cache-follower.js';
import type { CallOutcome, EtcdCalls } from '../src/store/etcd/etcd-calls.js';
import { EtcdCommitter } from '../src/store/etcd/etcd-commit.js';
import type { EtcdKeyValue, EtcdTxnResponse } from '../src/store/etcd/etcd-wire.js';
import { KeyspaceCache } from '../src/store/etcd/keyspace-cache.js';
import type { LeaseBuckets } from '../src/store/etcd/lease-buckets.js';
import { EtcdLayout, encodeRecord } from '../src/store/etcd/stored-record.js';
import { DEFAULT_HISTORY } from '../src/store/memory/memory-store.js';
import { NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';

// What the write path concludes about a try etcd did not answer, when a later try finds the
// compares failing (etcd-commit.ts, findApplied). A real cluster leaves a try unanswered and
// compacts the history a watch needs only by chance, so etcd's calls are scripted here and the
// node's cache is moved on by hand, as its watch would move it.

const b64 = (text: string) => Buffer.from(text).toString('base64');
const layout = new EtcdLayout('kv/');

/** The stored record of `key` as etcd holds it, written by `write` at `revision`. */
function record(key: string, value: string, write: string, revision: number): EtcdKeyValue {
  const entry = { value, version: 1, createdAt: 1000, updatedAt: 1000, expiresAt: NEVER };
  return { key: b64(layout.dataKey(key)), value: b64(encodeRecord(entry, write)), mod_revision: String(revision) };
}

/** A committer over a live cache holding `a` at revision 5, whose etcd calls answer as `script` says. */
function committer(script: (call: number, outcome: CallOutcome) => EtcdTxnResponse) {
  const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
  cache.load([record('a', '"theirs"', 'other:1', 5)], 5);
  let calls = 0;
  const etcd = {
    timeoutMs: 10_000,
    send: async (_path: string, _body: unknown, outcome: CallOutcome = { ambiguous: false }) => script(++calls, outcome),
  };
  const writes = new EtcdCommitter({
    calls: etcd as unknown as EtcdCalls,
    layout,
    cache,
    follower: { state: 'live' } as CacheFollower,
    leases: {} as LeaseBuckets,
    clock: systemClock,
    maxKeys: Number.POSITIVE_INFINITY,
    maxMemoryBytes: Number.POSITIVE_INFINITY,
    nodeId: 'node',
  });
  return { cache, writes, calls: () => calls };
}

/** etcd's answer to a try whose compares failed at `revision`: the fresh read of `a`. */
function failed(revision: number, a: EtcdKeyValue): EtcdTxnResponse {
  return { header: { revision: String(revision) }, succeeded: false, responses: [{ response_range: { kvs: [a] } }] } as EtcdTxnResponse;
}

const replaceA = { checks: [], ops: [{ op: 'replace' as const, key: 'a', value: '"mine"' }] };

describe('a write whose try etcd did not answer', () => {
  it('is planned again when the watch shows the revisions since and the write is not among them', async () => {
    const { cache, writes, calls } = committer((call, outcome) => {
      if (call === 1) {
        // The first try went unanswered; etcd applied another node's write of `a` at 6, which
        // the watch brings, and the retry's compares fail on it.
        outcome.ambiguous = true;
        cache.apply([{ kv: record('a', '"other"', 'other:2', 6) }]);
        return failed(6, record('a', '"other"', 'other:2', 6));
      }
      // Planned again on what the retry read, and applied at 7 (the watch brings it back).
      cache.apply([{ kv: record('a', '"mine"', 'node:2', 7) }]);
      return { header: { revision: '7' }, succeeded: true, responses: [] } as EtcdTxnResponse;
    });
    const outcome = await writes.commit(replaceA, 'put');
    expect(outcome).toMatchObject({ succeeded: true, revision: 7 });
    expect(calls()).toBe(2);
  });

  it('is 503 when the node loaded the keyspace while it was on its way: the write may have been applied and overwritten', async () => {
    const { cache, writes, calls } = committer((_call, outcome) => {
      // The first try went unanswered and WAS applied at 6; another node overwrote `a` at 7; the
      // watch lost the history and loaded the keyspace at 7, which holds only the newest record.
      outcome.ambiguous = true;
      cache.load([record('a', '"other"', 'other:2', 7)], 7, cache.unsettled());
      return failed(7, record('a', '"other"', 'other:2', 7));
    });
    const error = await writes.commit(replaceA, 'put').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ reason: 'backend_unavailable' });
    expect((error as Error).message).toMatch(
      /loaded the keyspace from etcd while it was on its way.*may have been, and then overwritten by another write; read the key/,
    );
    // Not planned and sent again: that would apply the write a second time, over the other node's.
    expect(calls()).toBe(1);
  });

  it('is found in a reload that holds its record, and answered as applied', async () => {
    const { cache, writes, calls } = committer((_call, outcome) => {
      outcome.ambiguous = true;
      cache.load([record('a', '"mine"', 'node:1', 6)], 8, cache.unsettled());
      return failed(8, record('a', '"mine"', 'node:1', 6));
    });
    const outcome = await writes.commit(replaceA, 'put');
    expect(outcome).toMatchObject({ succeeded: true, revision: 6 });
    expect(calls()).toBe(1);
  });
});
