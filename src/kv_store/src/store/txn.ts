/*
 * Transactions, as every backend runs them: checks on the state before the transaction, then
 * ops in order, each seeing the ones before it, all or nothing under one new revision.
 *
 * `planTransaction` is the whole evaluation, free of any engine: it reads the store through a
 * TxnView (live entries, and the keys under a prefix) and returns either every failed check and
 * op, or the plan: the final state of each key written (one change per key, in the order first
 * touched), the result of each op, and what the transaction adds to the store's key count and
 * size. The engine then checks its limits for the whole plan and commits it as one batch. The
 * single-key writes (POST, PUT, DELETE) are one-op plans: the etcd backend runs them through
 * planTransaction, the memory engine through planSingleWrite, which builds the same change with
 * the same `written` and the same errors without the staging one op does not need; a property
 * test (test/txn-plan.test.ts) holds the two to the same outcome, so a REST write and a one-op
 * transaction cannot behave differently.
 */

import { checkPreconditions, type Entry, NEVER, type Preconditions } from './store.js';
import { StoreError } from './store-error.js';

/** A number comparison: a bare number means equal. */
export type Comparison =
  | number
  | {
      readonly eq?: number;
      readonly ne?: number;
      readonly lt?: number;
      readonly lte?: number;
      readonly gt?: number;
      readonly gte?: number;
    };

/** One check; every condition it names must hold. */
export interface TxnCheck {
  readonly key: string;
  readonly exists?: boolean;
  readonly version?: Comparison;
  readonly revision?: Comparison;
  /** JSON text compared by deep JSON equality. */
  readonly value?: string;
}

export type TxnOp =
  | { readonly op: 'create' | 'replace' | 'set'; readonly key: string; readonly value: string; readonly ttlMs?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'deletePrefix'; readonly prefix: string }
  | { readonly op: 'incr'; readonly key: string; readonly by: string; readonly ttlMs?: number }
  | { readonly op: 'get'; readonly key: string };

export interface TxnRequest {
  readonly checks: readonly TxnCheck[];
  readonly ops: readonly TxnOp[];
}

/** What a failed check or op expected and found, by its place in the request. */
export interface TxnFailure {
  readonly type: 'check' | 'op';
  readonly index: number;
  readonly key: string;
  readonly expected: Readonly<Record<string, unknown>>;
  readonly actual: Readonly<Record<string, unknown>>;
}

/** One op's result: the entry written or read (null for a get of a missing key), or a count of deletions. */
export type TxnResult = Entry | null | { readonly deleted: number };

export type TxnOutcome =
  | { readonly succeeded: true; readonly revision: number; readonly results: readonly TxnResult[] }
  | { readonly succeeded: false; readonly revision: number; readonly failures: readonly TxnFailure[] };

/** How a plan reads the store: live entries only (an expired one is missing). */
export interface TxnView {
  get(key: string): Entry | undefined;
  /**
   * The same entry as `get`, for reading during the plan only: its value may be read until the
   * plan is committed, not after (an engine can then skip decoding values no op needs). A view
   * without it is read with `get`.
   */
  peek?(key: string): Entry | undefined;
  /** The live keys that start with `prefix`. */
  keysWithPrefix(prefix: string): Iterable<string>;
}

/** A final state of one key: written, or removed. */
export type PlannedChange = { readonly type: 'put'; readonly entry: Entry } | { readonly type: 'delete'; readonly key: string };

export interface TxnPlan {
  /** The final state of each key written, in the order first touched. */
  readonly changes: readonly PlannedChange[];
  /** Keys the plan adds (creates minus deletions of existing keys). */
  readonly newKeys: number;
  /** True when the plan writes anything (else it takes no revision). */
  readonly writes: boolean;
  /** The changes and the per-op results with the transaction's revision in every written entry. */
  at(revision: number): { readonly changes: readonly PlannedChange[]; readonly results: readonly TxnResult[] };
}

const OPERATORS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte'] as const;

/** The revision of an entry a plan writes until the engine commits it (`TxnPlan.at`). */
const PENDING = 0;

/** True when `actual` meets the comparison. */
export function compare(actual: number, comparison: Comparison): boolean {
  if (typeof comparison === 'number') return actual === comparison;
  for (const operator of OPERATORS) {
    const bound = comparison[operator];
    if (bound === undefined) continue;
    const holds =
      operator === 'eq'
        ? actual === bound
        : operator === 'ne'
          ? actual !== bound
          : operator === 'lt'
            ? actual < bound
            : operator === 'lte'
              ? actual <= bound
              : operator === 'gt'
                ? actual > bound
                : actual >= bound;
    if (!holds) return false;
  }
  return true;
}

/** Deep equality of two JSON texts as JSON values (whitespace and key order do not matter; numbers compare by value). */
export function jsonEqual(a: string, b: string): boolean {
  return deepEqual(JSON.parse(a), JSON.parse(b));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => deepEqual(item, other[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

const INTEGER = /^-?(0|[1-9]\d*)$/;

/**
 * The JSON text of `value + by`, or undefined when `value` is not a JSON number or the sum is
 * not finite. Integers add exactly whatever their size (as BigInt: 12345678901234567890 + 1 is
 * 12345678901234567891); anything else adds as doubles.
 */
export function addNumbers(value: string, by: string): string | undefined {
  const a = value.trim();
  const b = by.trim();
  if (INTEGER.test(a) && INTEGER.test(b)) return (BigInt(a) + BigInt(b)).toString();
  let x: unknown;
  try {
    x = JSON.parse(a);
  } catch {
    return undefined;
  }
  if (typeof x !== 'number') return undefined;
  const sum = x + Number(b);
  return Number.isFinite(sum) ? JSON.stringify(sum) : undefined;
}

/** What a failure reports of an entry (one written earlier in the transaction has no revision yet). */
function found(entry: Entry | undefined): Record<string, unknown> {
  if (entry === undefined) return { exists: false };
  return entry.revision === 0
    ? { exists: true, version: entry.version }
    : { exists: true, version: entry.version, revision: entry.revision };
}

/** The JSON value of a text, for a failure's expected/actual. */
function jsonOf(text: string): unknown {
  return JSON.parse(text);
}

/** The failures of one check against the state before the transaction (an empty list when it holds). */
function checkFailure(index: number, check: TxnCheck, entry: Entry | undefined): TxnFailure | undefined {
  const expected: Record<string, unknown> = {};
  const actual: Record<string, unknown> = {};
  let failed = false;
  if (check.exists !== undefined && check.exists !== (entry !== undefined)) {
    failed = true;
    expected.exists = check.exists;
    actual.exists = entry !== undefined;
  }
  if (check.version !== undefined && !compare(entry?.version ?? 0, check.version)) {
    failed = true;
    expected.version = check.version;
    actual.version = entry?.version ?? 0;
  }
  if (check.revision !== undefined && !compare(entry?.revision ?? 0, check.revision)) {
    failed = true;
    expected.revision = check.revision;
    actual.revision = entry?.revision ?? 0;
  }
  if (check.value !== undefined && (entry === undefined || !jsonEqual(check.value, entry.value))) {
    failed = true;
    expected.value = jsonOf(check.value);
    if (entry === undefined) actual.exists = false;
    else actual.value = jsonOf(entry.value);
  }
  return failed ? { type: 'check', index, key: check.key, expected, actual } : undefined;
}

/**
 * A map from keys, in the order first set, that keeps its first key in fields of its own and
 * makes a Map only for a second key: a single-key write (a one-op plan) allocates no Map.
 */
class KeyMap<V> {
  private has0 = false;
  private k0 = '';
  private v0: V | undefined;
  private more: Map<string, V> | undefined;

  get(key: string): V | undefined {
    if (this.has0 && this.k0 === key) return this.v0;
    return this.more?.get(key);
  }

  has(key: string): boolean {
    return (this.has0 && this.k0 === key) || (this.more?.has(key) ?? false);
  }

  set(key: string, value: V): void {
    if (!this.has0 || this.k0 === key) {
      this.has0 = true;
      this.k0 = key;
      this.v0 = value;
      return;
    }
    if (this.more === undefined) this.more = new Map();
    this.more.set(key, value);
  }

  /** Calls `each` for every key, in the order first set. */
  forEach(each: (value: V, key: string) => void): void {
    if (!this.has0) return;
    each(this.v0 as V, this.k0);
    this.more?.forEach(each);
  }
}

/**
 * Evaluates a transaction at time `now`. Returns every failure, or the plan, whose entries get
 * their revision when the engine commits it (`at`): reading the store may itself commit
 * expiries first. `conditions` (the single-key writes' If-Match / If-None-Match) apply to op 0
 * and throw version_mismatch as those writes do.
 */
export function planTransaction(
  request: TxnRequest,
  view: TxnView,
  now: number,
  conditions?: Preconditions,
): TxnPlan | { readonly failures: readonly TxnFailure[] } {
  const failures: TxnFailure[] = [];
  request.checks.forEach((check, index) => {
    const failure = checkFailure(index, check, view.get(check.key));
    if (failure !== undefined) failures.push(failure);
  });

  // The state as the ops so far left it: an entry, null once deleted; absent = as in the store.
  const staged = new KeyMap<Entry | null>();
  const existedBefore = new KeyMap<boolean>();
  const peek = view.peek === undefined ? (key: string) => view.get(key) : (key: string) => view.peek?.(key);
  const current = (key: string): Entry | undefined => {
    const s = staged.get(key);
    if (s !== undefined) return s ?? undefined;
    const entry = peek(key);
    if (!existedBefore.has(key)) existedBefore.set(key, entry !== undefined);
    return entry;
  };
  const write = (key: string, value: string, ttlMs: number | undefined, keepExpiry: boolean): Entry => {
    const entry = written(key, value, ttlMs, keepExpiry, current(key), now);
    staged.set(key, entry);
    return entry;
  };
  const results: TxnResult[] = [];
  const fail = (index: number, key: string, expected: Record<string, unknown>, actual: Record<string, unknown>): void => {
    failures.push({ type: 'op', index, key, expected, actual });
    results.push(null);
  };

  const run = (op: TxnOp, index: number): void => {
    switch (op.op) {
      case 'get': {
        // A result outlives the plan: an entry of the store is read whole (`get`), not peeked.
        const s = staged.get(op.key);
        results.push(s !== undefined ? s : (view.get(op.key) ?? null));
        return;
      }
      case 'create': {
        const old = current(op.key);
        if (old !== undefined) {
          fail(index, op.key, { exists: false }, found(old));
          return;
        }
        results.push(write(op.key, op.value, op.ttlMs, false));
        return;
      }
      case 'replace': {
        const old = current(op.key);
        if (old === undefined) {
          fail(index, op.key, { exists: true }, { exists: false });
          return;
        }
        if (index === 0 && conditions !== undefined) checkPreconditions(op.key, String(old.revision), conditions);
        results.push(write(op.key, op.value, op.ttlMs, false));
        return;
      }
      case 'set':
        results.push(write(op.key, op.value, op.ttlMs, false));
        return;
      case 'incr': {
        const old = current(op.key);
        const sum = addNumbers(old?.value ?? '0', op.by);
        if (sum === undefined) {
          fail(
            index,
            op.key,
            { value: 'a number that stays finite' },
            old === undefined ? { exists: false } : { value: jsonOf(old.value) },
          );
          return;
        }
        results.push(write(op.key, sum, op.ttlMs, true));
        return;
      }
      case 'delete': {
        const old = current(op.key);
        if (old === undefined) {
          fail(index, op.key, { exists: true }, { exists: false });
          return;
        }
        if (index === 0 && conditions !== undefined) checkPreconditions(op.key, String(old.revision), conditions);
        staged.set(op.key, null);
        results.push({ deleted: 1 });
        return;
      }
      case 'deletePrefix': {
        const keys = new Set<string>();
        for (const key of view.keysWithPrefix(op.prefix)) keys.add(key);
        staged.forEach((entry, key) => {
          if (entry !== null && key.startsWith(op.prefix)) keys.add(key);
        });
        let deleted = 0;
        for (const key of keys) {
          if (current(key) === undefined) continue;
          staged.set(key, null);
          deleted++;
        }
        results.push({ deleted });
        return;
      }
    }
  };
  request.ops.forEach(run);
  if (failures.length > 0) return { failures };

  const changes: PlannedChange[] = [];
  let newKeys = 0;
  staged.forEach((entry, key) => {
    const existed = existedBefore.get(key) === true;
    if (entry === null) {
      if (existed) {
        changes.push({ type: 'delete', key });
        newKeys--;
      }
    } else {
      changes.push({ type: 'put', entry });
      if (!existed) newKeys++;
    }
  });
  const stamp =
    (revision: number) =>
    (entry: Entry): Entry =>
      entry.revision === PENDING ? { ...entry, revision } : entry;
  return {
    changes,
    newKeys,
    writes: changes.length > 0,
    at(revision) {
      const at = stamp(revision);
      return {
        changes: changes.map((c) => (c.type === 'put' ? { type: 'put', entry: at(c.entry) } : c)),
        results: results.map((r) => (r !== null && 'key' in r ? at(r) : r)),
      };
    },
  };
}

/**
 * What `key` holds after a write of `value` at `now` over `old` (undefined: a new key), with its
 * revision PENDING: a TTL counts from `now`; without one the entry never expires, unless
 * `keepExpiry` (incr) keeps the old entry's expiry.
 */
function written(key: string, value: string, ttlMs: number | undefined, keepExpiry: boolean, old: Entry | undefined, now: number): Entry {
  const expiresAt = ttlMs !== undefined && ttlMs !== NEVER ? now + ttlMs : keepExpiry ? (old?.expiresAt ?? NEVER) : NEVER;
  return {
    key,
    value,
    version: old === undefined ? 1 : old.version + 1,
    revision: PENDING,
    createdAt: old?.createdAt ?? now,
    updatedAt: now,
    expiresAt,
  };
}

/** The op of a single-key write: POST (create), PUT (replace) or DELETE. */
export type SingleWriteOp =
  | { readonly op: 'create' | 'replace'; readonly key: string; readonly value: string; readonly ttlMs?: number | undefined }
  | { readonly op: 'delete'; readonly key: string };

/**
 * A single-key write planned on its own: the change that planTransaction plans for the one-op
 * transaction `{ checks: [], ops: [op] }` with `conditions`, given what the key holds (`old`,
 * read live at `now`). One op has nothing to stage, so this skips the planner's maps, closures
 * and per-op results, which were about a quarter of an overwrite's allocations; `written` and
 * the errors are the planner's own, and test/txn-plan.test.ts holds the two to the same outcome for
 * any op, state and conditions. Throws the StoreError the write answers (key_exists,
 * key_not_found, version_mismatch).
 */
export function planSingleWrite(
  op: SingleWriteOp,
  old: Entry | undefined,
  now: number,
  conditions: Preconditions | undefined,
): PlannedChange {
  if (op.op === 'create') {
    if (old !== undefined) throw new StoreError('key_exists', { key: op.key });
    return { type: 'put', entry: written(op.key, op.value, op.ttlMs, false, undefined, now) };
  }
  if (old === undefined) throw new StoreError('key_not_found', { key: op.key });
  if (conditions !== undefined) checkPreconditions(op.key, String(old.revision), conditions);
  return op.op === 'delete'
    ? { type: 'delete', key: op.key }
    : { type: 'put', entry: written(op.key, op.value, op.ttlMs, false, old, now) };
}

/** The StoreError a failed one-op plan is for a single-key write (POST, PUT, DELETE). */
export function singleWriteError(failure: TxnFailure): StoreError {
  return new StoreError(failure.expected.exists === false ? 'key_exists' : 'key_not_found', { key: failure.key });
}
