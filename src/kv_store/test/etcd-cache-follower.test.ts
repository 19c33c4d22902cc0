import { describe, expect, it } from 'vitest';
import { CacheFollower } from '../src/store/etcd/cache-follower.js';
import { EtcdError, type EtcdKeyValue, type EtcdRangeResponse, type EtcdWatchMessage } from '../src/store/etcd/etcd-wire.js';
import type { EtcdGrpc } from '../src/store/etcd/etcd-grpc.js';
import { KeyspaceCache } from '../src/store/etcd/keyspace-cache.js';
import { EtcdLayout, encodeRecord } from '../src/store/etcd/stored-record.js';
import { DEFAULT_HISTORY } from '../src/store/memory/memory-store.js';
import { NEVER } from '../src/store/store.js';

// Which of a node's writes on their way a load of the keyspace may have missed (cache-follower.ts,
// load): those sent before etcd answered the load's first read. etcd's answers are scripted here,
// so that a write can be sent at an exact point of a load of two pages.

const b64 = (text: string) => Buffer.from(text).toString('base64');
const layout = new EtcdLayout('kv/');

function record(key: string, write: string, revision: number): EtcdKeyValue {
  const entry = { value: '1', version: 1, createdAt: 1000, updatedAt: 1000, expiresAt: NEVER };
  return { key: b64(layout.dataKey(key)), value: b64(encodeRecord(entry, write)), mod_revision: String(revision) };
}

describe("the cache follower's load", () => {
  it('marks lost the writes sent before etcd answered its first read and not found in it, not those sent after', async () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    // On its way before the load began (a node takes writes once it has read the store id).
    const before = cache.expectWrite('node:1');
    let after: ReturnType<KeyspaceCache['expectWrite']> | undefined;
    const pages: EtcdRangeResponse[] = [
      { header: { revision: '9' }, kvs: [record('a', 'other:1', 7)], more: true } as EtcdRangeResponse,
      { header: { revision: '9' }, kvs: [record('b', 'other:2', 8)], more: false } as EtcdRangeResponse,
    ];
    let calls = 0;
    const etcd = {
      endpoint: 'http://etcd',
      endpoints: ['http://etcd'],
      call: async (path: string) => {
        if (path !== '/v3/kv/range') throw new Error(`unexpected call ${path}`);
        // Sent while the load reads its second page: after etcd answered the first.
        if (calls === 1) after = cache.expectWrite('node:2');
        return pages[calls++];
      },
      // A watch that says nothing until it is closed.
      watch: (_request: unknown, signal: AbortSignal) =>
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    };
    const follower = new CacheFollower(etcd as unknown as EtcdGrpc, layout, cache, 'node', undefined);
    follower.start();
    try {
      await expect.poll(() => cache.revision).toBe(9);
      expect(cache.size).toBe(2);
      expect(before).toMatchObject({ revision: undefined, lost: true });
      expect(after).toMatchObject({ revision: undefined, lost: false });
    } finally {
      await follower.close();
    }
  });
});

describe("the cache follower's tries while etcd takes no watch", () => {
  it('back off: fewer tries the longer etcd refuses, not one every 100 ms', async () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    let watches = 0;
    const etcd = {
      endpoint: 'http://etcd',
      endpoints: ['http://etcd'],
      call: async () => ({ header: { revision: '9' }, kvs: [], more: false }) as EtcdRangeResponse,
      // Every watch fails at once, as against a member that refuses connections.
      watch: async () => {
        watches++;
        throw new EtcdError('unreachable', 'connect ECONNREFUSED');
      },
    };
    const follower = new CacheFollower(etcd as unknown as EtcdGrpc, layout, cache, 'node', undefined);
    follower.start();
    try {
      await expect.poll(() => cache.revision).toBe(9);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      // Waits of 100, 200, 400 and 800 ms fit five tries in 1.6 s (a slow machine makes fewer); one
      // every 100 ms would be sixteen.
      expect(watches).toBeGreaterThanOrEqual(1);
      expect(watches).toBeLessThanOrEqual(6);
      expect(follower.state).not.toBe('live');
    } finally {
      await follower.close();
    }
  });
});

describe('a watch etcd cancels', () => {
  it("says etcd's reason while the node is behind, not only that the watch ended", async () => {
    const cache = new KeyspaceCache(layout, DEFAULT_HISTORY);
    const etcd = {
      endpoint: 'http://etcd',
      endpoints: ['http://etcd'],
      call: async () => ({ header: { revision: '9' }, kvs: [], more: false }) as EtcdRangeResponse,
      // Every watch is created and canceled at once, as etcd answers one its user may not read.
      watch: async (_request: unknown, _signal: AbortSignal, onMessage: (message: EtcdWatchMessage) => void) => {
        onMessage({ created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' } as EtcdWatchMessage);
      },
    };
    const follower = new CacheFollower(etcd as unknown as EtcdGrpc, layout, cache, 'node', undefined);
    follower.start();
    try {
      await expect
        .poll(() => ({ state: follower.state, reason: follower.reason }))
        .toEqual({
          state: 'behind',
          reason: "the node's watch on etcd is reconnecting (etcd canceled the watch on http://etcd: etcdserver: permission denied)",
        });
    } finally {
      await follower.close();
    }
  });
});
