import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { EtcdEvent } from '../src/store/etcd/etcd-wire.js';
import { KeyspaceCache } from '../src/store/etcd/keyspace-cache.js';
import { EtcdLayout, encodeRecord } from '../src/store/etcd/stored-record.js';
import { NEVER } from '../src/store/store.js';

// Memory, not time: what the etcd node's cache charges an entry (cachedEntryBytes, the bytes
// KV_MAX_MEMORY_BYTES counts) against what the V8 heap really grows by.
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function used(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Puts `n` entries into a fresh cache as watch events, a page at a time; returns bytes charged and heap growth. */
function cacheCost(n: number, keyLength: number, valueLength: number, expiring: boolean) {
  const layout = new EtcdLayout('kv/');
  const now = Date.UTC(2026, 10, 27);
  gc();
  gc();
  const before = used();
  const cache = new KeyspaceCache(layout, { maxRevisions: 0, maxBytes: 0 });
  for (let start = 0; start < n; start += 1000) {
    const events: EtcdEvent[] = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const key = String(i).padStart(keyLength, 'k');
      const value = JSON.stringify(String(i).padStart(valueLength - 2, '0'));
      const record = encodeRecord(
        { value, version: 1, createdAt: now, updatedAt: now, expiresAt: expiring ? now + 3_600_000 : NEVER },
        'abcd1234:1',
      );
      events.push({
        kv: {
          key: Buffer.from(`kv/d/${key}`).toString('base64'),
          value: Buffer.from(record).toString('base64'),
          mod_revision: String(i + 1),
        },
      });
    }
    cache.apply(events);
  }
  gc();
  gc();
  const growth = used() - before;
  const charged = cache.liveCounts(now).bytes;
  expect(cache.size).toBe(n);
  return { charged, growth };
}

describe("the etcd node's cache", () => {
  it('charges within a factor of 1.25 of the heap its entries really take', () => {
    for (const expiring of [false, true]) {
      for (const [keyLength, valueLength] of [
        [16, 16],
        [40, 200],
      ] as const) {
        const { charged, growth } = cacheCost(20_000, keyLength, valueLength, expiring);
        const label = `ttl ${expiring}, key ${keyLength}, value ${valueLength}: charged/heap`;
        expect(charged / growth, label).toBeGreaterThan(1 / 1.25);
        expect(charged / growth, label).toBeLessThan(1.25);
      }
    }
  });
});
