import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryCost } from '../src/store/memory/entry-cost.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type { ChangeBatch, ListPage, ListQuery } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import { FakeClock } from './helpers.js';

/*
 * Model-based: random interleavings of writes, expiries, sweeps, maintenance and paged listings
 * against the memory engine. The model is the state the change feed describes, kept for every
 * revision; every page of every listing must equal the model's state at the listing's revision,
 * and the cursor table must keep exactly the listings a model of it keeps (lifetime and LRU
 * bound). After every step: no record is kept for snapshots once none is pinned, and the bytes
 * charged are those of the live entries.
 */

const KEYS = ['a', 'ab', 'a/x', 'a/y', 'a/y/z', 'b', 'é', '\u{E000}', '\u{FFFD}', '\u{1F600}', '\u{10000}'];
const PREFIXES = ['', '', 'a', 'a/', '\u{1F600}'];
const TTL_MS = 5000;
const MAX_CURSORS = 2;

type Op =
  | { op: 'put'; key: string; size: number; ttl: number | undefined }
  | { op: 'del'; key: string }
  | { op: 'tick'; ms: number }
  | { op: 'sweep' }
  | { op: 'maintain' }
  | { op: 'list'; prefix: string; limit: number; reverse: boolean; delimiter: string | undefined; start: string | undefined }
  | { op: 'next'; which: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      key: fc.constantFrom(...KEYS),
      size: fc.constantFrom(1, 9, 60, 200),
      ttl: fc.option(fc.constantFrom(500, 2000), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(0, 1, 400, 1000, 2000, 3000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('maintain' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('list' as const),
      prefix: fc.constantFrom(...PREFIXES),
      limit: fc.constantFrom(1, 1, 2, 4),
      reverse: fc.boolean(),
      delimiter: fc.option(fc.constant('/'), { nil: undefined }),
      start: fc.option(fc.constantFrom('a/', 'ab', 'é'), { nil: undefined }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('next' as const), which: fc.nat() }) },
);

interface ModelEntry {
  readonly value: string;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
}
type State = ReadonlyMap<string, ModelEntry>;

const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What a whole listing of `q` over `state` shows, in order: keys (with their entries) and rolled-up prefixes. */
function expected(state: State, q: ListQuery): string[] {
  const keys = [...state.keys()]
    .filter((k) => k.startsWith(q.prefix) && (q.start === undefined || bytewise(k, q.start) >= 0))
    .sort(bytewise);
  const out: string[] = [];
  for (const key of keys) {
    const cut = q.delimiter === undefined ? -1 : key.indexOf(q.delimiter, q.prefix.length);
    const shown = cut === -1 ? `key:${key}` : `prefix:${key.slice(0, cut + (q.delimiter as string).length)}`;
    if (out.at(-1) !== shown) out.push(shown);
  }
  return q.reverse ? out.reverse() : out;
}

/** A page's keys and prefixes in the listing's order. */
function shown(page: ListPage, reverse: boolean): string[] {
  const all = [...page.items.map((i) => ({ s: i.key, t: `key:${i.key}` })), ...page.prefixes.map((p) => ({ s: p, t: `prefix:${p}` }))];
  all.sort((x, y) => bytewise(x.s, y.s) * (reverse ? -1 : 1));
  return all.map((x) => x.t);
}

interface OpenListing {
  readonly query: ListQuery;
  readonly revision: number;
  readonly want: string[];
  seen: string[];
  next: ListPage['next'];
}

function run(ops: readonly Op[]): void {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock, cursors: { ttlMs: TTL_MS, maxCursors: MAX_CURSORS } });
  // The model: the state after each revision, from the change feed.
  let state = new Map<string, ModelEntry>();
  const states = new Map<number, State>([[0, new Map()]]);
  store.subscribe((batch: ChangeBatch) => {
    state = new Map(state);
    for (const c of batch.changes) {
      if (c.type === 'delete') state.delete(c.key);
      else
        state.set(c.key, {
          value: c.value,
          version: c.version,
          revision: c.revision,
          createdAt: c.createdAt,
          updatedAt: c.updatedAt,
          expiresAt: c.expiresAt,
        });
    }
    states.set(batch.revision, state);
  });
  // The model of the cursor table: revision -> last use, least recent first.
  const cursors = new Map<number, number>();
  const expireIdle = () => {
    for (const [revision, used] of cursors) if (clock.now() - used >= TTL_MS) cursors.delete(revision);
  };
  const touch = (revision: number) => {
    cursors.delete(revision);
    cursors.set(revision, clock.now());
  };
  const open: OpenListing[] = [];

  const checkPage = (listing: OpenListing, page: ListPage) => {
    expect(page.revision).toBe(listing.revision);
    const items = page.items.map((i) => [i.key, i.version, i.revision, i.createdAt, i.updatedAt, i.expiresAt, i.value]);
    const modelState = states.get(listing.revision) as State;
    expect(items).toEqual(
      page.items.map((i) => {
        const m = modelState.get(i.key) as ModelEntry;
        return [i.key, m.version, m.revision, m.createdAt, m.updatedAt, m.expiresAt, m.value];
      }),
    );
    expect(page.items.length + page.prefixes.length).toBeLessThanOrEqual(listing.query.limit);
    listing.seen.push(...shown(page, listing.query.reverse));
    listing.next = page.next;
    if (page.next === undefined) expect(listing.seen).toEqual(listing.want);
    else expect(listing.seen).toEqual(listing.want.slice(0, listing.seen.length));
  };

  for (const op of ops) {
    switch (op.op) {
      case 'put': {
        const value = JSON.stringify('v'.repeat(op.size));
        if (store.get(op.key) === undefined) store.create(op.key, value, { ttlMs: op.ttl });
        else store.replace(op.key, value, { ttlMs: op.ttl });
        break;
      }
      case 'del':
        if (store.get(op.key) !== undefined) store.delete(op.key);
        break;
      case 'tick':
        clock.advance(op.ms);
        break;
      case 'sweep':
        store.sweepExpired();
        break;
      case 'maintain':
        store.maintain();
        expireIdle();
        break;
      case 'list': {
        const query: ListQuery = {
          prefix: op.prefix,
          start: op.start,
          limit: op.limit,
          reverse: op.reverse,
          values: true,
          count: false,
          delimiter: op.delimiter,
        };
        expireIdle();
        const page = store.list(query);
        // Due expiries were committed first: the listing's state holds no key past its time.
        const atRevision = states.get(page.revision) as State;
        for (const [key, e] of atRevision) expect(e.expiresAt, `${key} listed after its expiry`).toBeGreaterThan(clock.now());
        const listing: OpenListing = { query, revision: page.revision, want: expected(atRevision, query), seen: [], next: undefined };
        checkPage(listing, page);
        if (page.next !== undefined) {
          touch(page.revision);
          if (cursors.size > MAX_CURSORS) cursors.delete(cursors.keys().next().value as number);
          open.push(listing);
        }
        break;
      }
      case 'next': {
        const listing = open.length === 0 ? undefined : open[op.which % open.length];
        if (listing === undefined || listing.next === undefined) break;
        expireIdle();
        const held = cursors.has(listing.revision);
        let page: ListPage | undefined;
        try {
          page = store.list({ ...listing.query, from: listing.next });
        } catch (err) {
          if (!(err instanceof StoreError) || err.reason !== 'cursor_expired') throw err;
        }
        expect(page !== undefined, `listing at ${listing.revision} held: ${held}`).toBe(held);
        if (page === undefined) {
          open.splice(open.indexOf(listing), 1);
          break;
        }
        touch(listing.revision);
        checkPage(listing, page);
        if (page.next === undefined) open.splice(open.indexOf(listing), 1);
        break;
      }
    }
    expect(store.pinnedSnapshots).toBe(cursors.size);
    if (store.pinnedSnapshots === 0) expect(store.retainedBytes).toBe(0);
    let charged = 0;
    for (const [key, e] of state) charged += entryCost(key, e.value, e.expiresAt !== Number.POSITIVE_INFINITY);
    expect(store.usedBytes).toBe(charged);
  }
  clock.advance(TTL_MS);
  store.maintain();
  expect(store.pinnedSnapshots).toBe(0);
  expect(store.retainedRecords).toBe(0);
  store.close();
}

describe('listings against a model (fast-check)', () => {
  it('every page equals the model at its revision; snapshots keep exactly what they need', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 80 }), (ops) => run(ops)),
      { numRuns: 300 },
    );
  });
});
