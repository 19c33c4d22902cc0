import { describe, expect, it, onTestFinished } from 'vitest';
import type { Clock } from '../src/clock.js';
import type { StoreLimits } from '../src/store/memory/memory-store.js';
import { type ChangeBatch, type Entry, type KvStore, NEVER, type Preconditions, type PreviousValue } from '../src/store/store.js';
import { StoreError, type StoreErrorReason } from '../src/store/store-error.js';
import { FakeClock, T0 } from './helpers.js';
import { listContract } from './store-contract-list.js';
import { txnContract } from './store-contract-txn.js';

/**
 * The store port's contract: every backend runs this suite unchanged (the way every unstorage
 * driver runs one `testDriver`). Everything is awaited, so a backend may answer with promises.
 * Time comes only from the injected fake clock, so TTL behaviour is tested without sleeping.
 *
 * Two capability flags (store.ts, StoreCapabilities) let a backend differ where it genuinely
 * must, and the suite reads them instead of skipping anything:
 * - `sharedRevisions` (etcd): revisions come from a counter others write to as well, so a new
 *   store starts where that counter is. The suite counts revisions from the store's revision at
 *   the start of each test (`rev(n)`: n commits later); with nobody else writing during a test,
 *   the steps are still exactly one per commit.
 * - `lazyExpiry` (etcd): an expired entry is hidden at once, but its removal is committed later
 *   by the backend (etcd's lease), not by the read or write that finds it. The suite then
 *   expects reads and refused writes of an expired key to commit nothing (`expiries` is 0
 *   instead of 1), and tests the backend's own expiry commits in the backend's own suite.
 */

/** Makes an empty store that reads time from `clock` and enforces `limits`; the suite closes it. */
export type StoreFactory = (clock: Clock, limits?: Partial<StoreLimits>) => KvStore | Promise<KvStore>;

/** The cost of one entry under the backend's memory accounting, for the limit tests. */
export type EntryCost = (key: string, value: string, expiring?: boolean) => number;

/** If-Match / If-None-Match conditions naming revisions, as the API passes them on. */
function tags(...revisions: number[]) {
  return revisions.map((r) => ({ tag: String(r), weak: false }));
}
const ifMatch = (...revisions: number[]): Preconditions => ({ ifMatch: tags(...revisions) });

/** An entry's own fields (a backend may hand back a richer object, such as its change record). */
function fields(entry: Entry | undefined): Entry | undefined {
  if (entry === undefined) return undefined;
  const { key, value, version, revision, createdAt, updatedAt, expiresAt } = entry;
  return { key, value, version, revision, createdAt, updatedAt, expiresAt };
}

/** A change's `prev` member as a backend with previous values in its change records has it; none for one without. */
function withPrevious(store: KvStore) {
  return (prev: PreviousValue | null): { prev?: PreviousValue | null } => (store.capabilities.previousValues ? { prev } : {});
}

/** Asserts that `write` is refused with `reason` and takes no revision. */
async function expectRefused(store: KvStore, reason: StoreErrorReason, write: () => unknown): Promise<StoreError> {
  const before = store.revision;
  let caught: unknown;
  try {
    await write();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StoreError);
  expect((caught as StoreError).reason).toBe(reason);
  expect(store.revision).toBe(before);
  return caught as StoreError;
}

/** Asserts that `write` is refused with key_not_found (it may still commit an expiry on the way). */
async function expectRefusedWithExpiry(write: () => unknown): Promise<void> {
  await expect((async () => write())()).rejects.toMatchObject({ reason: 'key_not_found' });
}

export function storeContract(name: string, factory: StoreFactory, cost: EntryCost): void {
  const setup = async (limits?: Partial<StoreLimits>) => {
    const clock = new FakeClock();
    const store = await factory(clock, limits);
    onTestFinished(() => store.close());
    const batches: ChangeBatch[] = [];
    store.subscribe((batch) => batches.push(batch));
    const base = store.revision;
    /** The revision `n` commits after the start of the test. */
    const rev = (n: number) => base + n;
    /** Revisions a read or refused write commits when it finds an expired key (the expiry). */
    const expiries = store.capabilities.lazyExpiry === true ? 0 : 1;
    return { clock, store, batches, rev, expiries };
  };

  describe(`${name} keeps the store port's contract`, () => {
    describe('create, get, replace, delete', () => {
      it("an empty store has revision 0 (or its shared counter's), no keys and an id", async () => {
        const { store, rev } = await setup();
        expect(store.revision).toBe(store.capabilities.sharedRevisions === true ? rev(0) : 0);
        expect(await store.get('foo')).toBeUndefined();
        expect(store.id).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('create returns version 1 at the next revision, and get returns the same entry', async () => {
        const { store, rev } = await setup();
        const created = fields(await store.create('foo', '"bar"'));
        expect(created).toEqual({
          key: 'foo',
          value: '"bar"',
          version: 1,
          revision: rev(1),
          createdAt: T0,
          updatedAt: T0,
          expiresAt: NEVER,
        });
        expect(fields(await store.get('foo'))).toEqual(created);
        expect(store.revision).toBe(rev(1));
      });

      it('keeps the value text exactly as given, whitespace and all', async () => {
        const { store } = await setup();
        await store.create('k', '{ "a" : [1, 2.50, 1e999] }');
        expect((await store.get('k'))?.value).toBe('{ "a" : [1, 2.50, 1e999] }');
      });

      it('create of a live key is refused with key_exists naming the key', async () => {
        const { store } = await setup();
        await store.create('foo', '1');
        const err = await expectRefused(store, 'key_exists', () => store.create('foo', '2'));
        expect(err.message).toBe("key 'foo' already exists");
        expect((await store.get('foo'))?.value).toBe('1');
      });

      it('replace bumps the version by one, keeps createdAt and sets updatedAt', async () => {
        const { store, clock, rev } = await setup();
        await store.create('foo', '1');
        clock.advance(1500);
        expect(fields(await store.replace('foo', '2'))).toEqual({
          key: 'foo',
          value: '2',
          version: 2,
          revision: rev(2),
          createdAt: T0,
          updatedAt: T0 + 1500,
          expiresAt: NEVER,
        });
        expect((await store.replace('foo', '3')).version).toBe(3);
        expect(await store.get('foo')).toMatchObject({ value: '3', version: 3, revision: rev(3) });
      });

      it('replace of a missing key is refused with key_not_found and never creates it', async () => {
        const { store } = await setup();
        const err = await expectRefused(store, 'key_not_found', () => store.replace('nope', '1'));
        expect(err.message).toBe("key 'nope' not found");
        expect(await store.get('nope')).toBeUndefined();
      });

      it('delete removes the key, takes a revision and returns it', async () => {
        const { store, rev } = await setup();
        await store.create('foo', '1');
        expect(await store.delete('foo')).toBe(rev(2));
        expect(await store.get('foo')).toBeUndefined();
        expect(store.revision).toBe(rev(2));
      });

      it('delete of a missing key is refused with key_not_found', async () => {
        const { store } = await setup();
        await expectRefused(store, 'key_not_found', () => store.delete('nope'));
      });

      it('keys that name Object.prototype members are ordinary keys', async () => {
        const { store } = await setup();
        expect(await store.get('__proto__')).toBeUndefined();
        expect(await store.get('toString')).toBeUndefined();
        await store.create('__proto__', '1');
        await store.create('constructor', '2');
        expect((await store.get('__proto__'))?.value).toBe('1');
        expect((await store.get('constructor'))?.value).toBe('2');
        expect(await store.get('toString')).toBeUndefined();
      });
    });

    describe('revisions', () => {
      it('every create, overwrite and delete takes the next revision, store-wide', async () => {
        const { store, rev } = await setup();
        expect((await store.create('a', '1')).revision).toBe(rev(1));
        expect((await store.create('b', '1')).revision).toBe(rev(2));
        expect((await store.replace('a', '2')).revision).toBe(rev(3));
        await store.delete('b');
        expect(store.revision).toBe(rev(4));
        expect((await store.get('a'))?.revision).toBe(rev(3));
      });

      it('a key deleted and created again gets a new revision and version 1, never an old revision', async () => {
        const { store, rev } = await setup();
        const first = await store.create('k', '1');
        await store.replace('k', '2');
        await store.delete('k');
        const again = await store.create('k', '3');
        expect(again.version).toBe(1);
        expect(again.revision).toBe(rev(4));
        expect(again.revision).toBeGreaterThan(first.revision);
      });

      it('refused writes take no revision', async () => {
        const { store, rev } = await setup({ maxKeys: 1 });
        await store.create('a', '1');
        await expectRefused(store, 'key_exists', () => store.create('a', '2'));
        await expectRefused(store, 'key_not_found', () => store.replace('b', '2'));
        await expectRefused(store, 'version_mismatch', () => store.replace('a', '2', { conditions: ifMatch(rev(99)) }));
        await expectRefused(store, 'insufficient_storage', () => store.create('b', '2'));
        expect(store.revision).toBe(rev(1));
      });
    });

    describe('the change feed', () => {
      it('announces each committed write once, in order, as a batch under its revision', async () => {
        const { store, batches, rev } = await setup();
        await store.create('a', '1');
        await store.replace('a', '2', { ttlMs: 5000 });
        await store.delete('a');
        const prev = withPrevious(store);
        expect(batches).toEqual([
          {
            revision: rev(1),
            changes: [
              expect.objectContaining({ type: 'put', key: 'a', value: '1', version: 1, revision: rev(1), expiresAt: NEVER, ...prev(null) }),
            ],
          },
          {
            revision: rev(2),
            changes: [
              expect.objectContaining({
                type: 'put',
                key: 'a',
                value: '2',
                version: 2,
                revision: rev(2),
                expiresAt: T0 + 5000,
                ...prev({ value: '1', version: 1, revision: rev(1) }),
              }),
            ],
          },
          {
            revision: rev(3),
            changes: [
              { type: 'delete', key: 'a', revision: rev(3), reason: 'delete', ...prev({ value: '2', version: 2, revision: rev(2) }) },
            ],
          },
        ]);
      });

      it('announces an expiry, also one a read discovers, as a delete with reason expired (lazyExpiry: later, not by the read)', async () => {
        const { store, clock, batches, rev, expiries } = await setup();
        await store.create('k', '1', { ttlMs: 1000 });
        clock.advance(1000);
        expect(await store.get('k')).toBeUndefined();
        const prev = withPrevious(store)({ value: '1', version: 1, revision: rev(1) });
        const expiry = { revision: rev(2), changes: [{ type: 'delete', key: 'k', revision: rev(2), reason: 'expired', ...prev }] };
        expect(batches.slice(1)).toEqual(expiries === 1 ? [expiry] : []);
        expect(store.revision).toBe(rev(1 + expiries));
      });

      it('announces nothing for refused writes or reads, and nothing once unsubscribed', async () => {
        const { store, batches, rev } = await setup();
        await store.create('a', '1');
        await expectRefused(store, 'key_exists', () => store.create('a', '2'));
        await expectRefused(store, 'version_mismatch', () => store.delete('a', { conditions: ifMatch(rev(7)) }));
        await store.get('a');
        expect(batches).toHaveLength(1);
        const later: ChangeBatch[] = [];
        const unsubscribe = store.subscribe((batch) => later.push(batch));
        await store.replace('a', '3');
        unsubscribe();
        await store.replace('a', '4');
        expect(later.map((b) => b.revision)).toEqual([rev(2)]);
        expect(batches.map((b) => b.revision)).toEqual([rev(1), rev(2), rev(3)]);
      });
    });

    describe('preconditions', () => {
      it("If-Match '*' matches any live entry", async () => {
        const { store } = await setup();
        await store.create('k', '1');
        expect((await store.replace('k', '2', { conditions: { ifMatch: '*' } })).version).toBe(2);
        await store.delete('k', { conditions: { ifMatch: '*' } });
        expect(await store.get('k')).toBeUndefined();
      });

      it("If-Match '*' on a missing key is key_not_found", async () => {
        const { store } = await setup();
        await expectRefused(store, 'key_not_found', () => store.replace('k', '1', { conditions: { ifMatch: '*' } }));
        await expectRefused(store, 'key_not_found', () => store.delete('k', { conditions: { ifMatch: '*' } }));
      });

      it('If-Match with a list matches when it holds the current revision', async () => {
        const { store, rev } = await setup();
        await store.create('other', '0');
        await store.create('k', '1'); // revision 2
        expect((await store.replace('k', '2', { conditions: ifMatch(rev(2)) })).revision).toBe(rev(3));
        expect((await store.replace('k', '3', { conditions: ifMatch(rev(1), rev(3), rev(7)) })).revision).toBe(rev(4));
        await store.delete('k', { conditions: ifMatch(rev(4)) });
        expect(await store.get('k')).toBeUndefined();
      });

      it('a stale If-Match is refused with version_mismatch and the entry is unchanged', async () => {
        const { store, rev } = await setup();
        await store.create('k', '1');
        await store.replace('k', '2'); // revision 2
        const err = await expectRefused(store, 'version_mismatch', () => store.replace('k', '3', { conditions: ifMatch(rev(1)) }));
        expect(err.message).toBe(`key 'k' is at revision ${rev(2)} (ETag "${rev(2)}"), but If-Match asked for "${rev(1)}"`);
        await expectRefused(store, 'version_mismatch', () => store.delete('k', { conditions: ifMatch(rev(1)) }));
        expect(await store.get('k')).toMatchObject({ value: '2', version: 2, revision: rev(2) });
      });

      it('a weak If-Match tag never matches', async () => {
        const { store, rev } = await setup();
        await store.create('k', '1');
        await expectRefused(store, 'version_mismatch', () =>
          store.replace('k', '2', { conditions: { ifMatch: [{ tag: String(rev(1)), weak: true }] } }),
        );
      });

      it("If-None-Match '*' or the current tag refuses an overwrite or delete of a live key (issue 16)", async () => {
        const { store, rev } = await setup();
        await store.create('k', '1');
        await expectRefused(store, 'version_mismatch', () => store.replace('k', '2', { conditions: { ifNoneMatch: '*' } }));
        await expectRefused(store, 'version_mismatch', () => store.delete('k', { conditions: { ifNoneMatch: tags(rev(1)) } }));
        await expectRefused(store, 'version_mismatch', () =>
          store.delete('k', { conditions: { ifNoneMatch: [{ tag: String(rev(1)), weak: true }] } }),
        );
        expect((await store.replace('k', '2', { conditions: { ifNoneMatch: tags(rev(7)) } })).version).toBe(2);
        expect(await store.get('k')).toMatchObject({ value: '2', version: 2 });
      });
    });

    describe('TTL', () => {
      it('a ttl sets expiresAt to now + ttl', async () => {
        const { store } = await setup();
        expect((await store.create('k', '1', { ttlMs: 10_000 })).expiresAt).toBe(T0 + 10_000);
        expect((await store.create('half', '1', { ttlMs: 500 })).expiresAt).toBe(T0 + 500);
      });

      it('an entry is served until its expiry time and never from then on', async () => {
        const { store, clock } = await setup();
        await store.create('k', '1', { ttlMs: 10_000 });
        clock.advance(9_999);
        expect((await store.get('k'))?.value).toBe('1');
        clock.advance(1);
        expect(await store.get('k')).toBeUndefined();
        clock.advance(60_000);
        expect(await store.get('k')).toBeUndefined();
      });

      it('an expiry takes exactly one revision (lazyExpiry: none when a read finds it)', async () => {
        const { store, clock, rev, expiries } = await setup();
        await store.create('k', '1', { ttlMs: 1000 });
        clock.advance(1000);
        expect(await store.get('k')).toBeUndefined();
        expect(await store.get('k')).toBeUndefined();
        expect(store.revision).toBe(rev(1 + expiries));
      });

      it('an expired key cannot be replaced or deleted; the refusal still records the expiry (lazyExpiry: records nothing)', async () => {
        const { store, clock, rev, expiries } = await setup();
        await store.create('k', '1', { ttlMs: 1000 });
        await store.create('j', '1', { ttlMs: 1000 });
        clock.advance(1000);
        await expectRefusedWithExpiry(() => store.replace('k', '2'));
        expect(store.revision).toBe(rev(2 + expiries)); // k's expiry
        await expectRefusedWithExpiry(() => store.delete('j'));
        expect(store.revision).toBe(rev(2 + 2 * expiries)); // j's expiry
        expect(await store.get('k')).toBeUndefined();
        expect(await store.get('j')).toBeUndefined();
      });

      it('an expired key can be created again, as version 1 at a fresh revision', async () => {
        const { store, clock, rev, expiries } = await setup();
        await store.create('k', '1', { ttlMs: 1000 });
        clock.advance(1000);
        expect(fields(await store.create('k', '2'))).toEqual({
          key: 'k',
          value: '2',
          version: 1,
          revision: rev(2 + expiries), // 1 create, 2 expiry, 3 create
          createdAt: T0 + 1000,
          updatedAt: T0 + 1000,
          expiresAt: NEVER,
        });
      });

      it('replace without a ttl clears the expiry', async () => {
        const { store, clock } = await setup();
        await store.create('k', '1', { ttlMs: 1000 });
        expect((await store.replace('k', '2')).expiresAt).toBe(NEVER);
        clock.advance(3_600_000);
        expect((await store.get('k'))?.value).toBe('2');
      });

      it('replace with a ttl counts it from the replace', async () => {
        const { store, clock } = await setup();
        await store.create('k', '1');
        clock.advance(5000);
        expect((await store.replace('k', '2', { ttlMs: 2000 })).expiresAt).toBe(T0 + 7000);
        clock.advance(1999);
        expect((await store.get('k'))?.value).toBe('2');
        clock.advance(1);
        expect(await store.get('k')).toBeUndefined();
      });
    });

    describe('limits', () => {
      it('past maxKeys a create is insufficient_storage; reads, overwrites and deletes still work', async () => {
        const { store } = await setup({ maxKeys: 2 });
        await store.create('a', '1');
        await store.create('b', '1');
        const err = await expectRefused(store, 'insufficient_storage', () => store.create('c', '1'));
        expect(err.message).toContain('2 keys');
        expect(await store.get('c')).toBeUndefined();
        expect((await store.get('a'))?.value).toBe('1');
        expect((await store.replace('a', '"a much longer value than before"')).version).toBe(2);
        await store.delete('b');
        expect((await store.create('c', '1')).version).toBe(1);
        await expectRefused(store, 'insufficient_storage', () => store.create('d', '1'));
      });

      it('past maxMemoryBytes a growing write is insufficient_storage; non-growing overwrites still work', async () => {
        // SMALL and TINY share a size class; BIG needs the next one up.
        const SMALL = '"xx"';
        const TINY = '1';
        const BIG = `"${'x'.repeat(20)}"`;
        expect(cost('a', TINY)).toBe(cost('a', SMALL));
        expect(cost('a', BIG)).toBeGreaterThan(cost('a', SMALL));
        const { store } = await setup({ maxMemoryBytes: cost('a', SMALL) + cost('b', SMALL) });
        await store.create('a', SMALL);
        await store.create('b', SMALL);
        await expectRefused(store, 'insufficient_storage', () => store.create('c', TINY));
        await expectRefused(store, 'insufficient_storage', () => store.replace('a', BIG));
        expect((await store.replace('a', '"yy"')).version).toBe(2);
        expect((await store.replace('a', TINY)).version).toBe(3);
        expect((await store.replace('a', '"zz"')).version).toBe(4);
        await expectRefused(store, 'insufficient_storage', () => store.replace('a', BIG));
        expect((await store.get('b'))?.value).toBe(SMALL);
      });

      it('a delete makes room again under maxMemoryBytes', async () => {
        const { store, rev } = await setup({ maxMemoryBytes: cost('a', '1') });
        await store.create('a', '1');
        await expectRefused(store, 'insufficient_storage', () => store.create('b', '1'));
        await store.delete('a');
        expect((await store.create('b', '1')).revision).toBe(rev(3));
      });

      it('expired entries make room under maxKeys, even before they are swept', async () => {
        const { store, clock, rev, expiries } = await setup({ maxKeys: 2 });
        await store.create('a', '1', { ttlMs: 1000 });
        await store.create('b', '1');
        clock.advance(1000);
        expect((await store.create('c', '1')).revision).toBe(rev(3 + expiries)); // a's expiry took revision 3
        expect(await store.get('a')).toBeUndefined();
      });

      it('expired entries make room under maxMemoryBytes, even before they are swept', async () => {
        const { store, clock, rev, expiries } = await setup({ maxMemoryBytes: cost('a', '1', true) });
        await store.create('a', '1', { ttlMs: 1000 });
        await expectRefused(store, 'insufficient_storage', () => store.create('b', '1'));
        clock.advance(1000);
        expect((await store.create('b', '1')).revision).toBe(rev(2 + expiries));
      });

      it('an expired key can be created again in a full store', async () => {
        const { store, clock, rev, expiries } = await setup({ maxKeys: 1 });
        await store.create('a', '1', { ttlMs: 1000 });
        clock.advance(1000);
        expect(await store.create('a', '2')).toMatchObject({ value: '2', version: 1, revision: rev(2 + expiries) });
      });
    });

    describe('stats', () => {
      it('count keys and charged bytes, with the limits and the revision', async () => {
        const { store, rev } = await setup({ maxKeys: 10, maxMemoryBytes: 100_000 });
        await store.create('a', '1');
        await store.create('b', '"two"', { ttlMs: 1000 });
        expect(store.stats()).toMatchObject({
          keys: 2,
          bytes: cost('a', '1') + cost('b', '"two"', true),
          limitKeys: 10,
          limitBytes: 100_000,
          revision: rev(2),
        });
      });
    });
  });
  listContract(name, (clock) => factory(clock));
  txnContract(name, factory);
}
