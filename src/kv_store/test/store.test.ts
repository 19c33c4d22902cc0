import { describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD_BYTES, entryCost } from '../src/store/entry.js';
import type { ExpiryQueue } from '../src/store/expiry-queue.js';
import { MemoryStore, SWEEP_BATCH } from '../src/store/memory-store.js';
import { FakeClock } from './helpers.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', (clock, limits) => new MemoryStore({ clock, limits: limits ?? {} }));

describe('MemoryStore', () => {
  it('charges each entry its key and value length plus a fixed overhead, and gives it back on delete', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    store.create('abc', '"hello"');
    expect(store.usedBytes).toBe(ENTRY_OVERHEAD_BYTES + 3 + 7);
    store.replace('abc', '1');
    expect(store.usedBytes).toBe(entryCost('abc', '1'));
    store.delete('abc');
    expect(store.usedBytes).toBe(0);
    expect(store.size).toBe(0);
  });

  it('charges text outside ASCII two bytes a character, as V8 stores it (CJK was undercharged by half)', () => {
    expect(entryCost('k', '"キー"')).toBe(ENTRY_OVERHEAD_BYTES + 1 + 2 * 4);
    expect(entryCost('ключ', '"abc"')).toBe(ENTRY_OVERHEAD_BYTES + 2 * 4 + 5);
    expect(entryCost('k', '"abc"')).toBe(ENTRY_OVERHEAD_BYTES + 1 + 5);
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
