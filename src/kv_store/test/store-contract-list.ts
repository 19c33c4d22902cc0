import { describe, expect, it, onTestFinished } from 'vitest';
import type { Clock } from '../src/clock.js';
import type { ChangeBatch, KvStore, ListPage, ListQuery } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { FakeClock, T0 } from './helpers.js';

/**
 * The store port's contract for ordered listing and the change history, part of storeContract
 * (store-contract.ts): every backend runs it unchanged. Order is UTF-8 byte order. Revisions
 * count from the store's revision at the start of each test, and expiries a read finds commit
 * nothing with `lazyExpiry` (the capability flags: see store-contract.ts).
 */

type Factory = (clock: Clock) => KvStore | Promise<KvStore>;

/** A first page's query: everything by default. */
function query(fields: Partial<ListQuery> = {}): ListQuery {
  return { prefix: '', limit: 100, reverse: false, values: false, count: false, ...fields };
}

/** Every page of a listing, following `next`; `between` runs after each page (writes meanwhile). */
async function allPages(store: KvStore, q: ListQuery, between: (page: number) => unknown = () => undefined): Promise<ListPage[]> {
  const pages: ListPage[] = [await store.list(q)];
  for (let i = 0; i < 1000; i++) {
    await between(i);
    const next = pages.at(-1)?.next;
    if (next === undefined) return pages;
    pages.push(await store.list({ ...q, from: next }));
  }
  throw new Error('a listing of more than 1000 pages');
}

const keysOf = (pages: readonly ListPage[]) => pages.flatMap((p) => p.items.map((i) => i.key));
const prefixesOf = (pages: readonly ListPage[]) => pages.flatMap((p) => p.prefixes);

export function listContract(name: string, factory: Factory): void {
  const setup = async () => {
    const clock = new FakeClock();
    const store = await factory(clock);
    onTestFinished(() => store.close());
    const base = store.revision;
    /** The revision `n` commits after the start of the test. */
    const rev = (n: number) => base + n;
    /** Revisions a read commits when it finds an expired key (the expiry). */
    const expiries = store.capabilities.lazyExpiry === true ? 0 : 1;
    return { clock, store, rev, expiries };
  };
  const fill = async (store: KvStore, keys: readonly string[]) => {
    for (const key of keys) await store.create(key, JSON.stringify(key));
  };

  describe(`${name}: ordered listing`, () => {
    it('an empty store lists nothing, at its revision, on one page', async () => {
      const { store, rev } = await setup();
      expect(await store.list(query({ count: true }))).toEqual({ revision: rev(0), items: [], prefixes: [], next: undefined, count: 0 });
    });

    it("lists keys in UTF-8 byte order (astral characters after U+E000-U+FFFF, unlike JavaScript's <)", async () => {
      const { store } = await setup();
      const keys = ['b', 'a', 'ab', 'a/b', 'é', '\u{E000}', '\u{FFFD}', '\u{1F600}', '\u{10000}', 'Z', 'a b'];
      await fill(store, keys);
      const bytewise = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(bytewise.indexOf('\u{1F600}')).toBeGreaterThan(bytewise.indexOf('\u{FFFD}'));
      expect(keysOf(await allPages(store, query()))).toEqual(bytewise);
      expect(keysOf(await allPages(store, query({ limit: 3 })))).toEqual(bytewise);
      expect(keysOf(await allPages(store, query({ reverse: true, limit: 2 })))).toEqual([...bytewise].reverse());
    });

    it('shows each item with its numbers and value size, and the value only when asked', async () => {
      const { store, clock, rev } = await setup();
      await store.create('k', '{"a": 1}');
      clock.advance(500);
      await store.replace('k', '"é"', { ttlMs: 2000 });
      const item = { key: 'k', version: 2, revision: rev(2), createdAt: T0, updatedAt: T0 + 500, expiresAt: T0 + 2500, size: 4 };
      expect((await store.list(query())).items).toEqual([{ ...item, value: undefined }]);
      expect((await store.list(query({ values: true }))).items).toEqual([{ ...item, value: '"é"' }]);
    });

    it('keeps to the prefix, and to start (inclusive) and end (exclusive) inside it', async () => {
      const { store } = await setup();
      await fill(store, ['a', 'app', 'app/1', 'app/2', 'app/3', 'app/4', 'apq', 'b']);
      const list = async (fields: Partial<ListQuery>) => keysOf(await allPages(store, query({ limit: 2, ...fields })));
      expect(await list({ prefix: 'app/' })).toEqual(['app/1', 'app/2', 'app/3', 'app/4']);
      expect(await list({ prefix: 'app' })).toEqual(['app', 'app/1', 'app/2', 'app/3', 'app/4']);
      expect(await list({ prefix: 'app/', start: 'app/2', end: 'app/4' })).toEqual(['app/2', 'app/3']);
      expect(await list({ prefix: 'app/', start: 'a', end: 'z' })).toEqual(['app/1', 'app/2', 'app/3', 'app/4']);
      expect(await list({ start: 'app/3' })).toEqual(['app/3', 'app/4', 'apq', 'b']);
      expect(await list({ end: 'app/' })).toEqual(['a', 'app']);
      expect(await list({ prefix: 'app/', start: 'app/2', end: 'app/4', reverse: true })).toEqual(['app/3', 'app/2']);
      expect(await list({ prefix: 'app/', reverse: true })).toEqual(['app/4', 'app/3', 'app/2', 'app/1']);
      expect(await list({ prefix: 'zzz' })).toEqual([]);
      expect(await list({ start: 'c', end: 'b' })).toEqual([]);
    });

    it('gives at most `limit` items a page, says where the next one starts, and none after the last', async () => {
      const { store, rev } = await setup();
      await fill(store, ['a', 'b', 'c', 'd', 'e']);
      const pages = await allPages(store, query({ limit: 2 }));
      expect(pages.map((p) => p.items.map((i) => i.key))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(pages.map((p) => p.next)).toEqual([{ revision: rev(5), after: 'b' }, { revision: rev(5), after: 'd' }, undefined]);
      const exact = await allPages(store, query({ limit: 5 }));
      expect(exact).toHaveLength(1);
      expect(exact[0]?.next).toBeUndefined();
    });

    it('rolls keys that hold the delimiter after the prefix into prefixes, counting each against the limit', async () => {
      const { store } = await setup();
      await fill(store, ['a/1', 'a/2', 'a/x/1', 'b', 'c/1', 'c/2', 'd', 'e/']);
      for (const limit of [1, 2, 3, 100]) {
        const pages = await allPages(store, query({ delimiter: '/', limit }));
        expect(keysOf(pages), `limit ${limit}`).toEqual(['b', 'd']);
        expect(prefixesOf(pages), `limit ${limit}`).toEqual(['a/', 'c/', 'e/']);
        expect(
          pages.every((p) => p.items.length + p.prefixes.length <= limit),
          `limit ${limit}`,
        ).toBe(true);
        const reversed = await allPages(store, query({ delimiter: '/', limit, reverse: true }));
        expect(keysOf(reversed), `limit ${limit}, reverse`).toEqual(['d', 'b']);
        expect(prefixesOf(reversed), `limit ${limit}, reverse`).toEqual(['e/', 'c/', 'a/']);
      }
      const inside = await allPages(store, query({ prefix: 'a/', delimiter: '/', limit: 1 }));
      expect(keysOf(inside)).toEqual(['a/1', 'a/2']);
      expect(prefixesOf(inside)).toEqual(['a/x/']);
    });

    it('counts the keys of the range on a first page that asks', async () => {
      const { store } = await setup();
      await fill(store, ['a/1', 'a/2', 'a/3', 'b/1']);
      expect((await store.list(query({ count: true, limit: 1 }))).count).toBe(4);
      expect((await store.list(query({ count: true, prefix: 'a/', start: 'a/2' }))).count).toBe(2);
      expect((await store.list(query({ count: true, prefix: 'a/', delimiter: '/' }))).count).toBe(3);
      expect((await store.list(query())).count).toBeUndefined();
    });

    it('shows every page of a listing at its first revision, whatever is written between pages', async () => {
      const { store } = await setup();
      const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      await fill(store, keys);
      const revision = store.revision;
      const pages = await allPages(store, query({ limit: 3, values: true }), async (i) => {
        // Between pages: overwrite what is still to come, delete some, add keys before and after.
        await store.replace(keys[19 - i] as string, '"changed"');
        if (i < 4) await store.delete(keys[9 + i] as string);
        await store.create(`k${String(i).padStart(2, '0')}x`, '"new"');
      });
      expect(pages.every((p) => p.revision === revision)).toBe(true);
      expect(keysOf(pages)).toEqual(keys);
      expect(pages.flatMap((p) => p.items.map((i) => i.value))).toEqual(keys.map((k) => JSON.stringify(k)));
      expect(store.revision).toBeGreaterThan(revision);
    });

    it('answers a page again, the same, when its position is sent again (a retry)', async () => {
      const { store } = await setup();
      await fill(store, ['a', 'b', 'c', 'd']);
      const first = await store.list(query({ limit: 2 }));
      const next = first.next as NonNullable<ListPage['next']>;
      const second = await store.list(query({ limit: 2, from: next }));
      await store.delete('c');
      expect(await store.list(query({ limit: 2, from: next }))).toEqual(second);
      expect(second.items.map((i) => i.key)).toEqual(['c', 'd']);
    });

    it('refuses a position at a revision it does not hold with cursor_expired, naming the last key', async () => {
      const { store, rev } = await setup();
      await fill(store, ['a', 'b']);
      // One it has never held (ahead of it); and, where the history is the store's own, a past one
      // no listing pins (with sharedRevisions it is etcd's, held until compacted: tested there).
      const gone = store.capabilities.sharedRevisions === true ? [rev(1000)] : [rev(1), rev(1000)];
      for (const revision of gone) {
        let caught: unknown;
        try {
          await store.list(query({ from: { revision, after: 'a' } }));
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(StoreError);
        expect((caught as StoreError).reason).toBe('cursor_expired');
        expect((caught as StoreError).details).toMatchObject({ revision, lastKey: 'a' });
      }
    });

    it('never lists an expired key; its expiry comes at or before the listing revision (lazyExpiry: later)', async () => {
      const { store, clock, expiries } = await setup();
      const batches: ChangeBatch[] = [];
      store.subscribe((b) => batches.push(b));
      await store.create('a', '1', { ttlMs: 1000 });
      await store.create('b', '1');
      await store.create('c', '1', { ttlMs: 3000 });
      clock.advance(1000);
      const page = await store.list(query({ count: true }));
      expect(page.items.map((i) => i.key)).toEqual(['b', 'c']);
      expect(page.count).toBe(2);
      const expiry = batches.find((b) => b.changes.some((c) => c.key === 'a' && c.type === 'delete'));
      if (expiries === 1) expect(expiry?.revision).toBeLessThanOrEqual(page.revision);
      else expect(expiry).toBeUndefined();
    });
  });

  describe(`${name}: change history`, () => {
    it('hands out the batches after a revision, oldest first, at most `limit`', async () => {
      const { store, rev } = await setup();
      const batches: ChangeBatch[] = [];
      store.subscribe((b) => batches.push(b));
      await store.create('a', '1');
      await store.replace('a', '2');
      await store.create('b', '1');
      await store.delete('a');
      expect(await store.changesSince(0, 100)).toEqual(batches);
      expect(await store.changesSince(rev(0), 100)).toEqual(batches);
      expect(await store.changesSince(rev(2), 100)).toEqual(batches.slice(2));
      expect(await store.changesSince(rev(1), 2)).toEqual(batches.slice(1, 3));
      expect(await store.changesSince(rev(4), 100)).toEqual([]);
      expect(await store.changesSince(rev(9), 100)).toEqual([]);
    });

    it('holds expiries too, as the feed announced them (lazyExpiry: none yet when a read found it)', async () => {
      const { store, clock, rev, expiries } = await setup();
      await store.create('k', '1', { ttlMs: 10 });
      clock.advance(10);
      await store.get('k');
      const held = (await store.changesSince(rev(1), 10)) as ChangeBatch[];
      expect(held.map((b) => b.changes.map((c) => [c.type, c.key, c.type === 'delete' ? c.reason : '']))).toEqual(
        expiries === 1 ? [[['delete', 'k', 'expired']]] : [],
      );
    });
  });
}
