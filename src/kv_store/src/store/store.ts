/*
 * The store port: what every storage backend offers kv_store. The HTTP API (api/) knows a store
 * only through this file; each engine lives in a folder of its own (memory/, and etcd/ for more
 * than one machine) and runs one contract suite (test/store-contract.ts).
 *
 * Results are `T | Promise<T>` (MaybePromise): the in-memory engine answers synchronously, so
 * its hot path holds no promise, while a networked backend returns promises. Callers handle
 * both (api/ does, through `then` only when it must).
 *
 * Values are JSON text, kept exactly as they arrived. Times are milliseconds since the epoch;
 * an entry that never expires has `expiresAt` NEVER (Infinity), from the request body to the
 * stored record to the answer, where it becomes `null`.
 *
 * Every committed change takes the next store revision and is announced once, as a
 * ChangeBatch, to the store's subscribers: watch, the durable log and metrics feed from it.
 */

import { StoreError } from './store-error.js';
import type { TxnOutcome, TxnRequest } from './txn.js';

/** A result that may be immediate (the memory engine) or come later (a networked backend). */
export type MaybePromise<T> = T | Promise<T>;

/** Calls `next` with the result: at once if it is a value, when it settles if it is a promise. */
export function whenReady<T, U>(result: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return result instanceof Promise ? result.then(next) : next(result);
}

/** The `expiresAt` of an entry that never expires. */
export const NEVER = Number.POSITIVE_INFINITY;

/** One live key, as the store holds it. */
export interface Entry {
  readonly key: string;
  /** The value's JSON text, exactly as written. */
  readonly value: string;
  /** 1 when created, +1 on each overwrite. */
  readonly version: number;
  /** The store revision of the entry's last write. */
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the entry stops being live; NEVER if it does not expire. */
  readonly expiresAt: number;
}

/** An entity tag of If-Match or If-None-Match, without its quotes. */
export interface EntityTag {
  readonly tag: string;
  readonly weak: boolean;
}

/** What an If-Match or If-None-Match header asks for: any entry ('*'), or one of a list of tags. */
export type TagCondition = '*' | readonly EntityTag[];

/** Conditions on the current entry that a write requires (HTTP's, RFC 9110 section 13). */
export interface Preconditions {
  /** The entry's tag must be one of these (strong comparison); '*': the key must exist. */
  readonly ifMatch?: TagCondition | undefined;
  /** The entry's tag must be none of these (weak comparison); '*': the key must not exist. */
  readonly ifNoneMatch?: TagCondition | undefined;
}

/** The opaque tag of an entry (ETag is this in quotes). Every backend tags an entry by its revision. */
export function entityTag(entry: Pick<Entry, 'revision'>): string {
  return String(entry.revision);
}

export interface CreateOptions {
  /** Milliseconds until the entry expires; NEVER (the default) for no expiry. */
  readonly ttlMs?: number | undefined;
}

export interface ReplaceOptions extends CreateOptions {
  readonly conditions?: Preconditions | undefined;
}

export interface DeleteOptions {
  readonly conditions?: Preconditions | undefined;
}

/** Why a key went away. */
export type DeleteReason = 'delete' | 'expired' | 'txn';

/** A key written: the entry as it now is. `reason` is 'txn' when a transaction wrote it. */
export interface PutChange extends Entry {
  readonly type: 'put';
  readonly reason?: 'txn' | undefined;
}

/** A key removed, at `revision`. */
export interface DeleteChange {
  readonly type: 'delete';
  readonly key: string;
  readonly revision: number;
  readonly reason: DeleteReason;
}

export type Change = PutChange | DeleteChange;

/** Everything one commit changed, under one revision: one write, one expiry, or a whole transaction. */
export interface ChangeBatch {
  readonly revision: number;
  readonly changes: readonly Change[];
}

/** Receives every committed batch, in revision order, synchronously at the commit. */
export type ChangeListener = (batch: ChangeBatch) => void;

/**
 * Where an engine logs each batch before applying it (the durable log, when persistence is on).
 * `append` hands the batch to the OS before it returns, or throws (StoreError
 * persistence_failed) and then nothing is applied; it returns a promise when the write's answer
 * must wait for more (an fsync that covers it), undefined when it need not.
 */
export interface Journal {
  append(batch: ChangeBatch): Promise<void> | undefined;
}

/** What a backend can do; the API answers 501-free: routes a backend cannot serve are not offered. */
export interface StoreCapabilities {
  /** Writes survive a restart. */
  readonly durable: boolean;
}

/** Numbers for metrics and health. */
export interface StoreStats {
  /** Live keys (an engine may count expired keys not yet swept). */
  readonly keys: number;
  /** Bytes charged against the memory limit. */
  readonly bytes: number;
  /** The memory limit in bytes; Infinity for none. */
  readonly limitBytes: number;
  /** The key limit; Infinity for none. */
  readonly limitKeys: number;
  readonly revision: number;
  /** Keys removed because their time passed, since start. */
  readonly expiredTotal: number;
}

/** The port: every backend offers kv_store these operations. Refusals are StoreErrors. */
export interface KvStore {
  readonly capabilities: StoreCapabilities;
  /** Random, made when the store's history began; a changed id means history was lost. */
  readonly id: string;
  /** The revision of the last committed change (0 before any). */
  readonly revision: number;
  /** The live entry for `key`, or undefined. */
  get(key: string): MaybePromise<Entry | undefined>;
  /** Creates `key`; key_exists if it is live; insufficient_storage past a limit. */
  create(key: string, value: string, options?: CreateOptions): MaybePromise<Entry>;
  /** Overwrites a live `key` (version + 1); without ttlMs any expiry is cleared. */
  replace(key: string, value: string, options?: ReplaceOptions): MaybePromise<Entry>;
  /** Deletes a live `key`; returns the revision of the delete. */
  delete(key: string, options?: DeleteOptions): MaybePromise<number>;
  /**
   * Runs a transaction: checks, then ops in order, all or nothing under one new revision (none
   * if it only checks and reads). Failed checks and ops are the outcome, not an error;
   * insufficient_storage is thrown when the whole plan passes a limit. Absent when the backend
   * cannot run transactions (then /txn is not offered).
   */
  txn?(request: TxnRequest): MaybePromise<TxnOutcome>;
  /** Calls `listener` with every batch committed from now on; returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
  stats(): StoreStats;
  /** Starts background work (expiry sweeping...). */
  start(): void;
  /** Stops background work and releases what the store holds. */
  close(): MaybePromise<void>;
}

/**
 * Checks a write's preconditions against the entry's current tag, throwing version_mismatch
 * (naming the header and what it asked for) when one fails. Shared by every backend.
 */
export function checkPreconditions(key: string, currentTag: string, conditions: Preconditions): void {
  const { ifMatch, ifNoneMatch } = conditions;
  if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.some((t) => !t.weak && t.tag === currentTag)) {
    throw new StoreError('version_mismatch', { key, actualTag: currentTag, wanted: describeTags(ifMatch, true), condition: 'If-Match' });
  }
  if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch.some((t) => t.tag === currentTag))) {
    throw new StoreError('version_mismatch', {
      key,
      actualTag: currentTag,
      wanted: ifNoneMatch === '*' ? '*' : describeTags(ifNoneMatch, false),
      condition: 'If-None-Match',
    });
  }
}

/** A tag list as a header would say it; for If-Match, says when weak tags were all it had. */
function describeTags(tags: readonly EntityTag[], strong: boolean): string {
  if (tags.length === 0) return 'no ETag';
  const text = tags.map((t) => (t.weak ? `W/"${t.tag}"` : `"${t.tag}"`)).join(', ');
  return strong && tags.every((t) => t.weak) ? `${text} (weak ETags never match If-Match)` : text;
}
