import { type Clock, systemClock } from '../clock.js';
import { type Entry, entryCost } from './entry.js';
import { ExpiryQueue } from './expiry-queue.js';
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
 * The in-memory key/value store: a Map of immutable entries, a store-wide revision counter and
 * an expiry heap. Synchronous and free of HTTP, so every operation is atomic on Node's single
 * thread. An expired entry is never returned: reads check the clock, and the heap lets
 * `sweepExpired` reclaim expired entries in bounded batches without a full scan.
 */
export class MemoryStore {
  private readonly entries = new Map<string, Entry>();
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
    return this.entries.size;
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
    return this.live(key, this.clock.now());
  }

  /** Creates `key`; refuses with key_exists if it is live, insufficient_storage past a limit. */
  create(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    const existing = this.live(key, now);
    if (existing !== undefined) {
      throw new StoreError('key_exists', `key '${key}' already exists`);
    }
    const cost = entryCost(key, value);
    this.ensureRoom(1, cost, now);
    const entry: Entry = {
      key,
      value,
      version: 1,
      revision: ++this.lastRevision,
      createdAt: now,
      updatedAt: now,
      expiresAt: expiryTime(now, options.ttlSeconds),
    };
    this.put(entry, cost);
    return entry;
  }

  /** Overwrites a live `key` (version + 1); a write without ttlSeconds clears any expiry. */
  replace(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    const existing = this.mustExist(key, now, options.ifMatch);
    const oldCost = entryCost(key, existing.value);
    const cost = entryCost(key, value);
    if (cost > oldCost) this.ensureRoom(0, cost - oldCost, now);
    const entry: Entry = {
      // The stored key, not the caller's: that may be a slice of a longer string (a URL).
      key: existing.key,
      value,
      version: existing.version + 1,
      revision: ++this.lastRevision,
      createdAt: existing.createdAt,
      updatedAt: now,
      expiresAt: expiryTime(now, options.ttlSeconds),
    };
    // One set in place: a delete and a new insert would churn the hash table (and, at a million
    // keys, sometimes rehash all of it inside one request).
    this.entries.set(existing.key, entry);
    this.chargedBytes += cost - oldCost;
    if (existing.expiresAt !== null) this.expiringCount--;
    this.trackExpiry(entry);
    return entry;
  }

  /** Deletes a live `key`, refusing with key_not_found or version_mismatch. */
  delete(key: string, options: Pick<WriteOptions, 'ifMatch'> = {}): void {
    const existing = this.mustExist(key, this.clock.now(), options.ifMatch);
    this.remove(existing);
    this.lastRevision++;
  }

  /**
   * Removes up to `limit` entries whose time has passed, earliest first, and returns how many
   * it removed. Each removal is a write and takes a revision.
   */
  sweepExpired(limit = SWEEP_BATCH): number {
    const now = this.clock.now();
    let removed = 0;
    while (removed < limit && this.expiry.size > 0 && this.expiry.peekTime() <= now) {
      const key = this.expiry.pop();
      const entry = this.entries.get(key);
      if (entry !== undefined && entry.expiresAt !== null && entry.expiresAt <= now) {
        this.expire(entry);
        removed++;
      }
    }
    return removed;
  }

  /** True when an expired entry is waiting to be swept. */
  hasExpired(): boolean {
    return this.expiry.peekTime() <= this.clock.now();
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= now) {
      this.expire(entry);
      return undefined;
    }
    return entry;
  }

  private mustExist(key: string, now: number, ifMatch: RevisionCondition | undefined): Entry {
    const existing = this.live(key, now);
    if (existing === undefined) throw new StoreError('key_not_found', `key '${key}' not found`);
    if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.includes(existing.revision)) {
      const wanted = ifMatch.map((r) => `"${r}"`).join(', ') || 'no valid ETag';
      throw new StoreError(
        'version_mismatch',
        `key '${key}' is at revision ${existing.revision} (ETag "${existing.revision}"), but If-Match asked for ${wanted}`,
      );
    }
    return existing;
  }

  private ensureRoom(newKeys: number, newBytes: number, now: number): void {
    if (this.fits(newKeys, newBytes)) return;
    // Expired entries still hold room until swept; reclaim them before refusing.
    if (this.expiry.peekTime() <= now) this.sweepExpired(Number.POSITIVE_INFINITY);
    if (this.entries.size + newKeys > this.limits.maxKeys) {
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
    return this.entries.size + newKeys <= this.limits.maxKeys && this.chargedBytes + newBytes <= this.limits.maxMemoryBytes;
  }

  private put(entry: Entry, cost: number): void {
    this.entries.set(entry.key, entry);
    this.chargedBytes += cost;
    this.trackExpiry(entry);
  }

  private trackExpiry(entry: Entry): void {
    if (entry.expiresAt === null) return;
    this.expiringCount++;
    this.expiry.push(entry.expiresAt, entry.key);
    this.compactExpiryQueue();
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.key);
    this.chargedBytes -= entryCost(entry.key, entry.value);
    if (entry.expiresAt !== null) this.expiringCount--;
  }

  private expire(entry: Entry): void {
    this.remove(entry);
    this.lastRevision++;
  }

  /** Drops stale heap items once they outnumber the live expiring entries, keeping the heap O(live). */
  private compactExpiryQueue(): void {
    if (this.expiry.size <= 2 * this.expiringCount + 1024) return;
    this.expiry.retain((time, key) => this.entries.get(key)?.expiresAt === time);
  }
}

function expiryTime(now: number, ttlSeconds: number | undefined): number | null {
  return ttlSeconds === undefined ? null : now + ttlSeconds * 1000;
}
