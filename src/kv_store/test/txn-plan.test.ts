import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Entry, NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import {
  addNumbers,
  compare,
  jsonEqual,
  planSingleWrite,
  planTransaction,
  type SingleWriteOp,
  singleWriteError,
  type TxnFailure,
  type TxnPlan,
  type TxnRequest,
  type TxnView,
} from '../src/store/txn.js';
import { T0 } from './helpers.js';

/** A view over a map of live entries. */
function view(entries: Entry[]): TxnView {
  const map = new Map(entries.map((e) => [e.key, e]));
  return { get: (key) => map.get(key), keysWithPrefix: (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)).sort() };
}

function entry(key: string, value: string, version = 1, revision = 1, expiresAt = NEVER): Entry {
  return { key, value, version, revision, createdAt: T0, updatedAt: T0, expiresAt };
}

function plan(request: Partial<TxnRequest>, entries: Entry[] = [], now = T0 + 1000) {
  return planTransaction({ checks: [], ops: [], ...request }, view(entries), now);
}

function planned(request: Partial<TxnRequest>, entries: Entry[] = []): TxnPlan {
  const result = plan(request, entries);
  if ('failures' in result) throw new Error(`failed: ${JSON.stringify(result.failures)}`);
  return result;
}

describe('compare', () => {
  it('a bare number is equality; operators must all hold', () => {
    expect([compare(3, 3), compare(3, 4)]).toEqual([true, false]);
    expect([compare(3, { lt: 5 }), compare(5, { lt: 5 }), compare(5, { lte: 5 }), compare(6, { gt: 5 }), compare(5, { gte: 5 })]).toEqual([
      true,
      false,
      true,
      true,
      true,
    ]);
    expect([compare(3, { ne: 3 }), compare(3, { eq: 3 }), compare(4, { gte: 2, lt: 5 }), compare(5, { gte: 2, lt: 5 })]).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });
});

describe('jsonEqual', () => {
  it('is equality of JSON values: whitespace, key order and number spelling do not matter', () => {
    expect(jsonEqual('{"a":1,"b":[1,2]}', '{ "b" : [1, 2], "a": 1.0 }')).toBe(true);
    expect(jsonEqual('{"a":1}', '{"a":1,"b":null}')).toBe(false);
    expect(jsonEqual('[1,2]', '[2,1]')).toBe(false);
    expect(jsonEqual('"1"', '1')).toBe(false);
    expect(jsonEqual('null', '{}')).toBe(false);
  });

  it('agrees with itself on any JSON value and its re-serialization (property)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => jsonEqual(JSON.stringify(v), JSON.stringify(v, null, 2))));
  });
});

describe('addNumbers', () => {
  it('adds integers exactly at any size, and other numbers as doubles', () => {
    expect(addNumbers('12345678901234567890', '1')).toBe('12345678901234567891');
    expect(addNumbers(' 41 ', '1')).toBe('42');
    expect(addNumbers('-5', '3')).toBe('-2');
    expect(addNumbers('1.5', '1')).toBe('2.5');
    expect(addNumbers('1e3', '-1')).toBe('999');
  });

  it('refuses what is not a number, and a sum that is not finite', () => {
    expect(addNumbers('"5"', '1')).toBeUndefined();
    expect(addNumbers('null', '1')).toBeUndefined();
    expect(addNumbers('{}', '1')).toBeUndefined();
    expect(addNumbers('1.7976931348623157e308', '1e308')).toBeUndefined();
  });

  it('matches BigInt arithmetic on any two integers (property)', () => {
    fc.assert(fc.property(fc.bigInt(), fc.bigInt(), (a, b) => addNumbers(String(a), String(b)) === String(a + b)));
  });
});

describe('planTransaction', () => {
  it('evaluates every check on the state before the transaction and names each failure with expected and actual', () => {
    const result = plan(
      {
        checks: [
          { key: 'a', exists: true },
          { key: 'b', version: { lt: 5 } },
          { key: 'c', revision: 4800 },
          { key: 'd', value: '{"enabled":true}' },
          { key: 'a', exists: false, version: 0 },
        ],
        ops: [{ op: 'set', key: 'a', value: '1' }],
      },
      [entry('b', '1', 7, 9), entry('d', '{"enabled":false}', 2, 3)],
    );
    expect(result).toEqual({
      failures: [
        { type: 'check', index: 0, key: 'a', expected: { exists: true }, actual: { exists: false } },
        { type: 'check', index: 1, key: 'b', expected: { version: { lt: 5 } }, actual: { version: 7 } },
        { type: 'check', index: 2, key: 'c', expected: { revision: 4800 }, actual: { revision: 0 } },
        { type: 'check', index: 3, key: 'd', expected: { value: { enabled: true } }, actual: { value: { enabled: false } } },
      ],
    });
  });

  it('runs ops in order, each seeing the ones before; create, replace and delete fail as POST, PUT and DELETE do', () => {
    const result = plan(
      {
        ops: [
          { op: 'create', key: 'x', value: '1' },
          { op: 'create', key: 'x', value: '2' },
          { op: 'replace', key: 'nope', value: '3' },
          { op: 'delete', key: 'x' },
          { op: 'delete', key: 'x' },
          { op: 'incr', key: 's', by: '1' },
        ],
      },
      [entry('s', '"text"', 4, 8)],
    );
    expect(result).toEqual({
      failures: [
        // x was created by op 0 of this transaction: it has no revision yet.
        { type: 'op', index: 1, key: 'x', expected: { exists: false }, actual: { exists: true, version: 1 } },
        { type: 'op', index: 2, key: 'nope', expected: { exists: true }, actual: { exists: false } },
        { type: 'op', index: 4, key: 'x', expected: { exists: true }, actual: { exists: false } },
        { type: 'op', index: 5, key: 's', expected: { value: 'a number that stays finite' }, actual: { value: 'text' } },
      ],
    });
  });

  it('plans one final change per key, in the order first touched, with every op result; entries get the revision at commit', () => {
    const p = planned(
      {
        ops: [
          { op: 'set', key: 'b', value: '1' },
          { op: 'incr', key: 'n', by: '5' },
          { op: 'incr', key: 'n', by: '2' },
          { op: 'get', key: 'n' },
          { op: 'delete', key: 'a' },
          { op: 'get', key: 'missing' },
          { op: 'get', key: 'keep' },
        ],
      },
      [entry('a', '"old"', 3, 5), entry('n', '10', 2, 6, T0 + 60_000), entry('keep', 'true', 1, 7)],
    );
    expect([p.newKeys, p.writes]).toEqual([0, true]);
    const at = p.at(42);
    const now = T0 + 1000;
    expect(at.changes).toEqual([
      { type: 'put', entry: { key: 'b', value: '1', version: 1, revision: 42, createdAt: now, updatedAt: now, expiresAt: NEVER } },
      // incr keeps the key's expiry, as Redis INCR keeps a TTL; two writes are two versions.
      { type: 'put', entry: { key: 'n', value: '17', version: 4, revision: 42, createdAt: T0, updatedAt: now, expiresAt: T0 + 60_000 } },
      { type: 'delete', key: 'a' },
    ]);
    expect(at.results.map((r) => (r !== null && 'key' in r ? [r.key, r.value, r.revision] : r))).toEqual([
      ['b', '1', 42],
      ['n', '15', 42],
      ['n', '17', 42],
      ['n', '17', 42],
      { deleted: 1 },
      null,
      ['keep', 'true', 7],
    ]);
  });

  it('deletePrefix deletes the live keys under the prefix, including ones the transaction made, and counts them', () => {
    const p = planned(
      {
        ops: [
          { op: 'create', key: 'tmp/new', value: '1' },
          { op: 'deletePrefix', prefix: 'tmp/' },
          { op: 'create', key: 'tmp/again', value: '2' },
        ],
      },
      [entry('tmp/a', '1'), entry('tmp/b', '1'), entry('keep', '1')],
    );
    const at = p.at(9);
    expect(at.results[1]).toEqual({ deleted: 3 });
    // In the order first touched; tmp/new was made and deleted within the transaction: no change.
    expect(at.changes.map((c) => (c.type === 'put' ? `put ${c.entry.key}` : `delete ${c.key}`))).toEqual([
      'delete tmp/a',
      'delete tmp/b',
      'put tmp/again',
    ]);
    expect(p.newKeys).toBe(-1);
  });

  it('a transaction that only checks and reads writes nothing', () => {
    const p = planned({ checks: [{ key: 'a', exists: true }], ops: [{ op: 'get', key: 'a' }] }, [entry('a', '1')]);
    expect([p.writes, p.at(5).changes]).toEqual([false, []]);
  });

  it('ttl on create, replace, set and incr counts from now', () => {
    const p = planned({
      ops: [
        { op: 'create', key: 'a', value: '1', ttlMs: 5000 },
        { op: 'incr', key: 'n', by: '1', ttlMs: 2000 },
      ],
    });
    expect(p.at(1).changes.map((c) => (c.type === 'put' ? c.entry.expiresAt : 0))).toEqual([T0 + 1000 + 5000, T0 + 1000 + 2000]);
  });
});

describe('planSingleWrite', () => {
  /** A tag list of If-Match or If-None-Match: '*', or up to two tags (revisions 0-3), each maybe weak. */
  const tags = fc.oneof(
    fc.constant('*' as const),
    fc.array(fc.record({ tag: fc.integer({ min: 0, max: 3 }).map(String), weak: fc.boolean() }), { maxLength: 2 }),
  );
  const conditions = fc.option(
    fc.record({ ifMatch: fc.option(tags, { nil: undefined }), ifNoneMatch: fc.option(tags, { nil: undefined }) }),
    {
      nil: undefined,
    },
  );
  const op: fc.Arbitrary<SingleWriteOp> = fc.oneof(
    fc.record({
      op: fc.constantFrom('create' as const, 'replace' as const),
      key: fc.constant('k'),
      value: fc.jsonValue().map((v) => JSON.stringify(v)),
      ttlMs: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
    }),
    fc.record({ op: fc.constant('delete' as const), key: fc.constant('k') }),
  );
  const old = fc.option(
    fc.record({
      version: fc.integer({ min: 1, max: 5 }),
      revision: fc.integer({ min: 1, max: 3 }),
      expiresAt: fc.constantFrom(NEVER, T0 + 5000),
    }),
    { nil: undefined },
  );

  /** What a plan or a thrown error comes to: the change at revision 7, or the error's code and details. */
  function outcome(run: () => unknown): unknown {
    try {
      return run();
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      return { code: err.reason, details: err.details, message: err.message };
    }
  }

  it('plans what a one-op transaction plans, and refuses as it does, for any op, state and conditions (property)', () => {
    fc.assert(
      fc.property(op, old, conditions, (o, held, cond) => {
        const entries = held === undefined ? [] : [entry('k', '"old"', held.version, held.revision, held.expiresAt)];
        const now = T0 + 1000;
        const single = outcome(() => {
          const change = planSingleWrite(o, entries[0], now, cond);
          return change.type === 'put' ? { type: 'put', entry: { ...change.entry, revision: 7 } } : change;
        });
        const general = outcome(() => {
          const plan = planTransaction({ checks: [], ops: [o] }, view(entries), now, cond);
          if ('failures' in plan) throw singleWriteError(plan.failures[0] as TxnFailure);
          expect(plan.changes).toHaveLength(1);
          return plan.at(7).changes[0];
        });
        expect(single).toEqual(general);
      }),
      { numRuns: 2000 },
    );
  });

  it('a create of a live key is key_exists; a replace or delete of a missing key is key_not_found; a failed If-Match is version_mismatch', () => {
    const held = entry('k', '1', 2, 3);
    expect(outcome(() => planSingleWrite({ op: 'create', key: 'k', value: '1' }, held, T0, undefined))).toMatchObject({
      code: 'key_exists',
      details: { key: 'k' },
    });
    expect(outcome(() => planSingleWrite({ op: 'replace', key: 'k', value: '1' }, undefined, T0, undefined))).toMatchObject({
      code: 'key_not_found',
      details: { key: 'k' },
    });
    expect(outcome(() => planSingleWrite({ op: 'delete', key: 'k' }, held, T0, { ifMatch: [{ tag: '2', weak: false }] }))).toMatchObject({
      code: 'version_mismatch',
      details: { key: 'k', actualTag: '3', condition: 'If-Match' },
    });
    expect(planSingleWrite({ op: 'replace', key: 'k', value: '2', ttlMs: 50 }, held, T0, { ifMatch: [{ tag: '3', weak: false }] })).toEqual(
      {
        type: 'put',
        entry: { key: 'k', value: '2', version: 3, revision: 0, createdAt: T0, updatedAt: T0, expiresAt: T0 + 50 },
      },
    );
  });
});
