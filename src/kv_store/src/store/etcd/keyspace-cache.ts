/*
 * A node's copy of the store's keyspace: every key under the prefix, as of `revision`, kept
 * current by the one etcd watch (cache-follower.ts) and read by the node's reads, its first try
 * at every write, and its watchers (the batches it announces).
 *
 * Layout: a Map from key to its Entry (the Entry objects are what reads return, never copied),
 * and a binary min-heap of (expiresAt, key) for the keys with a TTL, used only to count the keys
 * whose time has passed but which etcd's lease has not removed yet ("hidden": no read returns
 * them, the limits do not count them). A heap item whose key was rewritten since is stale and
 * skipped; the heap is rebuilt once stale items outnumber the live ones.
 *
 * Applying a watch message: events come in revision order, a revision's events together. Each
 * revision is applied once (etcd 3.4.23 can replay events a member already sent after it
 * restores a snapshot: anything at or below `revision` is ignored), becomes one ChangeBatch
 * (change-records.ts), kept in a bounded ring (ChangeHistory: KV_WATCH_HISTORY and
 * KV_WATCH_HISTORY_BYTES; every batch after `heldFrom` is in it) and then handed to the
 * subscribers, and settles the waits: writes waiting for their revision, and writes waiting for
 * their write id (which a stored record or the m/op marker carries).
 *
 * Why a key went away, which etcd's delete events do not say: a revision that also rewrote the
 * m/op marker was a user's delete ('delete') or a transaction ('txn'); a delete without one is
 * etcd's lease removing an expired key ('expired'), or, for a key without a TTL, a delete made
 * behind kv_store's back ('delete').
 */

import { ChangeHistory, type HistoryLimits } from '../memory/change-history.js';
import type { Change, ChangeBatch, ChangeListener, DeleteChange, Entry, KeyRange, PutChange } from '../store.js';
import { inKeyRange, NEVER } from '../store.js';
import { byRevision, changeOf, previous, type RevisionEvents } from './change-records.js';
import { type EtcdEvent, type EtcdKeyValue, int } from './etcd-wire.js';
import { decodeMarker, decodeRecord, type EtcdLayout } from './stored-record.js';

/**
 * Bytes the cache holds for one entry, as charged against KV_MAX_MEMORY_BYTES: the Entry object
 * and its two boxed times, its Map slot, the key and value strings (V8 one-byte strings: a
 * 16-byte header, rounded up to 8) and, with a TTL, a heap item and a boxed expiry time.
 * test/etcd-cache-memory.test.ts checks it against what the V8 heap really grows by.
 */
export function cachedEntryBytes(keyBytes: number, valueBytes: number, expiring: boolean): number {
  const strings = ((16 + keyBytes + 7) & ~7) + ((16 + valueBytes + 7) & ~7);
  return ENTRY_OVERHEAD_BYTES + strings + (expiring ? EXPIRY_BYTES : 0);
}

/** The Entry object (7 fields), two boxed doubles (createdAt, updatedAt) and its Map slot. */
export const ENTRY_OVERHEAD_BYTES = 160;
/** A heap item (time and key pointer in two arrays) and the boxed expiresAt. */
const EXPIRY_BYTES = 32;

/** The cost of one entry (its key and value as strings). */
export function cachedEntryCost(key: string, value: string, expiring = false): number {
  return cachedEntryBytes(Buffer.byteLength(key), Buffer.byteLength(value), expiring);
}

function costOf(entry: Entry): number {
  return cachedEntryCost(entry.key, entry.value, entry.expiresAt !== NEVER);
}

interface Waiter {
  readonly revision: number;
  /** When it gives up, on performance.now()'s clock (which a step of the wall clock does not move). */
  readonly deadline: number;
  readonly resolve: (reached: boolean) => void;
}

/**
 * How often the waits are checked for their deadlines while there are any: one timer for all of
 * them (a wait's timeout is a hang guard of a second or more, so 50 ms late is nothing), where a
 * timer each cost every write one to set and one to clear.
 */
const WAITER_CHECK_MS = 50;

/**
 * A write the node sent: settled with the revision at which the watch brought its write id back,
 * or marked `lost` when a load of the keyspace covered revisions it may have been applied at.
 */
export interface PendingWrite {
  readonly id: string;
  revision: number | undefined;
  /**
   * A load of the keyspace, read while the write was on its way, found neither its record nor
   * the m/op marker naming it: it was not applied, or it was and a later write replaced its
   * record before the load's revision (a load holds each key's newest record only, and the
   * watch brings only what comes after it). Which, no one can tell any more.
   */
  lost: boolean;
}

export class KeyspaceCache {
  private entries = new Map<string, Entry>();
  private lastRevision = 0;
  private listeners: readonly ChangeListener[] = [];
  private waiters: Waiter[] = [];
  private waiterTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, PendingWrite>();
  // Accounting over every entry held, and over the hidden ones (expired, not yet removed by etcd).
  private bytes = 0;
  private expiring = 0;
  private readonly hidden = new Set<string>();
  private hiddenBytes = 0;
  private heapTimes: number[] = [];
  private heapKeys: string[] = [];
  private expired = 0;

  private history: ChangeHistory;
  /** The revision the ring began at (the last load): it holds nothing before. */
  private ringStart = 0;

  constructor(
    private readonly layout: EtcdLayout,
    private readonly historyLimits: HistoryLimits,
  ) {
    this.history = new ChangeHistory(historyLimits);
  }

  /** The revision of the last change applied (0 before the first load). */
  get revision(): number {
    return this.lastRevision;
  }

  /** Keys removed by etcd's leases (seen on the watch) since the node started. */
  get expiredTotal(): number {
    return this.expired;
  }

  /** Every batch after this revision is in the ring (see `since`). */
  get heldFrom(): number {
    return Math.max(this.ringStart, this.history.floor);
  }

  /**
   * The batches after `after` from the ring, oldest first, at most `limit`; undefined when the
   * ring does not hold them all (they are to be read back from etcd).
   */
  since(after: number, limit: number): readonly ChangeBatch[] | undefined {
    if (after < this.ringStart) return undefined;
    const held = this.history.since(after, limit);
    return 'compacted' in held ? undefined : held;
  }

  /** Keys in `range` whose time has passed by `now` but which etcd still holds. */
  expiredIn(range: KeyRange, now: number): number {
    this.hideExpired(now);
    let n = 0;
    for (const key of this.hidden) if (inKeyRange(range, key)) n++;
    return n;
  }

  /** Entries held, hidden ones included. */
  get size(): number {
    return this.entries.size;
  }

  /** The entry of `key` as etcd holds it, also when its time has passed. */
  raw(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** The live entry of `key` at `now`. */
  live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.expiresAt > now ? entry : undefined;
  }

  /** Live keys and their bytes at `now` (hidden ones not counted). */
  liveCounts(now: number): { keys: number; bytes: number } {
    this.hideExpired(now);
    return { keys: this.entries.size - this.hidden.size, bytes: this.bytes - this.hiddenBytes };
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Resolves true once `revision` has been applied, or false after `timeoutMs` (a hang guard) or on close. */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.lastRevision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.waiters.push({ revision, deadline: performance.now() + timeoutMs, resolve });
      this.waiterTimer ??= setInterval(() => this.settleWaiters(performance.now()), WAITER_CHECK_MS);
    });
  }

  /** Watches for write `id` on the watch from now on; `done` forgets it. */
  expectWrite(id: string): PendingWrite {
    const pending: PendingWrite = { id, revision: undefined, lost: false };
    this.pending.set(id, pending);
    return pending;
  }

  done(pending: PendingWrite): void {
    this.pending.delete(pending.id);
  }

  /** Settles every wait with false (the node is closing). */
  close(): void {
    const waiters = this.waiters;
    this.waiters = [];
    this.stopWaiterTimer();
    for (const waiter of waiters) waiter.resolve(false);
  }

  /** The writes sent whose return the node still waits for: what a load read from now on may have missed (see `load`). */
  unsettled(): PendingWrite[] {
    const writes: PendingWrite[] = [];
    for (const pending of this.pending.values()) if (pending.revision === undefined) writes.push(pending);
    return writes;
  }

  /**
   * Replaces the whole keyspace with a fresh load at `revision` (the first load, or a reload after
   * etcd compacted the history the watch needed). On a reload the subscribers get the difference
   * as one batch at `revision`: what changed meanwhile, without the steps between. `exposed` are
   * the writes that were on their way when etcd answered the load's first read (`unsettled()`
   * then): each may have been applied at or before `revision`, so one the load does not find is
   * marked `lost`. A write sent after that answer is applied after `revision`, where the watch
   * finds it.
   */
  load(kvs: readonly EtcdKeyValue[], revision: number, exposed: readonly PendingWrite[] = []): void {
    const before = this.entries;
    const reload = this.lastRevision > 0;
    this.entries = new Map();
    this.bytes = 0;
    this.expiring = 0;
    this.hidden.clear();
    this.hiddenBytes = 0;
    this.heapTimes = [];
    this.heapKeys = [];
    this.history = new ChangeHistory(this.historyLimits);
    this.ringStart = revision;
    for (const kv of kvs) {
      const etcdKey = Buffer.from(kv.key, 'base64');
      const key = this.layout.keyOf(etcdKey);
      if (key === undefined) {
        // The m/op marker names the last delete or transaction: a write of this node's that went
        // unanswered may be it (as may a record below), seen here and not on the watch.
        if (etcdKey.toString('utf8') !== this.layout.opKey) continue;
        const marker = decodeMarker(Buffer.from(kv.value ?? '', 'base64'));
        if (marker !== undefined) this.settleWrite(marker.write, int(kv.mod_revision));
        continue;
      }
      const decoded = this.decode(kv, key);
      if (decoded === undefined) continue;
      this.insert(decoded.entry);
      if (decoded.write !== '') this.settleWrite(decoded.write, decoded.entry.revision);
    }
    this.lastRevision = revision;
    for (const pending of exposed) if (pending.revision === undefined) pending.lost = true;
    if (reload) {
      const changes: (PutChange | DeleteChange)[] = [];
      for (const [key, entry] of this.entries) {
        const old = before.get(key);
        if (old?.revision !== entry.revision) changes.push({ type: 'put', ...entry, prev: old === undefined ? null : previous(old) });
      }
      for (const [key, old] of before) {
        // Why it went is not known here: as for an event without a marker (change-records.ts),
        // a key that had a TTL expired.
        const reason = old.expiresAt !== NEVER ? 'expired' : 'delete';
        if (!this.entries.has(key)) changes.push({ type: 'delete', key, revision, reason, prev: previous(old) });
      }
      if (changes.length > 0) this.announce({ revision, changes });
    }
    this.settleWaiters();
  }

  /** Applies one watch message's events (in revision order). */
  apply(events: readonly EtcdEvent[]): void {
    for (const revision of byRevision(this.layout, events)) this.applyRevision(revision);
    this.settleWaiters();
  }

  /** Moves the revision on without a change (a watch progress notice). */
  advance(revision: number): void {
    if (revision <= this.lastRevision) return;
    this.lastRevision = revision;
    this.settleWaiters();
  }

  private applyRevision({ revision, marker, data }: RevisionEvents): void {
    if (revision <= this.lastRevision) return;
    if (marker !== undefined) this.settleWrite(marker.write, revision);
    const changes: Change[] = [];
    for (const event of data) {
      const old = this.entries.get(event.key);
      const change = changeOf(revision, event, old, marker);
      if (old !== undefined) this.remove(old);
      if (event.entry !== undefined) {
        this.insert(event.entry);
        if (event.write !== '') this.settleWrite(event.write, revision);
      }
      if (change === undefined) continue;
      if (change.type === 'delete' && change.reason === 'expired') this.expired++;
      changes.push(change);
    }
    this.lastRevision = revision;
    if (changes.length > 0) this.announce({ revision, changes });
  }

  private announce(batch: ChangeBatch): void {
    this.history.append(batch);
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) (listeners[i] as ChangeListener)(batch);
  }

  private settleWrite(id: string, revision: number): void {
    const pending = this.pending.get(id);
    if (pending !== undefined && pending.revision === undefined) pending.revision = revision;
  }

  /**
   * Settles the waits the applied revision has reached (true), and, given the time `now`, those
   * past their deadline (false): one pass, however many there are.
   */
  private settleWaiters(now = Number.NEGATIVE_INFINITY): void {
    if (this.waiters.length === 0) return;
    const waiting: Waiter[] = [];
    const settled: [Waiter, boolean][] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision <= this.lastRevision) settled.push([waiter, true]);
      else if (waiter.deadline <= now) settled.push([waiter, false]);
      else waiting.push(waiter);
    }
    if (settled.length === 0) return;
    this.waiters = waiting;
    if (waiting.length === 0) this.stopWaiterTimer();
    for (const [waiter, reached] of settled) waiter.resolve(reached);
  }

  private stopWaiterTimer(): void {
    clearInterval(this.waiterTimer);
    this.waiterTimer = undefined;
  }

  private decode(kv: EtcdKeyValue, known?: string) {
    const key = known ?? this.layout.keyOf(Buffer.from(kv.key, 'base64'));
    if (key === undefined) return undefined;
    return decodeRecord(key, int(kv.mod_revision), Buffer.from(kv.value ?? '', 'base64'));
  }

  private insert(entry: Entry): void {
    this.entries.set(entry.key, entry);
    this.bytes += costOf(entry);
    if (entry.expiresAt !== NEVER) {
      this.expiring++;
      if (this.heapTimes.length > 2 * this.expiring + 1024) this.rebuildHeap();
      this.push(entry.expiresAt, entry.key);
    }
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.key);
    const cost = costOf(entry);
    this.bytes -= cost;
    if (this.hidden.delete(entry.key)) this.hiddenBytes -= cost;
    if (entry.expiresAt !== NEVER) this.expiring--;
  }

  /** Counts the entries whose time has passed by `now` as hidden. */
  private hideExpired(now: number): void {
    while (this.heapTimes.length > 0 && (this.heapTimes[0] as number) <= now) {
      const at = this.heapTimes[0] as number;
      const key = this.heapKeys[0] as string;
      this.pop();
      const entry = this.entries.get(key);
      if (entry === undefined || entry.expiresAt !== at || this.hidden.has(key)) continue;
      this.hidden.add(key);
      this.hiddenBytes += costOf(entry);
    }
  }

  private push(at: number, key: string): void {
    const times = this.heapTimes;
    const keys = this.heapKeys;
    let i = times.length;
    times.push(at);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((times[parent] as number) <= at) break;
      times[i] = times[parent] as number;
      keys[i] = keys[parent] as string;
      i = parent;
    }
    times[i] = at;
    keys[i] = key;
  }

  private pop(): void {
    const times = this.heapTimes;
    const keys = this.heapKeys;
    const lastTime = times.pop() as number;
    const lastKey = keys.pop() as string;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (times[right] as number) < (times[left] as number) ? right : left;
      if ((times[child] as number) >= lastTime) break;
      times[i] = times[child] as number;
      keys[i] = keys[child] as string;
      i = child;
    }
    times[i] = lastTime;
    keys[i] = lastKey;
  }

  /** Rebuilds the heap from the entries with a TTL not yet hidden (drops stale items). */
  private rebuildHeap(): void {
    this.heapTimes = [];
    this.heapKeys = [];
    for (const entry of this.entries.values()) {
      if (entry.expiresAt !== NEVER && !this.hidden.has(entry.key)) this.push(entry.expiresAt, entry.key);
    }
  }
}
