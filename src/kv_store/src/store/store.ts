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
 * A backend keeps a bounded history of those batches (`changesSince`), so a watcher that
 * disconnects resumes where it stopped, and lists its keys in order, page by page, each page
 * of one listing at the revision of its first (`list`).
 *
 * Order is bytewise on the keys' UTF-8 (which is code point order, not JavaScript's `<` on
 * UTF-16 units: U+E000-U+FFFF sort before the astral planes in UTF-16, after them in UTF-8).
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

export interface GetOptions {
  /**
   * A linearizable read: it sees every write acknowledged anywhere before it began. A backend
   * that serves reads from a node's cache (etcd) then reads from its source of truth; one whose
   * reads are always linearizable (memory) ignores it.
   */
  readonly consistent?: boolean | undefined;
}

/** Whether a store can serve now, and if not, why (for /readyz). */
export interface StoreReadiness {
  readonly ok: boolean;
  readonly reason: string;
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

/** What a key held just before a change: its value, version and revision. */
export interface PreviousValue {
  /** The value's JSON text. */
  readonly value: string;
  readonly version: number;
  readonly revision: number;
}

/**
 * A key written: the entry as it now is. `reason` is 'txn' when a transaction wrote it.
 * `prev` is what the key held before (null when it was absent); a backend whose capabilities
 * say `previousValues` fills it in at its commit point, before subscribers see the batch (a
 * journal, which sees the batch first, must not rely on it).
 */
export interface PutChange extends Entry {
  readonly type: 'put';
  readonly reason?: 'txn' | undefined;
  prev?: PreviousValue | null | undefined;
}

/** A key removed, at `revision`; `prev` as for PutChange. */
export interface DeleteChange {
  readonly type: 'delete';
  readonly key: string;
  readonly revision: number;
  readonly reason: DeleteReason;
  prev?: PreviousValue | null | undefined;
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
 * `append` takes the batch, or throws (StoreError persistence_failed) and then nothing is
 * applied; it returns a promise when the write's answer must wait (for the write that hands the
 * batch to the OS, and an fsync that covers it), undefined when it need not.
 */
export interface Journal {
  append(batch: ChangeBatch): Promise<void> | undefined;
  /**
   * While batches appended have not yet been handed to the OS: a promise that settles (never
   * rejects) once their write has been tried. Undefined when there are none.
   */
  unwritten?(): Promise<void> | undefined;
  /**
   * The newest revision whose commit, and every one before it, is as durable as a write's
   * answer says (written to the OS; under KV_FSYNC=always, fsynced): what watchers may be shown.
   * Absent when every commit is at once.
   */
  shownRevision?(): number;
}

/**
 * The history of changes no longer holds every batch after the revision asked for: a watcher
 * from there would miss changes. Every batch with a revision of `oldestRevision` or more is
 * still held (a watch with `after` >= oldestRevision - 1 resumes).
 */
export interface HistoryCompacted {
  readonly compacted: true;
  readonly oldestRevision: number;
}

/** Keys inside `prefix`, from `start` (inclusive) to `end` (exclusive), in UTF-8 byte order. */
export interface KeyRange {
  /** '' for every key. */
  readonly prefix: string;
  /** The first key of the range, if it is not the prefix itself. */
  readonly start?: string | undefined;
  /** The key past the last of the range (exclusive); none: up to the end of the prefix. */
  readonly end?: string | undefined;
}

/** Where a listing stands between two pages: its revision and the last key (or rolled-up prefix) it returned. */
export interface ListPosition {
  readonly revision: number;
  /** The next page starts after this key; a rolled-up prefix (see ListQuery.delimiter) is passed whole. */
  readonly after: string;
}

/** One page of an ordered listing. */
export interface ListQuery extends KeyRange {
  /** Most items and prefixes on the page, 1 or more. */
  readonly limit: number;
  /** Descending order. */
  readonly reverse: boolean;
  /** Include each item's value. */
  readonly values: boolean;
  /**
   * Keys that contain the delimiter after the prefix are rolled up into one entry of
   * `prefixes`: the key up to and including the delimiter (S3's CommonPrefixes).
   */
  readonly delimiter?: string | undefined;
  /** Count the keys in the range (on the first page only). */
  readonly count: boolean;
  /** A later page: where the previous page of the same listing ended. None: a first page, at the current revision. */
  readonly from?: ListPosition | undefined;
  /**
   * A first page at the store's latest revision, past any cache of it (`?consistent=true`): it
   * shows every write acknowledged anywhere before it began. The etcd backend otherwise starts a
   * listing at its cache's revision; the memory engine's listings are always at the latest.
   */
  readonly consistent?: boolean | undefined;
}

/** A key as a listing shows it: the entry's numbers, its value's size and, when asked, the value. */
export interface ListItem {
  readonly key: string;
  readonly version: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
  /** Bytes of the value's JSON text. */
  readonly size: number;
  /** The value's JSON text, if the query asked for values. */
  readonly value: string | undefined;
}

/** A page of a listing: the store exactly as it was at `revision`, whatever was written since. */
export interface ListPage {
  readonly revision: number;
  readonly items: readonly ListItem[];
  /** Rolled-up prefixes, in order (with a delimiter). */
  readonly prefixes: readonly string[];
  /** Where the next page starts; undefined on the last page. */
  readonly next: ListPosition | undefined;
  /** Keys in the range at `revision`, on a first page that asked. */
  readonly count: number | undefined;
  /** True when the items went to the visitor `list` was given, one at a time; `items` is then empty. */
  readonly visited?: boolean;
}

/**
 * Takes a listing's items one at a time as a backend reads them, with no object or string made
 * for each: what writes a page's body straight into bytes. A backend that holds its keys and
 * values as UTF-8 (the memory engine) may hand them over this way; one that does not puts them
 * in the page's `items` and never calls the visitor. Calls come during `list`, synchronously:
 * `begin` once, then `item` for each item in the page's order. The bytes are the backend's own
 * and valid only during the call.
 */
export interface ListItemVisitor {
  /** The revision of the page, before its first item. */
  begin(revision: number): void;
  /**
   * An item: its key is the UTF-8 at `bytes[keyStart, keyStart + keyBytes)`, and its value's JSON
   * text (the item's size, in bytes) the UTF-8 at `bytes[valueStart, valueStart + valueBytes)`.
   */
  item(
    bytes: Buffer,
    keyStart: number,
    keyBytes: number,
    valueStart: number,
    valueBytes: number,
    version: number,
    revision: number,
    createdAt: number,
    updatedAt: number,
    expiresAt: number,
  ): void;
}

/** What a backend can do; the API answers 501-free: routes a backend cannot serve are not offered. */
export interface StoreCapabilities {
  /** Writes survive a restart. */
  readonly durable: boolean;
  /** Change records carry the key's previous value (`prev`), for watchers that ask for it. */
  readonly previousValues: boolean;
  /**
   * Revisions come from a counter the backend shares with others (etcd's, counting every write
   * to the cluster): a new store does not start at revision 0, and its revisions may skip
   * numbers. Absent: the store's own counter, from 0, one step per commit.
   */
  readonly sharedRevisions?: boolean;
  /**
   * An entry whose time has passed is hidden at once, but its removal (a delete with reason
   * 'expired', taking a revision) is committed later by the backend itself (etcd's lease), not
   * by the read or write that finds it. Absent: the first operation to find it commits the expiry.
   */
  readonly lazyExpiry?: boolean;
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
  get(key: string, options?: GetOptions): MaybePromise<Entry | undefined>;
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
  /**
   * The batches committed after revision `after`, oldest first, at most `limit` of them; or
   * HistoryCompacted when the bounded history no longer holds them all. Empty when `after` is
   * the current revision (or later).
   */
  changesSince(after: number, limit: number): MaybePromise<readonly ChangeBatch[] | HistoryCompacted>;
  /**
   * One page of keys in order. A first page is at the current revision; `query.from` continues
   * a listing at its own revision, or is refused with cursor_expired once the backend no
   * longer holds that revision. With a `visitor`, a backend may hand it the items instead of
   * putting them in the page (ListItemVisitor says how; `visited` says whether it did).
   */
  list(query: ListQuery, visitor?: ListItemVisitor): MaybePromise<ListPage>;
  stats(): StoreStats;
  /** Whether the store can serve now; absent when it always can (memory). */
  ready?(): StoreReadiness;
  /**
   * While commits already applied wait for their log write (a durable engine writes a turn's
   * commits together; under KV_FSYNC=always, and for its fsync): a promise that settles once that
   * has been tried. The API holds a read's answer until then, so no answer shows a change before
   * it is as durable as a write's answer says. Undefined when nothing waits; absent when nothing
   * ever does.
   */
  unwritten?(): Promise<void> | undefined;
  /** The newest revision watchers may be shown (see Journal.shownRevision); absent when every commit is at once. */
  shownRevision?(): number;
  /**
   * Resolves true once the store's revision has reached `revision`, or false when it will not
   * (the store never reached it). Offered by a backend that several processes serve, where one
   * process's revision can be a moment behind a revision another has answered (etcd); absent
   * where the store's revision is all there is (memory).
   */
  catchUp?(revision: number): MaybePromise<boolean>;
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

/**
 * Compares two keys in the port's order, UTF-8 bytes (which is code point order): negative,
 * zero or positive. JavaScript's `<` compares UTF-16 units, which puts astral characters
 * (surrogate pairs) before U+E000-U+FFFF; this does not.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Only where both units are D800 or above do the two orders differ: surrogates go last.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** True when `key` is in `range`: inside its prefix, at or after its start and before its end. */
export function inKeyRange(range: KeyRange, key: string): boolean {
  return (
    key.startsWith(range.prefix) &&
    (range.start === undefined || compareKeys(key, range.start) >= 0) &&
    (range.end === undefined || compareKeys(key, range.end) < 0)
  );
}
