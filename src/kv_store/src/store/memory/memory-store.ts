/*
 * The in-memory engine. Entries are records outside the JavaScript heap (RecordTable: slabs and
 * a keyed hash index), with a store-wide revision counter and an expiry heap. It is synchronous
 * and free of HTTP, so every operation is atomic on Node's single thread and no promise sits on
 * the hot path.
 *
 * Every mutation has two phases. Validation reads the current state and refuses (StoreError)
 * without changing anything: a missing or existing key, a failed precondition, a limit. Then the
 * change is handed to `commit`, the one place where the store changes: it takes the next
 * revision, applies each change to the table, and announces the batch to the subscribers
 * (watch, the durable log, metrics). Creates, overwrites, deletes and expiries, including an
 * expiry that a read discovers, all pass through it; nothing else writes to the table.
 *
 * Invariants:
 * - `revision` is the revision of the last committed batch; a refused write takes none.
 * - An entry whose `expiresAt` has passed is never returned: reads check the clock, and the
 *   first operation to find it expired commits its expiry (one revision, reason 'expired').
 * - `chargedBytes` is the sum of entryBytes over the records held; `expiringCount` the number
 *   of records with an expiry. The expiry heap holds at least one item per expiring record and
 *   is compacted once stale items outnumber live ones.
 */

import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../clock.js';
import {
  type Change,
  type ChangeBatch,
  type ChangeListener,
  type CreateOptions,
  checkPreconditions,
  type DeleteChange,
  type DeleteOptions,
  type Entry,
  type Journal,
  type KvStore,
  type MaybePromise,
  NEVER,
  type Preconditions,
  type PutChange,
  type ReplaceOptions,
  type StoreCapabilities,
  type StoreStats,
} from '../store.js';
import { StoreError } from '../store-error.js';
import { entryBytes } from './entry-cost.js';
import { ExpiryQueue } from './expiry-queue.js';
import { type IndexPosition, type KeyProbe, NOT_FOUND, type RecordAddress, RecordTable } from './record-table.js';
import { SweepScheduler } from './sweep-scheduler.js';

/** Limits a store enforces on writes that would grow it. */
export interface StoreLimits {
  /** Most live keys; Infinity for none. */
  readonly maxKeys: number;
  /** Most bytes charged by entryBytes over all entries; Infinity for none. */
  readonly maxMemoryBytes: number;
}

export interface MemoryStoreOptions {
  readonly clock?: Clock | undefined;
  readonly limits?: Partial<StoreLimits> | undefined;
  /** The store's id; a new random one by default. */
  readonly id?: string | undefined;
}

/** Most expired entries removed in one synchronous sweep, so a sweep never stalls requests. */
export const SWEEP_BATCH = 2000;

const CAPABILITIES: StoreCapabilities = { durable: false };

export class MemoryStore implements KvStore {
  readonly capabilities = CAPABILITIES;
  readonly id: string;
  private readonly table = new RecordTable();
  private readonly expiry = new ExpiryQueue();
  private readonly sweeper = new SweepScheduler(this);
  private readonly clock: Clock;
  private readonly limits: StoreLimits;
  private listeners: readonly ChangeListener[] = [];
  private journal: Journal | undefined;
  private lastRevision = 0;
  private chargedBytes = 0;
  private expiringCount = 0;
  private expiredTotal = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.id = options.id ?? randomUUID();
    this.limits = {
      maxKeys: options.limits?.maxKeys ?? Number.POSITIVE_INFINITY,
      maxMemoryBytes: options.limits?.maxMemoryBytes ?? Number.POSITIVE_INFINITY,
    };
  }

  /** Entries held, including expired ones not yet swept. */
  get size(): number {
    return this.table.size;
  }

  /** Bytes of record memory held (records, free records and slab tails), for the benchmarks. */
  get reservedBytes(): number {
    return this.table.reservedBytes;
  }

  /** Bytes charged against maxMemoryBytes. */
  get usedBytes(): number {
    return this.chargedBytes;
  }

  get revision(): number {
    return this.lastRevision;
  }

  start(): void {
    this.sweeper.start();
  }

  close(): void {
    this.sweeper.stop();
  }

  /** From now on every batch is appended to `journal` before it is applied (persistence). */
  setJournal(journal: Journal | undefined): void {
    this.journal = journal;
  }

  /**
   * Applies a batch read back from the durable log at start-up: as a commit, at the batch's own
   * revision, but not journaled again. Batches must come in revision order.
   */
  replay(batch: ChangeBatch): void {
    if (batch.revision <= this.lastRevision) throw new RangeError(`replay of revision ${batch.revision} after ${this.lastRevision}`);
    const journal = this.journal;
    this.journal = undefined;
    try {
      this.commit(batch);
    } finally {
      this.journal = journal;
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  stats(): StoreStats {
    return {
      keys: this.table.size,
      bytes: this.chargedBytes,
      limitBytes: this.limits.maxMemoryBytes,
      limitKeys: this.limits.maxKeys,
      revision: this.lastRevision,
      expiredTotal: this.expiredTotal,
    };
  }

  get(key: string): Entry | undefined {
    const probe = this.liveProbe(key, this.clock.now());
    return probe.position === NOT_FOUND ? undefined : this.entryAt(key, this.table.addressAt(probe.position));
  }

  create(key: string, value: string, options: CreateOptions = {}): MaybePromise<Entry> {
    const now = this.clock.now();
    let probe = this.liveProbe(key, now);
    if (probe.position !== NOT_FOUND) throw new StoreError('key_exists', { key });
    const expiresAt = expiryTime(now, options.ttlMs);
    const cost = entryBytes(Buffer.byteLength(key), Buffer.byteLength(value), expiresAt !== NEVER);
    if (!this.fits(1, cost)) probe = this.makeRoom(key, 1, cost, now);
    const change: PutChange = {
      type: 'put',
      key,
      value,
      version: 1,
      revision: this.lastRevision + 1,
      createdAt: now,
      updatedAt: now,
      expiresAt,
    };
    return this.answer(this.commit({ revision: change.revision, changes: [change] }, probe), change);
  }

  replace(key: string, value: string, options: ReplaceOptions = {}): MaybePromise<Entry> {
    const now = this.clock.now();
    const table = this.table;
    let probe = this.liveProbe(key, now);
    const old = this.matching(probe, key, options.conditions);
    const expiresAt = expiryTime(now, options.ttlMs);
    const growth = entryBytes(table.keyBytes(old), Buffer.byteLength(value), expiresAt !== NEVER) - this.costOf(old);
    // Sweeping to make room removes other records; it moves no live one, so `old` stays valid.
    if (growth > 0 && !this.fits(0, growth)) probe = this.makeRoom(key, 0, growth, now);
    const change: PutChange = {
      type: 'put',
      key,
      value,
      version: table.version(old) + 1,
      revision: this.lastRevision + 1,
      createdAt: table.createdAt(old),
      updatedAt: now,
      expiresAt,
    };
    return this.answer(this.commit({ revision: change.revision, changes: [change] }, probe), change);
  }

  delete(key: string, options: DeleteOptions = {}): MaybePromise<number> {
    const probe = this.liveProbe(key, this.clock.now());
    this.matching(probe, key, options.conditions);
    const change: DeleteChange = { type: 'delete', key, revision: this.lastRevision + 1, reason: 'delete' };
    return this.answer(this.commit({ revision: change.revision, changes: [change] }, probe), change.revision);
  }

  /**
   * Removes up to `limit` entries whose time has passed, earliest first, and returns how many
   * it removed. Each removal is a commit of its own.
   */
  sweepExpired(limit = SWEEP_BATCH, now = this.clock.now()): number {
    let removed = 0;
    // Every item popped counts toward the limit, stale ones too, so a sweep is always bounded.
    for (let popped = 0; popped < limit && this.expiry.size > 0 && this.expiry.peekTime() <= now; popped++) {
      const key = this.expiry.pop();
      const probe = this.table.probe(key);
      if (probe.position === NOT_FOUND) continue;
      if (this.table.expiresAt(this.table.addressAt(probe.position)) <= now) {
        this.expire(probe);
        removed++;
      }
    }
    return removed;
  }

  /** Gives record memory back when much of it is free (see RecordTable.maintain); returns the bytes given back. */
  maintain(): number {
    return this.table.maintain();
  }

  /** True when an expired entry is waiting to be swept. */
  hasExpired(): boolean {
    return this.expiry.peekTime() <= this.clock.now();
  }

  /** The result of a write: at once, or once the journal says it is durable. */
  private answer<T>(durable: Promise<void> | undefined, result: T): MaybePromise<T> {
    return durable === undefined ? result : durable.then(() => result);
  }

  /**
   * The commit point. `batch` has passed validation and carries the next revision; `hint` is a
   * fresh probe for its first change's key, saving a second lookup. The journal (if any) gets
   * the batch first: if it throws, nothing is applied. Then every change is applied and the
   * batch announced. Returns the journal's promise when the answer must wait for it.
   */
  private commit(batch: ChangeBatch, hint?: KeyProbe): Promise<void> | undefined {
    const durable = this.journal?.append(batch);
    const changes = batch.changes;
    for (let i = 0; i < changes.length; i++) this.apply(changes[i] as Change, i === 0 ? hint : undefined);
    this.lastRevision = batch.revision;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) (listeners[i] as ChangeListener)(batch);
    return durable;
  }

  /** Makes the table say what `change` says. Called only by commit. */
  private apply(change: Change, hint: KeyProbe | undefined): void {
    const table = this.table;
    const probe = hint ?? table.probe(change.key);
    if (change.type === 'delete') {
      if (probe.position !== NOT_FOUND) this.remove(probe.position);
      return;
    }
    const expiring = change.expiresAt !== NEVER;
    const valueBytes = Buffer.byteLength(change.value);
    let address: RecordAddress;
    if (probe.position === NOT_FOUND) {
      address = table.insertAt(probe, change.value, change);
      this.chargedBytes += entryBytes(table.keyBytes(address), valueBytes, expiring);
    } else {
      const old = table.addressAt(probe.position);
      const oldCost = this.costOf(old);
      const hadExpiry = table.expiresAt(old) !== NEVER;
      if (hadExpiry) this.expiringCount--;
      this.chargedBytes += entryBytes(table.keyBytes(old), valueBytes, expiring) - oldCost;
      address = table.rewrite(probe.position, change.value, change);
      if (!expiring && hadExpiry) this.compactExpiryQueue();
    }
    if (expiring) this.trackExpiry(address, change.expiresAt);
  }

  /** The probe of `key` if it is live; an expired entry found on the way is expired (committed) first. */
  private liveProbe(key: string, now: number): KeyProbe {
    const probe = this.table.probe(key);
    if (probe.position === NOT_FOUND || this.table.expiresAt(this.table.addressAt(probe.position)) > now) return probe;
    this.expire(probe);
    return this.table.probe(key);
  }

  /** Commits the expiry of the entry `probe` found. */
  private expire(probe: KeyProbe): void {
    this.expiredTotal++;
    const change: DeleteChange = { type: 'delete', key: probe.key, revision: this.lastRevision + 1, reason: 'expired' };
    this.commit({ revision: change.revision, changes: [change] }, probe);
  }

  /** The address of the live entry `probe` found, if it meets `conditions`; else key_not_found or version_mismatch. */
  private matching(probe: KeyProbe, key: string, conditions: Preconditions | undefined): RecordAddress {
    if (probe.position === NOT_FOUND) throw new StoreError('key_not_found', { key });
    const address = this.table.addressAt(probe.position);
    if (conditions !== undefined) checkPreconditions(key, String(this.table.revision(address)), conditions);
    return address;
  }

  private entryAt(key: string, address: RecordAddress): Entry {
    const table = this.table;
    return {
      key,
      value: table.value(address),
      version: table.version(address),
      revision: table.revision(address),
      createdAt: table.createdAt(address),
      updatedAt: table.updatedAt(address),
      expiresAt: table.expiresAt(address),
    };
  }

  /** What the entry at `address` is charged (see entry-cost.ts). */
  private costOf(address: RecordAddress): number {
    const table = this.table;
    return entryBytes(table.keyBytes(address), table.valueBytes(address), table.expiresAt(address) !== NEVER);
  }

  /**
   * Expired entries still hold room until swept: reclaims a batch of them, then refuses with
   * insufficient_storage if the write still does not fit. Same `now`: the entry being written,
   * live at `now`, is never swept from under the write. Returns a fresh probe for `key`.
   */
  private makeRoom(key: string, newKeys: number, newBytes: number, now: number): KeyProbe {
    if (this.expiry.peekTime() <= now) this.sweepExpired(SWEEP_BATCH, now);
    if (this.table.size + newKeys > this.limits.maxKeys) {
      throw new StoreError('insufficient_storage', {
        why: `the store holds its limit of ${this.limits.maxKeys} keys (KV_MAX_KEYS); delete keys to make room`,
      });
    }
    if (!this.fits(newKeys, newBytes)) {
      throw new StoreError('insufficient_storage', {
        why: `the write needs ${newBytes} more bytes, but the store uses ${this.chargedBytes} of its ${this.limits.maxMemoryBytes} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
      });
    }
    return this.table.probe(key);
  }

  private fits(newKeys: number, newBytes: number): boolean {
    return this.table.size + newKeys <= this.limits.maxKeys && this.chargedBytes + newBytes <= this.limits.maxMemoryBytes;
  }

  /** Queues the entry at `address` for expiry, under a key string of its own (decoded from the record). */
  private trackExpiry(address: RecordAddress, expiresAt: number): void {
    this.expiringCount++;
    this.expiry.push(expiresAt, this.table.key(address));
    this.compactExpiryQueue();
  }

  private remove(position: IndexPosition): void {
    const address = this.table.addressAt(position);
    this.chargedBytes -= this.costOf(address);
    const hadExpiry = this.table.expiresAt(address) !== NEVER;
    this.table.removeAt(position);
    if (hadExpiry) {
      this.expiringCount--;
      this.compactExpiryQueue();
    }
  }

  /** Drops stale heap items once they outnumber the live expiring entries, keeping the heap O(live). */
  private compactExpiryQueue(): void {
    if (this.expiry.size <= 2 * this.expiringCount + 1024) return;
    this.expiry.retain((time, key) => {
      const position = this.table.find(key);
      return position !== NOT_FOUND && this.table.expiresAt(this.table.addressAt(position)) === time;
    });
  }
}

/** When an entry written at `now` with `ttlMs` expires: NEVER without a TTL. */
function expiryTime(now: number, ttlMs: number | undefined): number {
  return ttlMs === undefined || ttlMs === NEVER ? NEVER : now + ttlMs;
}
