import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryCost } from '../src/store/entry.js';
import type { ExpiryQueue } from '../src/store/expiry-queue.js';
import { MemoryStore, SWEEP_BATCH } from '../src/store/memory-store.js';
import { recordClassBytes } from '../src/store/record-table.js';
import { FakeClock } from './helpers.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', (clock, limits) => new MemoryStore({ clock, limits: limits ?? {} }));

describe('MemoryStore', () => {
  it('charges each entry its record (header, key and value bytes, rounded to its size class) and index share, and gives it back on delete', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    store.create('abc', '"hello"');
    // 48-byte header + 3 + 7 = 58 bytes: the 64-byte class, plus 16 bytes of index.
    expect(store.usedBytes).toBe(64 + 16);
    expect(store.usedBytes).toBe(entryCost('abc', '"hello"'));
    store.replace('abc', JSON.stringify('x'.repeat(100)));
    expect(store.usedBytes).toBe(160 + 16); // 48 + 3 + 102 = 153: the 160-byte class
    store.replace('abc', '1', { ttlSeconds: 10 });
    // 48 + 3 + 1 = 52: the 56-byte class; an entry with a TTL also pays for its expiry-queue
    // item and key copy.
    expect(store.usedBytes).toBe(56 + 16 + 40 + 8);
    expect(store.usedBytes).toBe(entryCost('abc', '1', true));
    store.delete('abc');
    expect(store.usedBytes).toBe(0);
    expect(store.size).toBe(0);
  });

  it('charges the UTF-8 bytes of keys and values (CJK is 3 bytes a character)', () => {
    expect(entryCost('k', `"${'キ'.repeat(20)}"`)).toBe(recordClassBytes(48 + 1 + 62) + 16);
    expect(entryCost('ключ', '"abc"')).toBe(recordClassBytes(48 + 8 + 5) + 16);
    expect(entryCost('k', '"abc"')).toBe(56 + 16);
  });

  it('rounds records up to size classes: multiples of 8 bytes to 256, then eight classes per power of two', () => {
    expect([48, 49, 64, 65, 164, 256, 257, 288, 289, 512, 513, 1025].map(recordClassBytes)).toEqual([
      48, 56, 64, 72, 168, 256, 288, 288, 320, 512, 576, 1152,
    ]);
    fc.assert(
      fc.property(fc.integer({ min: 48, max: 64 * 1_048_576 }), (bytes) => {
        const size = recordClassBytes(bytes);
        expect(size).toBeGreaterThanOrEqual(bytes);
        expect(size % 8).toBe(0);
        expect(size - bytes).toBeLessThanOrEqual(Math.max(7, bytes / 8));
      }),
    );
  });

  it('gives back the bytes of expired entries when they are swept', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    store.create('a', '1', { ttlSeconds: 1 });
    store.create('b', '2');
    clock.advance(1000);
    expect(store.size).toBe(2);
    expect(store.hasExpired()).toBe(true);
    expect(store.sweepExpired()).toBe(1);
    expect(store.hasExpired()).toBe(false);
    expect(store.size).toBe(1);
    expect(store.usedBytes).toBe(entryCost('b', '2'));
  });

  it('sweeps at most SWEEP_BATCH entries by default', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    for (let i = 0; i < SWEEP_BATCH + 5; i++) store.create(`k${i}`, '1', { ttlSeconds: 1 });
    clock.advance(1000);
    expect(store.sweepExpired()).toBe(SWEEP_BATCH);
    expect(store.hasExpired()).toBe(true);
    expect(store.sweepExpired()).toBe(5);
    expect(store.size).toBe(0);
    expect(store.revision).toBe(2 * (SWEEP_BATCH + 5));
  });

  it('keeps its expiry heap bounded when one key is rewritten with a ttl many times', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    store.create('k', '0', { ttlSeconds: 1 });
    for (let i = 1; i <= 20_000; i++) {
      clock.advance(1);
      store.replace('k', String(i), { ttlSeconds: 1 });
    }
    // White-box: the heap holds stale items lazily, but compaction keeps it O(live entries).
    const heap = (store as unknown as { expiry: ExpiryQueue }).expiry;
    expect(heap.size).toBeLessThanOrEqual(2 * 1 + 1024 + 1);
    clock.advance(1000);
    expect(store.sweepExpired()).toBe(1);
    expect(store.get('k')).toBeUndefined();
  });

  it('uses no limits unless given', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    for (let i = 0; i < 10_000; i++) store.create(`k${i}`, '1');
    expect(store.size).toBe(10_000);
  });
});
