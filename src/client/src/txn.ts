import { isEntry, isJsonObject, type JsonObject, type JsonValue } from '@kv/shared';
import type { Entry } from './entry.js';
import { KvError } from './kv-error.js';

/** A number comparison of a check: a bare number means equal. */
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

/** What a check asks of a key (on the state before the transaction); every condition given must hold. */
export interface CheckConditions {
  readonly exists?: boolean;
  readonly version?: Comparison;
  readonly revision?: Comparison;
  /** Deep JSON equality. */
  readonly value?: JsonValue;
}

/** One op's result: the entry written or read (null for a get of a missing key), or how many keys a delete removed. */
export type TxnOpResult = Entry | null | { readonly deleted: number };

/** A transaction that was applied. */
export interface TxnSuccess {
  readonly succeeded: true;
  /** The revision of all its writes (unchanged if it only checked and read). */
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}

/** A check or op that did not hold, with what it expected and what it found. */
export interface TxnFailureDetail {
  readonly type: 'check' | 'op';
  /** Its place in the checks or the ops. */
  readonly index: number;
  readonly key: string;
  readonly expected: JsonObject;
  readonly actual: JsonObject;
}

/** kv_store did not apply the transaction (409 txn_failed): nothing changed; every failed check and op is listed. */
export class TxnFailedError extends KvError {
  override readonly name = 'TxnFailedError';

  constructor(
    message: string,
    /** The store's revision, unchanged by the transaction. */
    readonly revision: number,
    readonly failures: readonly TxnFailureDetail[],
  ) {
    super(409, 'txn_failed', message);
  }

  /** The failed checks only. */
  get failedChecks(): readonly TxnFailureDetail[] {
    return this.failures.filter((f) => f.type === 'check');
  }
}

/** An answer to POST /txn: 200 or 409 with its parsed body, and how to report one that is not a transaction result. */
export interface TxnAnswer {
  readonly status: number;
  readonly body: JsonValue | undefined;
  invalid(what: string): Error;
}

/** Sends a transaction body (the client's own call path, which turns other statuses into KvError). */
export type TxnSender = (body: JsonObject) => Promise<TxnAnswer>;

/**
 * A transaction being built: checks, then ops applied in order, all or nothing when `commit`
 * sends it (POST /txn). Each method returns the builder, so a transaction reads as one chain:
 * `kv.txn().check('a', { version: 3 }).replace('a', 2).delete('b').commit()`.
 */
export class TxnBuilder {
  private readonly checks: JsonObject[] = [];
  private readonly ops: JsonObject[] = [];

  constructor(private readonly send: TxnSender) {}

  /** A condition on `key` before the transaction. */
  check(key: string, conditions: CheckConditions): this {
    this.checks.push({ key, ...(conditions as JsonObject) });
    return this;
  }

  /** Creates `key`; fails if it exists. */
  create(key: string, value: JsonValue, options: { ttl?: number } = {}): this {
    return this.op({ op: 'create', key, value, ...ttl(options) });
  }

  /** Overwrites `key`; fails if it does not exist. */
  replace(key: string, value: JsonValue, options: { ttl?: number } = {}): this {
    return this.op({ op: 'replace', key, value, ...ttl(options) });
  }

  /** Writes `key` whether or not it exists. */
  set(key: string, value: JsonValue, options: { ttl?: number } = {}): this {
    return this.op({ op: 'set', key, value, ...ttl(options) });
  }

  /** Deletes `key`; fails if it does not exist. */
  delete(key: string): this {
    return this.op({ op: 'delete', key });
  }

  /** Deletes every key that starts with `prefix`. */
  deletePrefix(prefix: string): this {
    return this.op({ op: 'deletePrefix', prefix });
  }

  /** Adds `by` (default 1) to a number (a missing key counts as 0); fails on a value that is not a number. */
  incr(key: string, by = 1, options: { ttl?: number } = {}): this {
    return this.op({ op: 'incr', key, by, ...ttl(options) });
  }

  /** Reads `key` as the transaction sees it at this point. */
  get(key: string): this {
    return this.op({ op: 'get', key });
  }

  /** Sends the transaction; TxnFailedError when it was not applied, KvError for any other refusal. */
  async commit(): Promise<TxnSuccess> {
    return txnOutcome(await this.send({ checks: this.checks, ops: this.ops }));
  }

  private op(op: JsonObject): this {
    this.ops.push(op);
    return this;
  }
}

/** The outcome of POST /txn: the success, or TxnFailedError; an answer that is neither is `answer.invalid`. */
export function txnOutcome(answer: TxnAnswer): TxnSuccess {
  const { status, body } = answer;
  if (status === 200 && isJsonObject(body) && body.succeeded === true && typeof body.revision === 'number' && Array.isArray(body.results)) {
    const isResult = (r: JsonValue) => r === null || isEntry(r) || (isJsonObject(r) && typeof r.deleted === 'number');
    if (!body.results.every(isResult)) throw answer.invalid('a result that is neither an entry, null nor {"deleted": n}');
    return { succeeded: true, revision: body.revision, results: body.results as unknown as TxnOpResult[] };
  }
  if (status === 409 && isJsonObject(body) && body.succeeded === false && isJsonObject(body.error) && Array.isArray(body.failures)) {
    const message = typeof body.error.message === 'string' ? body.error.message : 'the transaction was not applied';
    throw new TxnFailedError(
      message,
      typeof body.revision === 'number' ? body.revision : 0,
      body.failures as unknown as TxnFailureDetail[],
    );
  }
  throw answer.invalid(`${status} with a body that is not a transaction result`);
}

function ttl(options: { ttl?: number }): JsonObject {
  return options.ttl === undefined ? {} : { ttl: options.ttl };
}
