import { describe, expect, it, onTestFinished } from 'vitest';
import type { ChangeBatch, KvStore } from '../src/store/store.js';
import type { TxnOutcome, TxnRequest } from '../src/store/txn.js';
import { FakeClock, T0 } from './helpers.js';
import type { StoreFactory } from './store-contract.js';

/**
 * The port's contract for transactions (`txn`), for every backend that offers them: what the
 * engine adds to planTransaction's evaluation (test/txn-plan.test.ts): all or nothing, one
 * revision and one batch for all of a transaction's changes, none for one that fails or only
 * reads, and the store as the transaction left it. Revisions count from the store's revision at
 * the start of each test (see store-contract.ts, `sharedRevisions`).
 */
export function txnContract(name: string, factory: StoreFactory): void {
  const setup = async (limits?: { maxKeys?: number }) => {
    const clock = new FakeClock();
    const store = await factory(clock, limits);
    onTestFinished(() => store.close());
    if (store.txn === undefined) throw new Error(`${name} offers no transactions`);
    const batches: ChangeBatch[] = [];
    store.subscribe((batch) => batches.push(batch));
    const base = store.revision;
    const txn = (request: TxnRequest): Promise<TxnOutcome> =>
      Promise.resolve((store.txn as NonNullable<KvStore['txn']>).call(store, request));
    return { clock, store, batches, rev: (n: number) => base + n, txn };
  };

  describe(`${name} runs transactions as the port says`, () => {
    it('commits every op under one new revision, as one batch of changes with reason txn', async () => {
      const { store, batches, rev, txn } = await setup();
      await store.create('a', '1');
      await store.create('gone', '"x"');
      const outcome = await txn({
        checks: [{ key: 'a', exists: true, version: 1 }],
        ops: [
          { op: 'replace', key: 'a', value: '2' },
          { op: 'create', key: 'b', value: '{"n": 1}', ttlMs: 5000 },
          { op: 'delete', key: 'gone' },
          { op: 'incr', key: 'n', by: '5' },
          { op: 'get', key: 'a' },
        ],
      });
      expect(outcome).toEqual({
        succeeded: true,
        revision: rev(3),
        results: [
          expect.objectContaining({ key: 'a', value: '2', version: 2, revision: rev(3) }),
          expect.objectContaining({ key: 'b', value: '{"n": 1}', version: 1, revision: rev(3), expiresAt: T0 + 5000 }),
          { deleted: 1 },
          expect.objectContaining({ key: 'n', value: '5', version: 1, revision: rev(3) }),
          expect.objectContaining({ key: 'a', value: '2', version: 2, revision: rev(3) }),
        ],
      });
      expect(store.revision).toBe(rev(3));
      expect(batches.slice(2)).toEqual([
        {
          revision: rev(3),
          changes: expect.arrayContaining([
            expect.objectContaining({ type: 'put', key: 'a', value: '2', reason: 'txn' }),
            expect.objectContaining({ type: 'put', key: 'b', reason: 'txn' }),
            expect.objectContaining({ type: 'delete', key: 'gone', reason: 'txn' }),
            expect.objectContaining({ type: 'put', key: 'n', value: '5', reason: 'txn' }),
          ]),
        },
      ]);
      expect(batches[2]?.changes).toHaveLength(4);
      expect(await store.get('gone')).toBeUndefined();
      expect(await store.get('b')).toMatchObject({ value: '{"n": 1}', version: 1 });
    });

    it('a failed check applies nothing, takes no revision and names every failure', async () => {
      const { store, batches, rev, txn } = await setup();
      await store.create('a', '1');
      const outcome = await txn({
        checks: [
          { key: 'a', version: { gt: 1 } },
          { key: 'missing', exists: true },
        ],
        ops: [
          { op: 'set', key: 'a', value: '9' },
          { op: 'set', key: 'c', value: '9' },
        ],
      });
      expect(outcome).toEqual({
        succeeded: false,
        revision: rev(1),
        failures: [
          { type: 'check', index: 0, key: 'a', expected: { version: { gt: 1 } }, actual: { version: 1 } },
          { type: 'check', index: 1, key: 'missing', expected: { exists: true }, actual: { exists: false } },
        ],
      });
      expect(store.revision).toBe(rev(1));
      expect(batches).toHaveLength(1);
      expect(await store.get('a')).toMatchObject({ value: '1', version: 1 });
      expect(await store.get('c')).toBeUndefined();
    });

    it('a failed op undoes the ops before it: all or nothing', async () => {
      const { store, rev, txn } = await setup();
      await store.create('taken', '1');
      const outcome = await txn({
        checks: [],
        ops: [
          { op: 'create', key: 'fresh', value: '1' },
          { op: 'create', key: 'taken', value: '2' },
        ],
      });
      expect(outcome).toMatchObject({ succeeded: false, revision: rev(1) });
      expect(outcome.succeeded === false && outcome.failures).toEqual([
        { type: 'op', index: 1, key: 'taken', expected: { exists: false }, actual: { exists: true, version: 1, revision: rev(1) } },
      ]);
      expect(await store.get('fresh')).toBeUndefined();
      expect(store.revision).toBe(rev(1));
    });

    it('a transaction that only checks and reads takes no revision', async () => {
      const { store, batches, rev, txn } = await setup();
      await store.create('a', '"x"');
      const outcome = await txn({
        checks: [{ key: 'a', value: '"x"' }],
        ops: [
          { op: 'get', key: 'a' },
          { op: 'get', key: 'none' },
        ],
      });
      expect(outcome).toEqual({
        succeeded: true,
        revision: rev(1),
        results: [expect.objectContaining({ key: 'a', value: '"x"', revision: rev(1) }), null],
      });
      expect(store.revision).toBe(rev(1));
      expect(batches).toHaveLength(1);
    });

    it('deletePrefix removes every live key under the prefix, those the transaction wrote too, and counts them', async () => {
      const { store, clock, rev, txn } = await setup();
      await store.create('p/1', '1');
      await store.create('p/2', '2');
      await store.create('p/old', '3', { ttlMs: 1000 });
      await store.create('q/1', '4');
      clock.advance(1000);
      const outcome = await txn({
        checks: [],
        ops: [
          { op: 'create', key: 'p/new', value: '5' },
          { op: 'deletePrefix', prefix: 'p/' },
          { op: 'create', key: 'p/after', value: '6' },
        ],
      });
      expect(outcome).toMatchObject({
        succeeded: true,
        results: [expect.objectContaining({ key: 'p/new' }), { deleted: 3 }, expect.anything()],
      });
      expect(await store.get('p/1')).toBeUndefined();
      expect(await store.get('p/2')).toBeUndefined();
      expect(await store.get('p/new')).toBeUndefined();
      expect(await store.get('p/after')).toMatchObject({ value: '6', version: 1 });
      expect(await store.get('q/1')).toMatchObject({ value: '4' });
      expect(store.revision).toBeGreaterThan(rev(4));
    });

    it('past maxKeys the whole transaction is insufficient_storage and nothing is applied', async () => {
      const { store, rev, txn } = await setup({ maxKeys: 2 });
      await store.create('a', '1');
      await expect(
        txn({
          checks: [],
          ops: [
            { op: 'create', key: 'b', value: '1' },
            { op: 'create', key: 'c', value: '1' },
          ],
        }),
      ).rejects.toMatchObject({ reason: 'insufficient_storage' });
      expect(await store.get('b')).toBeUndefined();
      expect(store.revision).toBe(rev(1));
      const swap = await txn({
        checks: [],
        ops: [
          { op: 'delete', key: 'a' },
          { op: 'create', key: 'b', value: '1' },
          { op: 'create', key: 'c', value: '1' },
        ],
      });
      expect(swap).toMatchObject({ succeeded: true, revision: rev(2) });
    });
  });
}
