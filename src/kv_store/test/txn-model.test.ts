import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { type Entry, NEVER } from '../src/store/store.js';
import { StoreError } from '../src/store/store-error.js';
import type { TxnCheck, TxnOp, TxnOutcome } from '../src/store/txn.js';
import { FakeClock, sync } from './helpers.js';

/**
 * Transactions against a model (issue 11): random transactions mixed with single-key writes and
 * the passing of time (expiries); after every step the store equals the model — every key's
 * value, version, revision and expiry, and the store's revision — and a transaction that failed
 * changed nothing, not even the revision. The model is written from the contract
 * (list-watch-txn.md, "Transactions"), not from the engine's code.
 */

const KEYS = ['a', 'b', 'p/1', 'p/2', 'p/3'];
const VALUES = ['1', '2', '"s"', '{"x":1}', '10', 'null'];

interface ModelEntry {
  value: string;
  version: number;
  revision: number;
  createdAt: number;
  expiresAt: number;
}

class Model {
  readonly keys = new Map<string, ModelEntry>();
  revision = 0;

  constructor(private readonly clock: FakeClock) {}

  /** A key an operation reads: if its time has passed, its expiry is committed first (one revision). */
  touch(key: string): ModelEntry | undefined {
    const e = this.keys.get(key);
    if (e !== undefined && e.expiresAt <= this.clock.now()) {
      this.keys.delete(key);
      this.revision++;
      return undefined;
    }
    return e;
  }

  txn(checks: TxnCheck[], ops: TxnOp[]): { ok: true; results: unknown[] } | { ok: false; failed: string[] } {
    const now = this.clock.now();
    // Every key the transaction reads, in the order it reads them (expiries are committed on the way).
    for (const c of checks) this.touch(c.key);
    const failed: string[] = [];
    checks.forEach((c, i) => {
      const e = this.keys.get(c.key);
      const okExists = c.exists === undefined || c.exists === (e !== undefined);
      const okVersion = c.version === undefined || (e?.version ?? 0) === c.version;
      const okValue =
        c.value === undefined || (e !== undefined && JSON.stringify(JSON.parse(e.value)) === JSON.stringify(JSON.parse(c.value)));
      if (!okExists || !okVersion || !okValue) failed.push(`check ${i}`);
    });
    const staged = new Map<string, ModelEntry | null>();
    const before = new Map<string, boolean>();
    const current = (key: string): ModelEntry | undefined => {
      if (staged.has(key)) return staged.get(key) ?? undefined;
      const e = this.touch(key);
      if (!before.has(key)) before.set(key, e !== undefined);
      return e;
    };
    const write = (key: string, value: string, ttl: number | undefined, keep: boolean): ModelEntry => {
      const old = current(key);
      const entry = {
        value,
        version: (old?.version ?? 0) + 1,
        revision: -1,
        createdAt: old?.createdAt ?? now,
        expiresAt: ttl !== undefined ? now + ttl : keep ? (old?.expiresAt ?? NEVER) : NEVER,
      };
      staged.set(key, entry);
      return entry;
    };
    const results: unknown[] = [];
    ops.forEach((op, i) => {
      if (op.op === 'deletePrefix') {
        let n = 0;
        const keys = new Set([...this.keys.keys(), ...staged.keys()].filter((k) => k.startsWith(op.prefix)));
        for (const k of [...keys].sort()) {
          if (current(k) !== undefined) {
            staged.set(k, null);
            n++;
          }
        }
        results.push({ deleted: n });
        return;
      }
      const old = current(op.key);
      if (op.op === 'get') results.push(old ?? null);
      else if (op.op === 'set') results.push(write(op.key, op.value, op.ttlMs, false));
      else if (op.op === 'create' && old !== undefined) failed.push(`op ${i}`);
      else if (op.op === 'create') results.push(write(op.key, op.value, op.ttlMs, false));
      else if ((op.op === 'replace' || op.op === 'delete') && old === undefined) failed.push(`op ${i}`);
      else if (op.op === 'replace') results.push(write(op.key, op.value, op.ttlMs, false));
      else if (op.op === 'delete') {
        staged.set(op.key, null);
        results.push({ deleted: 1 });
      } else if (op.op === 'incr') {
        const number = old === undefined ? 0 : JSON.parse(old.value);
        if (typeof number !== 'number') failed.push(`op ${i}`);
        else results.push(write(op.key, String(number + Number(op.by)), op.ttlMs, true));
      }
    });
    if (failed.length > 0) return { ok: false, failed };
    const changed = [...staged].filter(([k, e]) => e !== null || before.get(k) === true);
    if (changed.length > 0) {
      this.revision++;
      for (const [k, e] of changed) {
        if (e === null) this.keys.delete(k);
        else {
          e.revision = this.revision;
          this.keys.set(k, e);
        }
      }
    }
    return { ok: true, results };
  }
}

const arbKey = fc.constantFrom(...KEYS);
const arbValue = fc.constantFrom(...VALUES);
const arbTtl = fc.option(fc.constantFrom(1000, 5000), { nil: undefined });
const arbCheck: fc.Arbitrary<TxnCheck> = fc.oneof(
  fc.record({ key: arbKey, exists: fc.boolean() }),
  fc.record({ key: arbKey, version: fc.nat(3) }),
  fc.record({ key: arbKey, value: arbValue }),
);
const arbOp: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({
    op: fc.constantFrom('create', 'replace', 'set') as fc.Arbitrary<'create' | 'replace' | 'set'>,
    key: arbKey,
    value: arbValue,
    ttlMs: arbTtl,
  }),
  fc.record({ op: fc.constant('delete') as fc.Arbitrary<'delete'>, key: arbKey }),
  fc.record({ op: fc.constant('incr') as fc.Arbitrary<'incr'>, key: arbKey, by: fc.constantFrom('1', '-2'), ttlMs: arbTtl }),
  fc.record({ op: fc.constant('get') as fc.Arbitrary<'get'>, key: arbKey }),
  fc.record({ op: fc.constant('deletePrefix') as fc.Arbitrary<'deletePrefix'>, prefix: fc.constantFrom('p/', 'a') }),
);
type Step =
  | { kind: 'txn'; checks: TxnCheck[]; ops: TxnOp[] }
  | { kind: 'rest'; op: 'create' | 'replace' | 'delete'; key: string; value: string; ttlMs: number | undefined }
  | { kind: 'time'; ms: number };
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      checks: fc.array(arbCheck, { maxLength: 2 }),
      ops: fc.array(arbOp, { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('rest' as const),
      op: fc.constantFrom('create', 'replace', 'delete') as fc.Arbitrary<'create' | 'replace' | 'delete'>,
      key: arbKey,
      value: arbValue,
      ttlMs: arbTtl,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.constantFrom(500, 1000, 4000) }) },
);

/** The store's entry as the model holds one. */
function asModel(e: Entry | undefined): ModelEntry | undefined {
  return e === undefined
    ? undefined
    : { value: e.value, version: e.version, revision: e.revision, createdAt: e.createdAt, expiresAt: e.expiresAt };
}

describe('transactions against a model', () => {
  it('every step leaves the store equal to the model; a failed transaction changes nothing (property)', () => {
    fc.assert(
      fc.property(fc.array(arbStep, { minLength: 1, maxLength: 40 }), (steps) => {
        const clock = new FakeClock();
        const store = new MemoryStore({ clock });
        const model = new Model(clock);
        for (const step of steps) {
          if (step.kind === 'time') {
            clock.advance(step.ms);
            continue;
          }
          if (step.kind === 'rest') {
            let refused: string | undefined;
            try {
              if (step.op === 'create') sync(store.create(step.key, step.value, { ttlMs: step.ttlMs }));
              else if (step.op === 'replace') sync(store.replace(step.key, step.value, { ttlMs: step.ttlMs }));
              else sync(store.delete(step.key));
            } catch (err) {
              if (!(err instanceof StoreError)) throw err;
              refused = err.reason;
            }
            const op =
              step.op === 'create'
                ? { op: 'create' as const, key: step.key, value: step.value, ttlMs: step.ttlMs }
                : step.op === 'replace'
                  ? { op: 'replace' as const, key: step.key, value: step.value, ttlMs: step.ttlMs }
                  : { op: 'delete' as const, key: step.key };
            const expected = model.txn([], [op]);
            expect(refused, JSON.stringify(step)).toBe(expected.ok ? undefined : step.op === 'create' ? 'key_exists' : 'key_not_found');
          } else {
            const revisionBefore = store.revision;
            const outcome = sync(store.txn({ checks: step.checks, ops: step.ops }) as TxnOutcome);
            const expected = model.txn(step.checks, step.ops);
            expect(outcome.succeeded, JSON.stringify(step)).toBe(expected.ok);
            if (!outcome.succeeded && !expected.ok) {
              expect(outcome.failures.map((f) => `${f.type} ${f.index}`)).toEqual(expected.failed);
              // Nothing changed but the expiries the transaction's reads committed.
              expect(store.revision).toBe(model.revision);
              expect(outcome.revision).toBe(store.revision);
              expect(store.revision - revisionBefore).toBeGreaterThanOrEqual(0);
            }
            if (outcome.succeeded && expected.ok) {
              expect(outcome.results.map((r) => (r !== null && 'key' in r ? [r.value, r.version] : r))).toEqual(
                expected.results.map((r) =>
                  r !== null && typeof r === 'object' && 'value' in r ? [(r as ModelEntry).value, (r as ModelEntry).version] : r,
                ),
              );
            }
          }
          expect(store.revision, JSON.stringify(step)).toBe(model.revision);
          for (const key of KEYS) {
            const entry = model.keys.get(key);
            const live = entry !== undefined && entry.expiresAt > clock.now() ? entry : undefined;
            // Read without touching: a read would commit an expiry the model has not made.
            if (live !== undefined) expect(asModel(sync(store.get(key))), key).toEqual(live);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
