import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { ChangeBatch, ListPage, ListQuery } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { FakeClock } from './helpers.js';

/* The memory engine's side of listing and history: snapshot lifetimes, the records they keep, memory, compaction. */

function query(fields: Partial<ListQuery> = {}): ListQuery {
  return { prefix: '', limit: 100, reverse: false, values: true, count: false, ...fields };
}

function next(store: MemoryStore, q: ListQuery, page: ListPage): ListPage {
  if (page.next === undefined) throw new Error('no next page');
  return store.list({ ...q, from: page.next });
}

function cursorExpired(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError && err.reason === 'cursor_expired') return err;
    throw err;
  }
  throw new Error('expected cursor_expired');
}

const values = (page: ListPage) => page.items.map((i) => [i.key, i.value]);

describe('snapshots of the memory engine', () => {
  it('a record a listing needs is kept when an older listing lets go of it, even when its room is wanted again', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock, cursors: { ttlMs: 1000, maxCursors: 10 } });
    for (const k of ['a', 'b', 'c']) store.create(k, '"v1"');
    const q = query({ limit: 1 });
    const older = store.list(q); // pinned at 3
    clock.advance(600);
    store.replace('a', '"v2"'); // 4
    const newer = store.list(q); // pinned at 4
    store.replace('c', '"v2"'); // 5: c's first record is needed by both
    clock.advance(500); // the older listing is idle for 1100 ms, the newer for 500
    store.maintain();
    expect(store.pinnedSnapshots).toBe(1);
    // Writes of the same size would reuse a freed record.
    for (let i = 0; i < 5; i++) store.create(`x${i}`, '"zz"');
    expect(values(newer)).toEqual([['a', '"v2"']]);
    const second = next(store, q, newer);
    expect(values(second)).toEqual([['b', '"v1"']]);
    expect(values(next(store, q, second))).toEqual([['c', '"v1"']]);
    expect(cursorExpired(() => next(store, q, older)).details).toMatchObject({ revision: 3, lastKey: 'a' });
  });
  it('while a listing is pinned, an overwrite or delete leaves the record it reads; letting go frees them', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    for (let i = 0; i < 10; i++) store.create(`k${i}`, '"same size"');
    const q = query({ limit: 2 });
    const first = store.list(q);
    for (let i = 0; i < 10; i++) store.replace(`k${i}`, '"same-size"'); // in place, were nothing pinned
    store.delete('k9');
    store.create('k10', '"new"');
    expect(store.retainedRecords).toBe(10);
    const all = [first];
    while (all.at(-1)?.next !== undefined) all.push(next(store, q, all.at(-1) as ListPage));
    expect(all.flatMap(values)).toEqual(Array.from({ length: 10 }, (_, i) => [`k${i}`, '"same size"']));
    clock.advance(60_000);
    store.maintain();
    expect(store.pinnedSnapshots).toBe(0);
    expect(store.retainedRecords).toBe(0);
    expect(store.retainedBytes).toBe(0);
  });

  it('a listing idle for KV_CURSOR_TTL_MS is let go; each use starts its lifetime again', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock, cursors: { ttlMs: 1000 } });
    for (const k of ['a', 'b', 'c']) store.create(k, '1');
    const q = query({ limit: 1 });
    const first = store.list(q);
    clock.advance(999);
    const second = next(store, q, first);
    clock.advance(999);
    const third = next(store, q, second);
    expect(values(third)).toEqual([['c', '1']]);
    clock.advance(1000);
    expect(cursorExpired(() => next(store, q, second)).details).toMatchObject({ revision: 3, lastKey: 'b' });
  });

  it('past KV_MAX_CURSORS the least recently used listing is let go', () => {
    const store = new MemoryStore({ clock: new FakeClock(), cursors: { maxCursors: 2 } });
    store.create('a', '1');
    store.create('b', '1');
    const q = query({ limit: 1 });
    const one = store.list(q); // at 2
    store.create('c', '1');
    const two = store.list(q); // at 3
    next(store, q, one); // one is now the most recently used
    store.create('d', '1');
    const three = store.list(q); // at 4: two goes
    expect(store.pinnedSnapshots).toBe(2);
    cursorExpired(() => next(store, q, two));
    expect(values(next(store, q, one))).toEqual([['b', '1']]);
    expect(values(next(store, q, three))).toEqual([['b', '1']]);
  });

  it('listings at the same revision share one snapshot', () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    for (const k of ['a', 'b', 'c']) store.create(k, '1');
    store.list(query({ limit: 1 }));
    store.list(query({ limit: 2, reverse: true }));
    expect(store.pinnedSnapshots).toBe(1);
  });

  it('records kept for listings count against KV_MAX_MEMORY_BYTES, and yield to writes: those listings expire', () => {
    const store = new MemoryStore({ clock: new FakeClock(), limits: { maxMemoryBytes: 20_000 } });
    const value = JSON.stringify('x'.repeat(100));
    let n = 0;
    while (store.usedBytes < 12_000) store.create(`k${n++}`, value);
    const q = query({ limit: 1 });
    const page = store.list(q);
    // Overwriting every key twice would need room for three copies of each: the listing gives way.
    for (let round = 0; round < 2; round++) for (let i = 0; i < n; i++) store.replace(`k${i}`, value);
    expect(store.pinnedSnapshots).toBe(0);
    expect(store.usedBytes + store.retainedBytes).toBeLessThanOrEqual(20_000);
    cursorExpired(() => next(store, q, page));
  });

  it('records are not moved between slabs while a listing is pinned, and the ordered index follows them once they are', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    const value = (i: number) => JSON.stringify(`${i}`.padStart(150, '-'));
    const n = 120_000; // about 24 MB of records: several 4 MiB slabs
    for (let i = 0; i < n; i++) store.create(`k${String(i).padStart(6, '0')}`, value(i));
    // Free most records, scattered over every slab, so maintain() wants to move the rest.
    for (let i = 0; i < n; i++) if (i % 10 !== 0) store.delete(`k${String(i).padStart(6, '0')}`);
    const q = query({ limit: 1000 });
    const first = store.list(q);
    const reserved = store.reservedBytes;
    for (let i = 0; i < 50; i++) store.maintain();
    expect(store.reservedBytes).toBe(reserved); // nothing moved, no slab given back
    const pages = [first];
    while (pages.at(-1)?.next !== undefined) pages.push(next(store, q, pages.at(-1) as ListPage));
    const kept = Array.from({ length: n / 10 }, (_, j) => [`k${String(j * 10).padStart(6, '0')}`, value(j * 10)]);
    expect(pages.flatMap(values)).toEqual(kept);
    clock.advance(60_000);
    for (let i = 0; i < 200; i++) store.maintain();
    expect(store.reservedBytes).toBeLessThan(reserved / 2);
    expect(values(store.list(query({ limit: 1000 })))).toEqual(kept.slice(0, 1000));
    const all = [store.list(q)];
    while (all.at(-1)?.next !== undefined) all.push(next(store, q, all.at(-1) as ListPage));
    expect(all.flatMap(values)).toEqual(kept);
    expect(store.get('k000010')?.value).toBe(value(10));
  });
});

describe('a durable snapshot of the memory engine', () => {
  it('iterates every entry live at its revision, in key order, whatever is written meanwhile, until released', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    store.create('b', '"b1"');
    store.create('a', '"a1"', { ttlMs: 1000 });
    store.create('c', '"c1"');
    store.create('gone', '1', { ttlMs: 500 });
    clock.advance(500);
    const snapshot = store.snapshot();
    expect(snapshot.revision).toBe(5); // gone's expiry was committed first
    const it = snapshot.entries()[Symbol.iterator]();
    expect(it.next().value).toMatchObject({ key: 'a', value: '"a1"', version: 1, revision: 2 });
    store.replace('b', '"b2"');
    store.delete('c');
    store.create('bb', '1');
    clock.advance(1000);
    store.sweepExpired();
    expect([...snapshot.entries()].map((e) => [e.key, e.value])).toEqual([
      ['a', '"a1"'],
      ['b', '"b1"'],
      ['c', '"c1"'],
    ]);
    expect(it.next().value).toMatchObject({ key: 'b', value: '"b1"' });
    expect(store.retainedRecords).toBe(3);
    snapshot.release();
    snapshot.release();
    expect(store.pinnedSnapshots).toBe(0);
    expect(store.retainedRecords).toBe(0);
  });
});

describe('the change history of the memory engine', () => {
  it('keeps the latest KV_WATCH_HISTORY revisions; before them is HistoryCompacted with the oldest held', () => {
    const store = new MemoryStore({ clock: new FakeClock(), history: { maxRevisions: 3 } });
    const batches: ChangeBatch[] = [];
    store.subscribe((b) => batches.push(b));
    for (let i = 0; i < 5; i++) store.create(`k${i}`, '1');
    expect(store.changesSince(1, 10)).toEqual({ compacted: true, oldestRevision: 3 });
    expect(store.changesSince(2, 10)).toEqual(batches.slice(2));
    expect(store.changesSince(5, 10)).toEqual([]);
  });

  it('keeps no more than KV_WATCH_HISTORY_BYTES, by estimate', () => {
    const store = new MemoryStore({ clock: new FakeClock(), history: { maxBytes: 10_000 } });
    for (let i = 0; i < 20; i++) store.create(`k${i}`, JSON.stringify('x'.repeat(1000)));
    const compacted = store.changesSince(0, 100);
    expect(compacted).toMatchObject({ compacted: true });
    const oldest = (compacted as { oldestRevision: number }).oldestRevision;
    expect(oldest).toBeGreaterThan(15);
    expect(store.changesSince(oldest - 1, 100)).toHaveLength(20 - oldest + 1);
  });

  it('with no history a watch can start only at the current revision', () => {
    const store = new MemoryStore({ clock: new FakeClock(), history: { maxRevisions: 0 } });
    store.create('a', '1');
    store.create('b', '1');
    expect(store.changesSince(1, 10)).toEqual({ compacted: true, oldestRevision: 3 });
    expect(store.changesSince(2, 10)).toEqual([]);
  });

  it('change records carry no previous value when previousValues is off', () => {
    const store = new MemoryStore({ clock: new FakeClock(), previousValues: false });
    store.create('a', '1');
    store.replace('a', '2');
    expect(store.capabilities.previousValues).toBe(false);
    expect((store.changesSince(0, 10) as ChangeBatch[]).map((b) => 'prev' in (b.changes[0] as object))).toEqual([false, false]);
  });
});
