import { describe, expect, it, onTestFinished } from 'vitest';
import type { Clock } from '../src/clock.js';
import type { StoreLimits } from '../src/store/memory/memory-store.js';
import { type ChangeBatch, type Entry, type KvStore, NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import type { TxnOutcome, TxnRequest } from '../src/store/txn.js';
import { FakeClock, T0 } from './helpers.js';

/**
 * The store port's contract for transactions, part of storeContract (store-contract.ts): every
 * backend that offers `txn` runs it unchanged. Revisions count from the store's revision at the
 * start of each test (`sharedRevisions`: see store-contract.ts).
 */

type Factory = (clock: Clock, limits?: Partial<StoreLimits>) => KvStore | Promise<KvStore>;

const request = (fields: Partial<TxnRequest>): TxnRequest => ({ checks: [], ops: [], ...fields });

/** An entry's own fields. */
function fields(entry: Entry | null | undefined | { deleted: number }) {
  if (entry === null || entry === undefined || !('key' in entry)) return entry;
  const { key, value, version, revision, createdAt, updatedAt, expiresAt } = entry;
  return { key, value, version, revision, createdAt, updatedAt, expiresAt };
}

export function txnContract(name: string, factory: Factory): void {
  const setup = async (limits?: Partial<StoreLimits>) => {
    const clock = new FakeClock();
    const store = await factory(clock, limits);
    onTestFinished(() => store.close());
    const batches: ChangeBatch[] = [];
    store.subscribe((batch) => batches.push(batch));
    const txn = async (r: Partial<TxnRequest>): Promise<TxnOutcome> => {
      if (store.txn === undefined) throw new Error(`${name} offers no transactions`);
      return store.txn(request(r));
    };
    const base = store.revision;
    /** The revision `n` commits after the start of the test. */
    const rev = (n: number) => base + n;
    return { clock, store, batches, txn, rev };
  };

  describe(`${name} runs transactions (the port's contract)`, () => {
    it('applies every op under one new revision, announced as one batch with reason txn', async () => {
      const { store, batches, txn } = await setup();
      await store.create('a', '1');
      await store.create('c', '"gone"');
      const outcome = await txn({
        checks: [{ key: 'a', version: 1 }],
        ops: [
          { op: 'replace', key: 'a', value: '2' },
          { op: 'create', key: 'b', value: '{"x":1}', ttlMs: 5000 },
          { op: 'delete', key: 'c' },
          { op: 'incr', key: 'n', by: '5' },
          { op: 'get', key: 'a' },
        ],
      });
      expect(outcome.succeeded).toBe(true);
      if (!outcome.succeeded) return;
      const r = outcome.revision;
      expect(r).toBe(store.revision);
      expect(outcome.results.map(fields)).toEqual([
        { key: 'a', value: '2', version: 2, revision: r, createdAt: T0, updatedAt: T0, expiresAt: NEVER },
        { key: 'b', value: '{"x":1}', version: 1, revision: r, createdAt: T0, updatedAt: T0, expiresAt: T0 + 5000 },
        { deleted: 1 },
        { key: 'n', value: '5', version: 1, revision: r, createdAt: T0, updatedAt: T0, expiresAt: NEVER },
        { key: 'a', value: '2', version: 2, revision: r, createdAt: T0, updatedAt: T0, expiresAt: NEVER },
      ]);
      const last = batches.at(-1) as ChangeBatch;
      expect(last.revision).toBe(r);
      expect(last.changes.map((c) => [c.type, c.key, c.revision, c.reason])).toEqual([
        ['put', 'a', r, 'txn'],
        ['put', 'b', r, 'txn'],
        ['delete', 'c', r, 'txn'],
        ['put', 'n', r, 'txn'],
      ]);
      expect(await store.get('c')).toBeUndefined();
      expect((await store.get('b'))?.value).toBe('{"x":1}');
    });

    it('changes nothing, not even the revision, when a check or an op fails, and names every failure', async () => {
      const { store, batches, txn } = await setup();
      await store.create('a', '1');
      const before = store.revision;
      const seen = batches.length;
      const outcome = await txn({
        checks: [
          { key: 'a', version: 2 },
          { key: 'a', exists: true },
        ],
        ops: [
          { op: 'replace', key: 'a', value: '9' },
          { op: 'create', key: 'a', value: '9' },
          { op: 'set', key: 'z', value: '9' },
        ],
      });
      expect(outcome).toEqual({
        succeeded: false,
        revision: before,
        failures: [
          { type: 'check', index: 0, key: 'a', expected: { version: 2 }, actual: { version: 1 } },
          { type: 'op', index: 1, key: 'a', expected: { exists: false }, actual: { exists: true, version: 2 } },
        ],
      });
      expect(store.revision).toBe(before);
      expect(batches.length).toBe(seen);
      expect((await store.get('a'))?.value).toBe('1');
      expect(await store.get('z')).toBeUndefined();
    });

    it('a transaction that only checks and reads takes no revision', async () => {
      const { store, txn, rev } = await setup();
      await store.create('a', '1');
      const outcome = await txn({
        checks: [{ key: 'a', exists: true }],
        ops: [
          { op: 'get', key: 'a' },
          { op: 'get', key: 'b' },
        ],
      });
      expect(outcome).toMatchObject({ succeeded: true, revision: rev(1) });
      expect(store.revision).toBe(rev(1));
    });

    it('deletePrefix removes every live key under the prefix in the same revision', async () => {
      const { store, txn, clock } = await setup();
      for (const key of ['tmp/a', 'tmp/b', 'tmpx', 'keep']) await store.create(key, '1');
      await store.create('tmp/old', '1', { ttlMs: 10 });
      clock.advance(10);
      const outcome = await txn({ ops: [{ op: 'deletePrefix', prefix: 'tmp/' }] });
      expect(outcome.succeeded && outcome.results).toEqual([{ deleted: 2 }]);
      for (const key of ['tmp/a', 'tmp/b', 'tmp/old']) expect(await store.get(key)).toBeUndefined();
      expect((await store.get('tmpx'))?.value).toBe('1');
    });

    it('checks the limits for the whole transaction before anything is applied', async () => {
      const { store, txn } = await setup({ maxKeys: 2 });
      await store.create('a', '1');
      const before = store.revision;
      let caught: unknown;
      try {
        await txn({
          ops: [
            { op: 'set', key: 'a', value: '2' },
            { op: 'create', key: 'b', value: '1' },
            { op: 'create', key: 'c', value: '1' },
          ],
        });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(StoreError);
      expect((caught as StoreError).reason).toBe('insufficient_storage');
      expect(store.revision).toBe(before);
      expect((await store.get('a'))?.value).toBe('1');
      // The same two creates fit when the transaction also deletes a: the count is for the whole of it.
      const swap = await txn({
        ops: [
          { op: 'delete', key: 'a' },
          { op: 'create', key: 'b', value: '1' },
          { op: 'create', key: 'c', value: '1' },
        ],
      });
      expect(swap.succeeded).toBe(true);
      expect(store.stats().keys).toBe(2);
    });

    it('a single-key write and its one-op transaction make the same entry', async () => {
      const one = await setup();
      const two = await setup();
      one.clock.advance(5);
      two.clock.advance(5);
      // Two stores: with sharedRevisions their revisions are one counter, so each entry's revision
      // is compared with its own store's (the write's revision is the store's current one).
      const same = (entry: Entry, store: KvStore) => ({
        ...fields(entry),
        revision: entry.revision === store.revision ? 'current' : entry.revision,
      });
      const viaRest = await one.store.create('k', '{"v":1}', { ttlMs: 1000 });
      const viaTxn = await two.txn({ ops: [{ op: 'create', key: 'k', value: '{"v":1}', ttlMs: 1000 }] });
      expect(viaTxn.succeeded && same(viaTxn.results[0] as Entry, two.store)).toEqual(same(viaRest, one.store));
      const replaced = await one.store.replace('k', '2');
      const replacedTxn = await two.txn({ ops: [{ op: 'replace', key: 'k', value: '2' }] });
      expect(replacedTxn.succeeded && same(replacedTxn.results[0] as Entry, two.store)).toEqual(same(replaced, one.store));
    });
  });
}
