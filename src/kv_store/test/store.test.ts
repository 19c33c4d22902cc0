import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryCost, orderIndexBytes } from '../src/store/memory/entry-cost.js';
import type { ExpiryQueue } from '../src/store/memory/expiry-queue.js';
import { MemoryStore, SWEEP_BATCH } from '../src/store/memory/memory-store.js';
import { recordClassBytes } from '../src/store/memory/record-table.js';
import { type ChangeBatch, NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { FakeClock, sync, T0 } from './helpers.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', (clock, limits) => new MemoryStore({ clock, limits: limits ?? {} }), entryCost);

describe('MemoryStore', () => {
  it('charges each entry its record (header, key and value bytes, rounded to its size class) and index shares, and gives it back on delete', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    store.create('abc', '"hello"');
    // 48-byte header + 3 + 7 = 58 bytes: the 64-byte class, plus 16 bytes of hash index and the
    // record's place in the ordered index (an address in a page at least a quarter full).
    const ordered = 16;
    expect(orderIndexBytes(3)).toBe(ordered);
    expect(store.usedBytes).toBe(64 + 16 + ordered);
    expect(store.usedBytes).toBe(entryCost('abc', '"hello"'));
    store.replace('abc', JSON.stringify('x'.repeat(100)));
    expect(store.usedBytes).toBe(160 + 16 + ordered); // 48 + 3 + 102 = 153: the 160-byte class
    store.replace('abc', '1', { ttlMs: 10_000 });
    // 48 + 3 + 1 = 52: the 56-byte class; an entry with a TTL also pays for its expiry-queue
    // items (a time and a key hash, 12 bytes, two at most as stale ones are pruned).
    expect(store.usedBytes).toBe(56 + 16 + ordered + 24);
    expect(store.usedBytes).toBe(entryCost('abc', '1', true));
    store.delete('abc');
    expect(store.usedBytes).toBe(0);
    expect(store.size).toBe(0);
  });

  it('charges the UTF-8 bytes of keys and values (CJK is 3 bytes a character)', () => {
    expect(entryCost('k', `"${'キ'.repeat(20)}"`)).toBe(recordClassBytes(48 + 1 + 62) + 16 + orderIndexBytes(1));
    expect(entryCost('ключ', '"abc"')).toBe(recordClassBytes(48 + 8 + 5) + 16 + orderIndexBytes(8));
    expect(entryCost('k', '"abc"')).toBe(56 + 16 + 16);
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
    store.create('a', '1', { ttlMs: 1000 });
    store.create('b', '2');
    clock.advance(1000);
    expect(store.size).toBe(2);
    expect(store.hasExpired()).toBe(true);
    expect(store.sweepExpired()).toBe(1);
    expect(store.hasExpired()).toBe(false);
    expect(store.size).toBe(1);
    expect(store.usedBytes).toBe(entryCost('b', '2'));
  });

  it('a sweep with a deadline stops once the clock has passed it, looking every 8 items; sweepStep ends a step on its time', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    for (let i = 0; i < 100; i++) store.create(`k${i}`, '1', { ttlMs: 1000 });
    clock.advance(1000);
    expect(store.sweepExpired(SWEEP_BATCH, clock.now(), clock.now() - 1)).toBe(7);
    expect(store.size).toBe(93);
    expect(store.sweepExpired(SWEEP_BATCH, clock.now(), clock.now())).toBe(93);
    expect(store.size).toBe(0);

    // A clock that moves 1 ms at every look: a step of the sweeper ends after SWEEP_STEP_MS.
    let t = 1_000_000;
    let ticking = false;
    const ticks = new MemoryStore({ clock: { now: () => (ticking ? t++ : t) } });
    for (let i = 0; i < 100; i++) ticks.create(`k${i}`, '1', { ttlMs: 1000 });
    t += 1000;
    ticking = true;
    expect(ticks.sweepStep()).toBe(true);
    const afterOne = ticks.size;
    expect(afterOne).toBeLessThan(100);
    expect(afterOne).toBeGreaterThan(0);
    let steps = 1;
    while (ticks.sweepStep()) steps++;
    expect(ticks.size).toBe(0);
    expect(steps).toBeGreaterThan(2);
  });

  it('sweeps at most SWEEP_BATCH entries by default', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    for (let i = 0; i < SWEEP_BATCH + 5; i++) store.create(`k${i}`, '1', { ttlMs: 1000 });
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
    store.create('k', '0', { ttlMs: 1000 });
    for (let i = 1; i <= 20_000; i++) {
      clock.advance(1);
      store.replace('k', String(i), { ttlMs: 1000 });
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

describe('MemoryStore.sweepExpired', () => {
  it('removes nothing before anything has expired', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    store.create('k', '1', { ttlMs: 1000 });
    store.create('j', '1');
    expect(store.sweepExpired()).toBe(0);
    expect(store.revision).toBe(2);
  });

  it('reclaims expired entries in batches of at most `limit`, each a commit of its own', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const batches: ChangeBatch[] = [];
    for (let i = 0; i < 5; i++) store.create(`t${i}`, '1', { ttlMs: 1000 });
    store.create('forever', '1');
    store.subscribe((batch) => batches.push(batch));
    clock.advance(1000);
    expect(store.sweepExpired(2)).toBe(2);
    expect(store.revision).toBe(8);
    expect(store.sweepExpired(2)).toBe(2);
    expect(store.sweepExpired(2)).toBe(1);
    expect(store.sweepExpired(2)).toBe(0);
    expect(store.revision).toBe(11);
    for (let i = 0; i < 5; i++) expect(store.get(`t${i}`)).toBeUndefined();
    expect(store.get('forever')?.value).toBe('1');
    expect(store.revision).toBe(11);
    // One expiry a batch, each at the next revision; entries expiring at the same time go in any order.
    expect(batches.map((b) => [b.revision, b.changes.length, b.changes[0]?.revision, b.changes[0]?.type])).toEqual(
      [7, 8, 9, 10, 11].map((r) => [r, 1, r, 'delete']),
    );
    expect(batches.map((b) => (b.changes[0] as { key: string }).key).sort()).toEqual(['t0', 't1', 't2', 't3', 't4']);
  });

  it('reclaims the earliest expiry first', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    store.create('c', '1', { ttlMs: 3000 });
    store.create('a', '1', { ttlMs: 1000 });
    store.create('b', '1', { ttlMs: 2000 });
    clock.advance(3000);
    expect(store.sweepExpired(1)).toBe(1);
    // Back to before b and c expire: only a must be gone.
    clock.time = T0 + 1500;
    expect(store.get('a')).toBeUndefined();
    expect(store.get('b')?.value).toBe('1');
    expect(store.get('c')?.value).toBe('1');
  });

  it('does not sweep a replaced entry at its old expiry time', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    store.create('k', '1', { ttlMs: 1000 });
    store.replace('k', '2', { ttlMs: 10_000 });
    store.create('j', '1', { ttlMs: 1000 });
    store.replace('j', '2');
    clock.advance(5000);
    expect(store.sweepExpired()).toBe(0);
    expect(store.get('k')?.value).toBe('2');
    expect(store.get('j')?.value).toBe('2');
    expect(store.revision).toBe(4);
  });
});

describe('MemoryStore record memory follows what is stored (maintain)', () => {
  const MIB = 1_048_576;

  /** Runs maintain() as 500 of the sweeper's ticks would (50 s; each call does a bounded step). */
  function settle(store: MemoryStore): void {
    for (let tick = 0; tick < 500; tick++) store.maintain();
  }

  it('gives back the slabs of deleted entries, also across value sizes (fixed: an empty store held 296 MiB)', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    for (const size of [100, 1000, 10_000]) {
      const value = JSON.stringify('x'.repeat(size));
      let n = 0;
      while (store.usedBytes < 12 * MIB) store.create(`k${size}-${n++}`, value);
      expect(store.reservedBytes).toBeGreaterThanOrEqual(12 * MIB);
      for (let i = 0; i < n; i++) store.delete(`k${size}-${i}`);
      settle(store);
      expect(store.usedBytes).toBe(0);
      expect(store.reservedBytes, `after ${size}-byte values`).toBeLessThanOrEqual(4 * MIB);
    }
  });

  it('moves live entries out of sparse slabs; every entry kept reads back exactly', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    const kept = new Map<string, string>();
    for (const size of [60, 500, 5000]) {
      const target = store.usedBytes + 10 * MIB;
      let n = 0;
      for (; store.usedBytes < target; n++) {
        const key = `k${size}-${n}`;
        const value = JSON.stringify(`${n}:${'y'.repeat(size)}`);
        store.create(key, value, n % 7 === 0 ? { ttlMs: 3_600_000 } : {});
        if (n % 40 === 0) kept.set(key, value);
      }
      for (let i = 0; i < n; i++) if (i % 40 !== 0) store.delete(`k${size}-${i}`);
    }
    const usedBefore = store.usedBytes;
    settle(store);
    expect(store.usedBytes).toBe(usedBefore);
    expect(store.reservedBytes).toBeLessThan(store.usedBytes + 3 * 4 * MIB);
    expect(store.size).toBe(kept.size);
    for (const [key, value] of kept) expect(store.get(key)?.value, key).toBe(value);
    // Overwrites, deletes and creates still work on the moved records.
    for (const [key] of kept) {
      expect(sync(store.replace(key, '"moved"')).version).toBe(2);
      store.delete(key);
      expect(sync(store.create(key, '1')).value).toBe('1');
    }
  });
});

describe('MemoryStore under a full store and a moving clock (fixed bugs found in review)', () => {
  it('a replace that must sweep to make room keeps its own entry: the sweep uses the write’s time', () => {
    // The clock moves between the write's reading and any later one: k expires in between.
    const times: number[] = [];
    let t = 1_000_000;
    const clock = { now: () => times.shift() ?? t };
    const probe = new MemoryStore({ clock });
    probe.create('victim', '"victim-value"');
    probe.create('e', '1', { ttlMs: 1000 });
    probe.create('k', '2', { ttlMs: 2000 });
    const full = probe.usedBytes;
    const store = new MemoryStore({ clock, limits: { maxMemoryBytes: full } });
    store.create('victim', '"victim-value"');
    store.create('e', '1', { ttlMs: 1000 });
    store.create('k', '2', { ttlMs: 2000 });
    times.push(t + 1500, t + 2500);
    const replaced = store.replace('k', `"${'x'.repeat(8)}"`, { ttlMs: 60_000 });
    expect(replaced).toMatchObject({ key: 'k', version: 2 });
    t += 2500;
    expect(store.get('victim')?.value).toBe('"victim-value"');
    expect(store.get('k')?.value).toBe(`"${'x'.repeat(8)}"`);
    expect(store.get('e')).toBeUndefined();
  });

  it('a sweep is bounded by items popped, stale ones included; stale items do not pile up', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    for (let i = 0; i < 20_000; i++) store.create(`key-${i}`, '1', { ttlMs: 3_600_000 });
    // A PUT without ttl clears the expiry: the queue items become stale and are compacted away.
    for (let i = 0; i < 20_000; i++) store.replace(`key-${i}`, '2');
    const queue = (store as unknown as { expiry: ExpiryQueue }).expiry;
    expect(queue.size).toBeLessThanOrEqual(1024);
    for (let i = 0; i < 5000; i++) store.create(`ttl-${i}`, '1', { ttlMs: 1000 });
    clock.advance(3_600_001);
    expect(store.sweepExpired(100)).toBeLessThanOrEqual(100);
    while (store.hasExpired()) store.sweepExpired();
    expect(store.size).toBe(20_000);
    expect(store.get('ttl-0')).toBeUndefined();
  });
});

describe('MemoryStore keys', () => {
  it('refuses keys with lone surrogates, which UTF-8 cannot tell apart (the HTTP layer refuses them first)', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    expect(() => store.create('a\uD800', '1')).toThrow(RangeError);
    expect(() => store.get('a\uDC00')).toThrow(RangeError);
    expect(store.size).toBe(0);
    expect(sync(store.create('a\uD83D\uDD11', '1')).key).toBe('a🔑');
    expect(store.get('a🔑')?.value).toBe('1');
  });
});

describe('MemoryStore journal and replay (the hooks persistence uses)', () => {
  it('hands each batch to the journal before applying it; a journal that throws leaves the store unchanged', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    const logged: ChangeBatch[] = [];
    let fail = false;
    store.setJournal({
      append(batch) {
        // The batch is logged before it is applied: the store does not have it yet.
        expect(store.revision).toBe(batch.revision - 1);
        if (fail) throw new StoreError('persistence_failed', { why: 'disk full' });
        logged.push(batch);
        return undefined;
      },
    });
    sync(store.create('a', '1'));
    fail = true;
    expect(() => store.create('b', '2')).toThrow('the store is read-only: disk full');
    expect(() => store.replace('a', '3')).toThrow(StoreError);
    expect(() => store.delete('a')).toThrow(StoreError);
    expect(store.revision).toBe(1);
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')).toMatchObject({ value: '1', version: 1 });
    expect(logged.map((b) => b.revision)).toEqual([1]);
  });

  it('answers a write once the promise the journal returns settles', async () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    let release: () => void = () => {};
    store.setJournal({ append: () => new Promise<void>((resolve) => (release = resolve)) });
    const created = store.create('a', '1');
    expect(created).toBeInstanceOf(Promise);
    let done = false;
    void (created as Promise<unknown>).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    release();
    expect(await created).toMatchObject({ key: 'a', version: 1, revision: 1 });
  });

  it('replays logged batches at their own revisions without journaling them again', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    const journaled: number[] = [];
    store.setJournal({ append: (batch) => void journaled.push(batch.revision) });
    store.replay({
      revision: 5,
      changes: [{ type: 'put', key: 'a', value: '1', version: 3, revision: 5, createdAt: T0, updatedAt: T0, expiresAt: NEVER }],
    });
    store.replay({ revision: 9, changes: [{ type: 'delete', key: 'a', revision: 9, reason: 'delete' }] });
    expect(() => store.replay({ revision: 9, changes: [] })).toThrow(RangeError);
    expect(store.revision).toBe(9);
    expect(store.get('a')).toBeUndefined();
    expect(sync(store.create('a', '2'))).toMatchObject({ version: 1, revision: 10 });
    expect(journaled).toEqual([10]);
  });
});
