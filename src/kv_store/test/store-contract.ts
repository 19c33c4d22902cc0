import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { type Entry, entryCost } from '../src/store/entry.js';
import type { RevisionCondition, StoreLimits, WriteOptions } from '../src/store/memory-store.js';
import { StoreError, type StoreErrorReason } from '../src/store/store-error.js';
import { FakeClock, T0 } from './helpers.js';

/** What every storage backend offers kv_store; MemoryStore is the first. */
export interface ContractStore {
  /** The revision of the last write (0 before any). */
  readonly revision: number;
  get(key: string): Entry | undefined;
  create(key: string, value: string, options?: WriteOptions): Entry;
  replace(key: string, value: string, options?: WriteOptions): Entry;
  delete(key: string, options?: { readonly ifMatch?: RevisionCondition | undefined }): void;
  sweepExpired(limit?: number): number;
}

/** Makes an empty store that reads time from `clock` and enforces `limits`. */
export type StoreFactory = (clock: Clock, limits?: Partial<StoreLimits>) => ContractStore;

/** Asserts that `write` is refused with `reason` and takes no revision. */
function expectRefused(store: ContractStore, reason: StoreErrorReason, write: () => unknown): StoreError {
  const before = store.revision;
  let caught: unknown;
  try {
    write();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StoreError);
  expect((caught as StoreError).reason).toBe(reason);
  expect(store.revision).toBe(before);
  return caught as StoreError;
}

/**
 * The store contract: any backend must pass it. Time comes only from the injected fake clock,
 * so TTL behaviour is tested without sleeping.
 */
export function storeContract(name: string, factory: StoreFactory): void {
  const setup = (limits?: Partial<StoreLimits>) => {
    const clock = new FakeClock();
    return { clock, store: factory(clock, limits) };
  };

  describe(`${name} keeps the store contract`, () => {
    describe('create, get, replace, delete', () => {
      it('an empty store has revision 0 and no keys', () => {
        const { store } = setup();
        expect(store.revision).toBe(0);
        expect(store.get('foo')).toBeUndefined();
      });

      it('create returns version 1 at the next revision, and get returns the same entry', () => {
        const { store } = setup();
        const created = store.create('foo', '"bar"');
        expect(created).toEqual({
          key: 'foo',
          value: '"bar"',
          version: 1,
          revision: 1,
          createdAt: T0,
          updatedAt: T0,
          expiresAt: null,
        });
        expect(store.get('foo')).toEqual(created);
        expect(store.revision).toBe(1);
      });

      it('keeps the value text exactly as given, whitespace and all', () => {
        const { store } = setup();
        store.create('k', '{ "a" : [1, 2.50, 1e999] }');
        expect(store.get('k')?.value).toBe('{ "a" : [1, 2.50, 1e999] }');
      });

      it('create of a live key is refused with key_exists naming the key', () => {
        const { store } = setup();
        store.create('foo', '1');
        const err = expectRefused(store, 'key_exists', () => store.create('foo', '2'));
        expect(err.message).toContain("'foo'");
        expect(store.get('foo')?.value).toBe('1');
      });

      it('replace bumps the version by one, keeps createdAt and sets updatedAt', () => {
        const { store, clock } = setup();
        store.create('foo', '1');
        clock.advance(5000);
        const replaced = store.replace('foo', '2');
        expect(replaced).toEqual({
          key: 'foo',
          value: '2',
          version: 2,
          revision: 2,
          createdAt: T0,
          updatedAt: T0 + 5000,
          expiresAt: null,
        });
        expect(store.replace('foo', '3').version).toBe(3);
        expect(store.get('foo')).toMatchObject({ value: '3', version: 3, revision: 3 });
      });

      it('replace of a missing key is refused with key_not_found and never creates it', () => {
        const { store } = setup();
        expectRefused(store, 'key_not_found', () => store.replace('nope', '1'));
        expect(store.get('nope')).toBeUndefined();
      });

      it('delete removes the key and takes a revision', () => {
        const { store } = setup();
        store.create('foo', '1');
        store.delete('foo');
        expect(store.get('foo')).toBeUndefined();
        expect(store.revision).toBe(2);
      });

      it('delete of a missing key is refused with key_not_found', () => {
        const { store } = setup();
        expectRefused(store, 'key_not_found', () => store.delete('nope'));
      });

      it('keys that name Object.prototype members are ordinary keys', () => {
        const { store } = setup();
        expect(store.get('__proto__')).toBeUndefined();
        expect(store.get('constructor')).toBeUndefined();
        expect(store.get('toString')).toBeUndefined();
        store.create('__proto__', '1');
        store.create('constructor', '2');
        expect(store.get('__proto__')?.value).toBe('1');
        expect(store.get('constructor')?.value).toBe('2');
        expect(store.get('toString')).toBeUndefined();
      });
    });

    describe('revisions', () => {
      it('every create, overwrite and delete takes the next revision, store-wide', () => {
        const { store } = setup();
        expect(store.create('a', '1').revision).toBe(1);
        expect(store.create('b', '1').revision).toBe(2);
        expect(store.replace('a', '2').revision).toBe(3);
        store.delete('b');
        expect(store.revision).toBe(4);
        expect(store.get('a')?.revision).toBe(3);
      });

      it('a key deleted and created again gets a new revision and version 1, never an old revision', () => {
        const { store } = setup();
        const first = store.create('k', '1');
        store.replace('k', '2');
        store.delete('k');
        const again = store.create('k', '3');
        expect(again.version).toBe(1);
        expect(again.revision).toBe(4);
        expect(again.revision).toBeGreaterThan(first.revision);
      });

      it('refused writes take no revision', () => {
        const { store } = setup({ maxKeys: 1 });
        store.create('a', '1');
        expectRefused(store, 'key_exists', () => store.create('a', '2'));
        expectRefused(store, 'key_not_found', () => store.replace('b', '2'));
        expectRefused(store, 'version_mismatch', () => store.replace('a', '2', { ifMatch: [99] }));
        expectRefused(store, 'insufficient_storage', () => store.create('b', '2'));
        expect(store.revision).toBe(1);
      });
    });

    describe('If-Match conditions', () => {
      it("'*' matches any live entry", () => {
        const { store } = setup();
        store.create('k', '1');
        expect(store.replace('k', '2', { ifMatch: '*' }).version).toBe(2);
        store.delete('k', { ifMatch: '*' });
        expect(store.get('k')).toBeUndefined();
      });

      it("'*' on a missing key is key_not_found", () => {
        const { store } = setup();
        expectRefused(store, 'key_not_found', () => store.replace('k', '1', { ifMatch: '*' }));
        expectRefused(store, 'key_not_found', () => store.delete('k', { ifMatch: '*' }));
      });

      it('a list matches when it holds the current revision', () => {
        const { store } = setup();
        store.create('other', '0');
        store.create('k', '1'); // revision 2
        expect(store.replace('k', '2', { ifMatch: [2] }).revision).toBe(3);
        expect(store.replace('k', '3', { ifMatch: [1, 3, 7] }).revision).toBe(4);
        store.delete('k', { ifMatch: [4] });
        expect(store.get('k')).toBeUndefined();
      });

      it('a stale revision is refused with version_mismatch and the entry is unchanged', () => {
        const { store } = setup();
        store.create('k', '1');
        store.replace('k', '2'); // revision 2
        const err = expectRefused(store, 'version_mismatch', () => store.replace('k', '3', { ifMatch: [1] }));
        expect(err.message).toContain('"2"');
        expectRefused(store, 'version_mismatch', () => store.delete('k', { ifMatch: [1] }));
        expect(store.get('k')).toMatchObject({ value: '2', version: 2, revision: 2 });
      });

      it('an empty list (no valid ETag) matches nothing', () => {
        const { store } = setup();
        store.create('k', '1');
        expectRefused(store, 'version_mismatch', () => store.replace('k', '2', { ifMatch: [] }));
        expectRefused(store, 'version_mismatch', () => store.delete('k', { ifMatch: [] }));
      });
    });

    describe('TTL', () => {
      it('a ttl sets expiresAt to now + ttl seconds', () => {
        const { store } = setup();
        expect(store.create('k', '1', { ttlSeconds: 10 }).expiresAt).toBe(T0 + 10_000);
        expect(store.create('half', '1', { ttlSeconds: 0.5 }).expiresAt).toBe(T0 + 500);
      });

      it('an entry is served until its expiry time and never from then on', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 10 });
        clock.advance(9_999);
        expect(store.get('k')?.value).toBe('1');
        clock.advance(1);
        expect(store.get('k')).toBeUndefined();
        clock.advance(60_000);
        expect(store.get('k')).toBeUndefined();
      });

      it('an expiry takes exactly one revision', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        clock.advance(1000);
        expect(store.get('k')).toBeUndefined();
        expect(store.get('k')).toBeUndefined();
        expect(store.sweepExpired()).toBe(0);
        expect(store.revision).toBe(2);
      });

      it('an expired key cannot be replaced or deleted; the refusal still records the expiry', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        store.create('j', '1', { ttlSeconds: 1 });
        clock.advance(1000);
        expect(() => store.replace('k', '2')).toThrow(expect.objectContaining({ reason: 'key_not_found' }));
        expect(store.revision).toBe(3); // k's expiry
        expect(() => store.delete('j')).toThrow(expect.objectContaining({ reason: 'key_not_found' }));
        expect(store.revision).toBe(4); // j's expiry
        expect(store.get('k')).toBeUndefined();
        expect(store.get('j')).toBeUndefined();
      });

      it('an expired key can be created again, as version 1 at a fresh revision', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        clock.advance(1000);
        const again = store.create('k', '2');
        expect(again).toEqual({
          key: 'k',
          value: '2',
          version: 1,
          revision: 3, // 1 create, 2 expiry, 3 create
          createdAt: T0 + 1000,
          updatedAt: T0 + 1000,
          expiresAt: null,
        });
      });

      it('replace without a ttl clears the expiry', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        expect(store.replace('k', '2').expiresAt).toBeNull();
        clock.advance(3_600_000);
        expect(store.get('k')?.value).toBe('2');
      });

      it('replace with a ttl counts it from the replace', () => {
        const { store, clock } = setup();
        store.create('k', '1');
        clock.advance(5000);
        expect(store.replace('k', '2', { ttlSeconds: 2 }).expiresAt).toBe(T0 + 7000);
        clock.advance(1999);
        expect(store.get('k')?.value).toBe('2');
        clock.advance(1);
        expect(store.get('k')).toBeUndefined();
      });

      it('a replaced entry is not swept at its old expiry time', () => {
        const { store, clock } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        store.replace('k', '2', { ttlSeconds: 10 });
        store.create('j', '1', { ttlSeconds: 1 });
        store.replace('j', '2');
        clock.advance(5000);
        expect(store.sweepExpired()).toBe(0);
        expect(store.get('k')?.value).toBe('2');
        expect(store.get('j')?.value).toBe('2');
        expect(store.revision).toBe(4);
      });
    });

    describe('sweepExpired', () => {
      it('removes nothing before anything has expired', () => {
        const { store } = setup();
        store.create('k', '1', { ttlSeconds: 1 });
        store.create('j', '1');
        expect(store.sweepExpired()).toBe(0);
        expect(store.revision).toBe(2);
      });

      it('reclaims expired entries in batches of at most `limit`, each taking a revision', () => {
        const { store, clock } = setup();
        for (let i = 0; i < 5; i++) store.create(`t${i}`, '1', { ttlSeconds: 1 });
        store.create('forever', '1');
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
      });

      it('reclaims the earliest expiry first', () => {
        const { store, clock } = setup();
        store.create('c', '1', { ttlSeconds: 3 });
        store.create('a', '1', { ttlSeconds: 1 });
        store.create('b', '1', { ttlSeconds: 2 });
        clock.advance(3000);
        expect(store.sweepExpired(1)).toBe(1);
        // Back to before b and c expire: only a must be gone.
        clock.time = T0 + 1500;
        expect(store.get('a')).toBeUndefined();
        expect(store.get('b')?.value).toBe('1');
        expect(store.get('c')?.value).toBe('1');
      });
    });

    describe('limits', () => {
      it('past maxKeys a create is insufficient_storage; reads, overwrites and deletes still work', () => {
        const { store } = setup({ maxKeys: 2 });
        store.create('a', '1');
        store.create('b', '1');
        const err = expectRefused(store, 'insufficient_storage', () => store.create('c', '1'));
        expect(err.message).toContain('2 keys');
        expect(store.get('c')).toBeUndefined();
        expect(store.get('a')?.value).toBe('1');
        expect(store.replace('a', '"a much longer value than before"').version).toBe(2);
        store.delete('b');
        expect(store.create('c', '1').version).toBe(1);
        expectRefused(store, 'insufficient_storage', () => store.create('d', '1'));
      });

      it('past maxMemoryBytes a growing write is insufficient_storage; non-growing overwrites still work', () => {
        // SMALL and TINY share a size class; BIG needs the next one up.
        const SMALL = '"xx"';
        const TINY = '1';
        const BIG = `"${'x'.repeat(20)}"`;
        expect(entryCost('a', TINY)).toBe(entryCost('a', SMALL));
        expect(entryCost('a', BIG)).toBeGreaterThan(entryCost('a', SMALL));
        const room = entryCost('a', SMALL) + entryCost('b', SMALL);
        const { store } = setup({ maxMemoryBytes: room });
        store.create('a', SMALL);
        store.create('b', SMALL);
        expectRefused(store, 'insufficient_storage', () => store.create('c', TINY));
        expectRefused(store, 'insufficient_storage', () => store.replace('a', BIG));
        expect(store.replace('a', '"yy"').version).toBe(2);
        expect(store.replace('a', TINY).version).toBe(3);
        expect(store.replace('a', '"zz"').version).toBe(4);
        expectRefused(store, 'insufficient_storage', () => store.replace('a', BIG));
        expect(store.get('b')?.value).toBe(SMALL);
      });

      it('a delete makes room again under maxMemoryBytes', () => {
        const { store } = setup({ maxMemoryBytes: entryCost('a', '1') });
        store.create('a', '1');
        expectRefused(store, 'insufficient_storage', () => store.create('b', '1'));
        store.delete('a');
        expect(store.create('b', '1').revision).toBe(3);
      });

      it('expired entries make room under maxKeys, even before they are swept', () => {
        const { store, clock } = setup({ maxKeys: 2 });
        store.create('a', '1', { ttlSeconds: 1 });
        store.create('b', '1');
        clock.advance(1000);
        const c = store.create('c', '1');
        expect(c.revision).toBe(4); // a's expiry took revision 3
        expect(store.get('a')).toBeUndefined();
      });

      it('expired entries make room under maxMemoryBytes, even before they are swept', () => {
        const { store, clock } = setup({ maxMemoryBytes: entryCost('a', '1', true) });
        store.create('a', '1', { ttlSeconds: 1 });
        expectRefused(store, 'insufficient_storage', () => store.create('b', '1'));
        clock.advance(1000);
        expect(store.create('b', '1').revision).toBe(3);
      });

      it('an expired key can be created again in a full store', () => {
        const { store, clock } = setup({ maxKeys: 1 });
        store.create('a', '1', { ttlSeconds: 1 });
        clock.advance(1000);
        expect(store.create('a', '2')).toMatchObject({ value: '2', version: 1, revision: 3 });
      });
    });
  });
}
