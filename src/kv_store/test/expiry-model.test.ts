import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { ExpiryQueue } from '../src/store/memory/expiry-queue.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { ChangeBatch } from '../src/store/store.js';
import { FakeClock } from './helpers.js';

/*
 * Expiry tracking against a model. The expiry queue keeps (time, key hash) items and finds an
 * entry through the hash index (findByHash), prunes stale items a few at a time, and the index
 * resizes incrementally meanwhile: random creates, overwrites (with, without and with another
 * TTL), deletes, clock ticks, sweeps and maintenance ticks, over enough keys that the index
 * doubles and halves and the queue is pruned. After every step, every key reads as the model
 * says (an entry whose time has passed is never returned) and every expiry the change feed
 * reports was due. With the degenerate hash (`weak`), most keys share all 32 bits of their hash:
 * an item must still find its own entry among them.
 */
const hashMode = vi.hoisted(() => ({ weak: false }));
vi.mock('../src/store/memory/half-siphash.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/store/memory/half-siphash.js')>();
  return {
    ...original,
    halfSipHash: (key: Parameters<typeof original.halfSipHash>[0], bytes: Uint8Array, length: number): number =>
      hashMode.weak
        ? (0xffffffff - ((length > 0 ? (bytes[length - 1] as number) : 0) % 3)) >>> 0
        : original.halfSipHash(key, bytes, length),
  };
});

type Op =
  | { op: 'put'; key: number; ttl: number | undefined }
  | { op: 'del'; key: number }
  | { op: 'bulk'; from: number; count: number; ttl: number | undefined }
  | { op: 'bulkDel'; from: number; count: number }
  | { op: 'tick'; ms: number }
  | { op: 'sweep'; limit: number }
  | { op: 'maintain' };

const POOL = 1500;
const ttlArb = fc.option(fc.constantFrom(1, 50, 400, 3000), { nil: undefined });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key: fc.nat({ max: POOL - 1 }), ttl: ttlArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.nat({ max: POOL - 1 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('bulk' as const),
      from: fc.nat({ max: POOL - 1 }),
      count: fc.integer({ min: 100, max: 700 }),
      ttl: ttlArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('bulkDel' as const),
      from: fc.nat({ max: POOL - 1 }),
      count: fc.integer({ min: 100, max: 700 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(1, 49, 50, 399, 1000, 5000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const), limit: fc.constantFrom(1, 10, 2000) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'maintain' as const }) },
);

const keyOf = (i: number): string => `key-${i % POOL}`;

/** Every run starts with these: 600 keys that expire and are swept, and 600 TTLs cleared (stale items) and pruned. */
const START: readonly Op[] = [
  { op: 'bulk', from: 0, count: 600, ttl: 50 },
  { op: 'tick', ms: 100 },
  { op: 'sweep', limit: 2000 },
  { op: 'bulk', from: 700, count: 600, ttl: 3000 },
  { op: 'bulk', from: 700, count: 600, ttl: undefined },
  { op: 'maintain' },
];

function run(randomOps: readonly Op[], seen: { expiredByFeed: number; pruned: number }): void {
  const ops = [...START, ...randomOps];
  const clock = new FakeClock();
  const store = new MemoryStore({ clock, history: { maxRevisions: 0 } });
  const queue = (store as unknown as { expiry: ExpiryQueue }).expiry;
  // The model: key -> [value, expiresAt].
  const model = new Map<string, [string, number]>();
  store.subscribe((batch: ChangeBatch) => {
    for (const change of batch.changes) {
      if (change.type === 'delete' && change.reason === 'expired') {
        const held = model.get(change.key);
        // An expiry is reported only for an entry whose time has come.
        expect(held !== undefined && held[1] <= clock.now(), `expiry of ${change.key}`).toBe(true);
        model.delete(change.key);
        seen.expiredByFeed++;
      }
    }
  });
  let serial = 0;
  const put = (key: string, ttl: number | undefined): void => {
    const value = String(serial++);
    const live = model.get(key);
    if (live !== undefined && live[1] > clock.now()) store.replace(key, value, { ttlMs: ttl });
    else {
      // An expired entry still held is expired by the write's own read (the feed above drops it).
      store.create(key, value, { ttlMs: ttl });
    }
    model.set(key, [value, ttl === undefined ? Number.POSITIVE_INFINITY : clock.now() + ttl]);
  };
  const del = (key: string): void => {
    const live = model.get(key);
    if (live === undefined || live[1] <= clock.now()) return;
    store.delete(key);
    model.delete(key);
  };
  const check = (key: string): void => {
    const live = model.get(key);
    const entry = store.get(key);
    if (live === undefined || live[1] <= clock.now()) {
      if (entry !== undefined) expect(entry, `${key} should be absent or expired`).toBeUndefined();
    } else if (entry?.value !== live[0] || entry.expiresAt !== live[1]) {
      expect({ value: entry?.value, expiresAt: entry?.expiresAt }, key).toEqual({ value: live[0], expiresAt: live[1] });
    }
  };
  let step = 0;
  for (const op of ops) {
    switch (op.op) {
      case 'put':
        put(keyOf(op.key), op.ttl);
        break;
      case 'del':
        del(keyOf(op.key));
        break;
      case 'bulk':
        for (let i = 0; i < op.count; i++) put(keyOf(op.from + i), op.ttl);
        break;
      case 'bulkDel':
        for (let i = 0; i < op.count; i++) del(keyOf(op.from + i));
        break;
      case 'tick':
        clock.advance(op.ms);
        break;
      case 'sweep':
        store.sweepExpired(op.limit);
        break;
      case 'maintain': {
        const before = queue.size;
        store.maintain();
        seen.pruned += before - queue.size;
        break;
      }
    }
    // A sample of keys after every step; every key now and then.
    if (++step % 10 === 0) for (let i = 0; i < POOL; i++) check(keyOf(i));
    else for (let i = 0; i < 20; i++) check(keyOf(step * 131 + i * 71));
  }
  // Everything due is swept, and only that: what is left is the model's live keys.
  clock.advance(1);
  while (store.hasExpired()) store.sweepExpired();
  for (let i = 0; i < POOL; i++) check(keyOf(i));
  const live = [...model.values()].filter(([, expiresAt]) => expiresAt > clock.now()).length;
  expect(store.size).toBe(live);
  // Every expiring entry still has its item: past every expiry, a sweep empties the store of them.
  clock.advance(10_000);
  while (store.hasExpired()) store.sweepExpired();
  const forever = [...model.values()].filter(([, expiresAt]) => expiresAt === Number.POSITIVE_INFINITY).length;
  expect(store.size).toBe(forever);
  // Maintenance prunes what stale items are left.
  for (let i = 0; i < 10; i++) store.maintain();
  expect(queue.size).toBe(0);
  store.close();
}

describe('expiry tracking against a model (items are key hashes resolved through the index)', () => {
  it('creates, overwrites with and without TTLs, deletes, ticks, sweeps and maintenance agree with the model', () => {
    const seen = { expiredByFeed: 0, pruned: 0 };
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 80 }), (ops) => run(ops, seen)),
      { numRuns: 40 },
    );
    expect(seen.expiredByFeed).toBeGreaterThan(100);
    expect(seen.pruned).toBeGreaterThan(0);
  });

  it('the same with a degenerate hash: most keys share all 32 bits, and each item still finds its own entry', () => {
    const seen = { expiredByFeed: 0, pruned: 0 };
    hashMode.weak = true;
    try {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 20, maxLength: 60 }), (ops) => run(ops, seen)),
        { numRuns: 15 },
      );
    } finally {
      hashMode.weak = false;
    }
    expect(seen.expiredByFeed).toBeGreaterThan(50);
  });

  it('overwrites without a TTL leave stale items that writes prune a few at a time: the queue stays within twice the live items plus 1,024', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const queue = (store as unknown as { expiry: ExpiryQueue }).expiry;
    for (let i = 0; i < 30_000; i++) store.create(`k${i}`, '1', { ttlMs: 60_000 });
    let largest = 0;
    for (let i = 0; i < 30_000; i++) {
      store.replace(`k${i}`, '2');
      largest = Math.max(largest, queue.size - 2 * (30_000 - i - 1));
    }
    // The worst order for the backward walk (every stale item at the front of the array): the
    // queue overshoots the bound by a bounded amount, and ends within it; no O(queue) pass ran.
    expect(largest).toBeLessThanOrEqual(2 * 1024);
    expect(queue.size).toBeLessThanOrEqual(1024);
    console.log(`expiry queue: at most ${largest - 1024} items over 2 x live + 1024; ${queue.size} items at the end`);
    store.close();
  });
});
