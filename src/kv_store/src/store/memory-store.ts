import { type Clock, systemClock } from '../clock.js';
import { type Entry, entryCost } from './entry.js';
import { EntrySlots } from './entry-slots.js';
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
 * The in-memory key/value store: a Map from each key to its slot in a column store
 * (EntrySlots), a store-wide revision counter and an expiry heap. Synchronous and free of HTTP,
 * so every operation is atomic on Node's single thread. An expired entry is never returned:
 * reads check the clock, and the heap lets `sweepExpired` reclaim expired entries in bounded
 * batches without a full scan.
 */
export class MemoryStore {
  private readonly index = new Map<string, number>();
  private readonly slots = new EntrySlots();
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
    return this.index.size;
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
    const slot = this.liveSlot(key, this.clock.now());
    return slot === undefined ? undefined : this.slots.entry(key, slot);
  }

  /** Creates `key`; refuses with key_exists if it is live, insufficient_storage past a limit. */
  create(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    if (this.liveSlot(key, now) !== undefined) throw new StoreError('key_exists', `key '${key}' already exists`);
    const cost = entryCost(key, value);
    this.ensureRoom(1, cost, now);
    const slot = this.slots.alloc();
    const expiresAt = expiryTime(now, options.ttlSeconds);
    this.slots.write(slot, value, 1, ++this.lastRevision, now, now, expiresAt);
    this.index.set(key, slot);
    this.chargedBytes += cost;
    this.trackExpiry(key, expiresAt);
    return this.slots.entry(key, slot);
  }

  /** Overwrites a live `key` (version + 1); a write without ttlSeconds clears any expiry. */
  replace(key: string, value: string, options: WriteOptions = {}): Entry {
    const now = this.clock.now();
    const slot = this.mustExist(key, now, options.ifMatch);
    const oldCost = entryCost(key, this.slots.value(slot));
    const cost = entryCost(key, value);
    if (cost > oldCost) this.ensureRoom(0, cost - oldCost, now);
    // In place: the Map is not touched, so it keeps the key it was given at creation (never
    // the caller's, which may be a slice of a longer string, such as a URL).
    if (this.slots.expiresAt(slot) !== null) this.expiringCount--;
    const expiresAt = expiryTime(now, options.ttlSeconds);
    this.slots.write(slot, value, this.slots.version(slot) + 1, ++this.lastRevision, this.slots.createdAt(slot), now, expiresAt);
    this.chargedBytes += cost - oldCost;
    this.trackExpiry(key, expiresAt);
    return this.slots.entry(key, slot);
  }

  /** Deletes a live `key`, refusing with key_not_found or version_mismatch. */
  delete(key: string, options: Pick<WriteOptions, 'ifMatch'> = {}): void {
    const slot = this.mustExist(key, this.clock.now(), options.ifMatch);
    this.remove(key, slot);
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
      const slot = this.index.get(key);
      if (slot === undefined) continue;
      const expiresAt = this.slots.expiresAt(slot);
      if (expiresAt !== null && expiresAt <= now) {
        this.expire(key, slot);
        removed++;
      }
    }
    return removed;
  }

  /** True when an expired entry is waiting to be swept. */
  hasExpired(): boolean {
    return this.expiry.peekTime() <= this.clock.now();
  }

  /** The slot of the live entry for `key`; an expired one is removed on the way. */
  private liveSlot(key: string, now: number): number | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    const expiresAt = this.slots.expiresAt(slot);
    if (expiresAt !== null && expiresAt <= now) {
      this.expire(key, slot);
      return undefined;
    }
    return slot;
  }

  private mustExist(key: string, now: number, ifMatch: RevisionCondition | undefined): number {
    const slot = this.liveSlot(key, now);
    if (slot === undefined) throw new StoreError('key_not_found', `key '${key}' not found`);
    const revision = this.slots.revision(slot);
    if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.includes(revision)) {
      const wanted = ifMatch.map((r) => `"${r}"`).join(', ') || 'no valid ETag';
      throw new StoreError(
        'version_mismatch',
        `key '${key}' is at revision ${revision} (ETag "${revision}"), but If-Match asked for ${wanted}`,
      );
    }
    return slot;
  }

  private ensureRoom(newKeys: number, newBytes: number, now: number): void {
    if (this.fits(newKeys, newBytes)) return;
    // Expired entries still hold room until swept; reclaim them before refusing.
    if (this.expiry.peekTime() <= now) this.sweepExpired(Number.POSITIVE_INFINITY);
    if (this.index.size + newKeys > this.limits.maxKeys) {
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
    return this.index.size + newKeys <= this.limits.maxKeys && this.chargedBytes + newBytes <= this.limits.maxMemoryBytes;
  }

  private trackExpiry(key: string, expiresAt: number | null): void {
    if (expiresAt === null) return;
    this.expiringCount++;
    this.expiry.push(expiresAt, key);
    this.compactExpiryQueue();
  }

  private remove(key: string, slot: number): void {
    this.chargedBytes -= entryCost(key, this.slots.value(slot));
    if (this.slots.expiresAt(slot) !== null) this.expiringCount--;
    this.index.delete(key);
    this.slots.release(slot);
  }

  private expire(key: string, slot: number): void {
    this.remove(key, slot);
    this.lastRevision++;
  }

  /** Drops stale heap items once they outnumber the live expiring entries, keeping the heap O(live). */
  private compactExpiryQueue(): void {
    if (this.expiry.size <= 2 * this.expiringCount + 1024) return;
    this.expiry.retain((time, key) => {
      const slot = this.index.get(key);
      return slot !== undefined && this.slots.expiresAt(slot) === time;
    });
  }
}

function expiryTime(now: number, ttlSeconds: number | undefined): number | null {
  return ttlSeconds === undefined ? null : now + ttlSeconds * 1000;
}
