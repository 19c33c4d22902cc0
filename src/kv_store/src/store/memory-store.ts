import { type Clock, systemClock } from '../clock.js';
import { type Entry, entryBytes } from './entry.js';
import { ExpiryQueue } from './expiry-queue.js';
import { type RecordNumbers, RecordTable } from './record-table.js';
import { StoreError } from './store-error.js';

/** Limits a store enforces on writes that would grow it. */
export interface StoreLimits {
  /** Most live keys; Infinity for none. */
  readonly maxKeys: number;
  /** Most bytes charged by entryCost over all entries; Infinity for none. */
  readonly maxMemoryBytes: number;
}

export interface MemoryStoreOptions {
  readonly clock?: Clock;
  readonly limits?: Partial<StoreLimits>;
}

/** What a conditional write expects: any current revision ('*') or one of a list. */
export type RevisionCondition = '*' | readonly number[];

export interface WriteOptions {
  /** Seconds until the entry expires; absent for no expiry. */
  readonly ttlSeconds?: number | undefined;
  /** The write happens only if the entry's revision matches (HTTP If-Match). */
  readonly ifMatch?: RevisionCondition | undefined;
}

/** Most expired entries removed in one synchronous sweep, so a sweep never stalls requests. */
export const SWEEP_BATCH = 2000;

/**
 * The in-memory key/value store: entries as records outside the JavaScript heap, found by a
 * keyed hash index (RecordTable), a store-wide revision counter and an expiry heap. Synchronous
 * and free of HTTP, so every operation is atomic on Node's single thread. An expired entry is
 * never returned: reads check the clock, and the heap lets `sweepExpired` reclaim expired
 * entries in bounded batches without a full scan.
 */
export class MemoryStore {
  private readonly table = new RecordTable();
  /** Reused for every write: the numbers of the record being written. */
  private readonly numbers: RecordNumbers = { version: 0, revision: 0, createdAt: 0, updatedAt: 0, expiresAt: 0 };
  private readonly expiry = new ExpiryQueue();
  private readonly clock: Clock;
  private readonly limits: StoreLimits;
  private lastRevision = 0;
  private chargedBytes = 0;
  private expiringCount = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
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

  /** The revision of the last write (0 before any). */
  get revision(): number {
    return this.lastRevision;
  }

  /** The live entry for `key`, or undefined if it is missing or expired. */
  get(key: string): Entry | undefined {
    const position = this.livePosition(key, this.clock.now());
    return position === -1 ? undefined : this.entry(key, this.table.addressAt(position));
  }

  /** Creates `key`; refuses with key_exists if it is live, insufficient_storage past a limit. */
  create(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    if (this.livePosition(key, now) !== -1) throw new StoreError('key_exists', `key '${key}' already exists`);
    const expiresAt = expiryTime(now, options.ttlSeconds);
    const cost = entryBytes(Buffer.byteLength(key), Buffer.byteLength(value), expiresAt !== null);
    this.ensureRoom(1, cost, now);
    const address = this.table.insert(key, value, this.fill(1, now, now, expiresAt));
    this.chargedBytes += cost;
    if (expiresAt !== null) this.trackExpiry(address, expiresAt);
    return this.entry(key, address);
  }

  /** Overwrites a live `key` (version + 1); a write without ttlSeconds clears any expiry. */
  replace(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    const table = this.table;
    let position = this.mustExist(key, now, options.ifMatch);
    const old = table.addressAt(position);
    const oldCost = this.costOf(old);
    const expiresAt = expiryTime(now, options.ttlSeconds);
    const cost = entryBytes(table.keyBytes(old), Buffer.byteLength(value), expiresAt !== null);
    if (cost > oldCost) {
      this.ensureRoom(0, cost - oldCost, now);
      // A sweep to make room may have moved its index position (never removed it: it is live at `now`).
      position = table.find(key);
      if (position === -1) throw new StoreError('key_not_found', `key '${key}' not found`);
    }
    const hadExpiry = !Number.isNaN(table.expiresAt(old));
    if (hadExpiry) this.expiringCount--;
    const address = table.rewrite(position, value, this.fill(table.version(old) + 1, table.createdAt(old), now, expiresAt));
    this.chargedBytes += cost - oldCost;
    if (expiresAt !== null) this.trackExpiry(address, expiresAt);
    else if (hadExpiry) this.compactExpiryQueue();
    return this.entry(key, address);
  }

  /** Deletes a live `key`, refusing with key_not_found or version_mismatch. */
  delete(key: string, options: Pick<WriteOptions, 'ifMatch'> = {}): void {
    const position = this.mustExist(key, this.clock.now(), options.ifMatch);
    this.remove(position);
    this.lastRevision++;
  }

  /**
   * Removes up to `limit` entries whose time has passed, earliest first, and returns how many
   * it removed. Each removal is a write and takes a revision.
   */
  sweepExpired(limit = SWEEP_BATCH, now = this.clock.now()): number {
    let removed = 0;
    // Every item popped counts toward the limit, stale ones too, so a sweep is always bounded.
    for (let popped = 0; popped < limit && this.expiry.size > 0 && this.expiry.peekTime() <= now; popped++) {
      const key = this.expiry.pop();
      const position = this.table.find(key);
      if (position === -1) continue;
      if (this.table.expiresAt(this.table.addressAt(position)) <= now) {
        this.expire(position);
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

  /** The index position of the live entry for `key`, or -1; an expired one is removed on the way. */
  private livePosition(key: string, now: number): number {
    const position = this.table.find(key);
    if (position === -1) return -1;
    // NaN (no expiry) compares false.
    if (this.table.expiresAt(this.table.addressAt(position)) <= now) {
      this.expire(position);
      return -1;
    }
    return position;
  }

  private entry(key: string, address: number): Entry {
    const table = this.table;
    const expires = table.expiresAt(address);
    return {
      key,
      value: table.value(address),
      version: table.version(address),
      revision: table.revision(address),
      createdAt: table.createdAt(address),
      updatedAt: table.updatedAt(address),
      expiresAt: Number.isNaN(expires) ? null : expires,
    };
  }

  private fill(version: number, createdAt: number, updatedAt: number, expiresAt: number | null): RecordNumbers {
    const n = this.numbers;
    n.version = version;
    n.revision = ++this.lastRevision;
    n.createdAt = createdAt;
    n.updatedAt = updatedAt;
    n.expiresAt = expiresAt ?? Number.NaN;
    return n;
  }

  /** What the entry at `address` is charged (see entry.ts). */
  private costOf(address: number): number {
    const table = this.table;
    return entryBytes(table.keyBytes(address), table.valueBytes(address), !Number.isNaN(table.expiresAt(address)));
  }

  private mustExist(key: string, now: number, ifMatch: RevisionCondition | undefined): number {
    const position = this.livePosition(key, now);
    if (position === -1) throw new StoreError('key_not_found', `key '${key}' not found`);
    const revision = this.table.revision(this.table.addressAt(position));
    if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.includes(revision)) {
      const wanted = ifMatch.map((r) => `"${r}"`).join(', ') || 'no valid ETag';
      throw new StoreError(
        'version_mismatch',
        `key '${key}' is at revision ${revision} (ETag "${revision}"), but If-Match asked for ${wanted}`,
      );
    }
    return position;
  }

  private ensureRoom(newKeys: number, newBytes: number, now: number): void {
    if (this.fits(newKeys, newBytes)) return;
    // Expired entries still hold room until swept; reclaim a batch of them before refusing (the
    // sweeper reclaims the rest in the background). Same `now`: the entry being written, live
    // at `now`, is never swept from under the write.
    if (this.expiry.peekTime() <= now) this.sweepExpired(SWEEP_BATCH, now);
    if (this.table.size + newKeys > this.limits.maxKeys) {
      throw new StoreError(
        'insufficient_storage',
        `the store holds its limit of ${this.limits.maxKeys} keys (KV_MAX_KEYS); delete keys to make room`,
      );
    }
    if (!this.fits(newKeys, newBytes)) {
      throw new StoreError(
        'insufficient_storage',
        `the write needs ${newBytes} more bytes, but the store uses ${this.chargedBytes} of its ${this.limits.maxMemoryBytes} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
      );
    }
  }

  private fits(newKeys: number, newBytes: number): boolean {
    return this.table.size + newKeys <= this.limits.maxKeys && this.chargedBytes + newBytes <= this.limits.maxMemoryBytes;
  }

  /** Queues the entry at `address` for expiry, under a key string of its own (decoded from the record). */
  private trackExpiry(address: number, expiresAt: number): void {
    this.expiringCount++;
    this.expiry.push(expiresAt, this.table.key(address));
    this.compactExpiryQueue();
  }

  private remove(position: number): void {
    const address = this.table.addressAt(position);
    this.chargedBytes -= this.costOf(address);
    const hadExpiry = !Number.isNaN(this.table.expiresAt(address));
    this.table.removeAt(position);
    if (hadExpiry) {
      this.expiringCount--;
      this.compactExpiryQueue();
    }
  }

  private expire(position: number): void {
    this.remove(position);
    this.lastRevision++;
  }

  /** Drops stale heap items once they outnumber the live expiring entries, keeping the heap O(live). */
  private compactExpiryQueue(): void {
    if (this.expiry.size <= 2 * this.expiringCount + 1024) return;
    this.expiry.retain((time, key) => {
      const position = this.table.find(key);
      return position !== -1 && this.table.expiresAt(this.table.addressAt(position)) === time;
    });
  }
}

function expiryTime(now: number, ttlSeconds: number | undefined): number | null {
  return ttlSeconds === undefined ? null : now + ttlSeconds * 1000;
}
