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
 * Beside the hash index, an ordered index (ordered-index.ts) keeps every key in UTF-8 byte
 * order for listings, and a bounded history (change-history.ts), fed from the commit point,
 * keeps the latest batches for watchers to catch up from. A listing longer than a page pins a
 * copy-on-write snapshot of the ordered index at its revision (snapshot-pins.ts); while one is
 * pinned, a record it may read is never rewritten in place or freed but retired to a graveyard,
 * and records are not moved between slabs (maintain). Before a listing or snapshot takes its
 * revision, every expiry that is due is committed, so it never shows a key whose expiry has
 * passed but took a later revision.
 *
 * Invariants:
 * - `revision` is the revision of the last committed batch; a refused write takes none.
 * - The ordered index holds exactly the keys of the hash index, each with its record's address.
 * - A record last written at r is neither rewritten in place nor freed while a snapshot at R >= r
 *   is pinned; it is freed once no pinned snapshot is older than the commit that retired it.
 * - An entry whose `expiresAt` has passed is never returned: reads check the clock, and the
 *   first operation to find it expired commits its expiry (one revision, reason 'expired').
 * - `chargedBytes` is the sum of entryBytes over the records held; `expiringCount` the number
 *   of records with an expiry. The expiry queue holds at least one item (time, key hash) per
 *   expiring record; while its stale items are over half of it, every write prunes a few
 *   (PRUNE_STEP to PRUNE_MAX) and every maintenance tick more (MAINTAIN_PRUNE), never all at once.
 *
 * Cost. A single-key write is one probe of the hash index: the plan's read, the limit check and
 * the apply all reuse it (RecordTable.reprobe), and the plan reads the old entry's value only if
 * an op needs it (TxnView.peek).
 */

import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../../clock.js';
import {
  type Change,
  type ChangeBatch,
  type ChangeListener,
  type CreateOptions,
  type DeleteChange,
  type DeleteOptions,
  type Entry,
  type HistoryCompacted,
  type Journal,
  type KvStore,
  type ListItemVisitor,
  type ListPage,
  type ListQuery,
  type MaybePromise,
  NEVER,
  type Preconditions,
  type PreviousValue,
  type PutChange,
  type ReplaceOptions,
  type StoreCapabilities,
  type StoreStats,
} from '../store.js';
import { StoreError } from '../store-error.js';
import {
  type PlannedChange,
  planSingleWrite,
  planTransaction,
  type SingleWriteOp,
  type TxnOutcome,
  type TxnPlan,
  type TxnRequest,
  type TxnResult,
  type TxnView,
} from '../txn.js';
import { ChangeHistory, type HistoryLimits } from './change-history.js';
import { entryBytes } from './entry-cost.js';
import { ExpiryQueue } from './expiry-queue.js';
import { countRange, OrderedIndex, scanPage } from './ordered-index.js';
import { PeekedEntry, readEntry, readPage, treeEntries, treeRecords } from './record-reads.js';
import {
  type IndexPosition,
  type KeyProbe,
  NOT_FOUND,
  RECORD_HEADER_BYTES,
  type RecordAddress,
  type RecordImage,
  type RecordNumbers,
  RecordTable,
  recordClassBytes,
  type ValueUtf8,
} from './record-table.js';
import { type CursorLimits, SnapshotPins } from './snapshot-pins.js';
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
  /** How much change history to keep for watchers (default 10,000 revisions and 64 MiB). */
  readonly history?: Partial<HistoryLimits> | undefined;
  /** How long listings' snapshots are kept for their cursors (default 60 s after last use, 1,000 at most). */
  readonly cursors?: Partial<CursorLimits> | undefined;
  /** Record each change's previous value in its change record (default true; see docs/list-watch.md for its cost). */
  readonly previousValues?: boolean | undefined;
  /** The store is logged to disk (KV_DATA_DIR): its writes survive a restart (capabilities.durable). */
  readonly durable?: boolean | undefined;
}

/** A snapshot being loaded part by part (MemoryStore.beginLoad). */
export interface SnapshotLoad {
  /** Loads these entries (none may be newer than the snapshot's revision). */
  add(entries: Iterable<Entry>): void;
  /**
   * Loads one entry given as bytes, as a snapshot file holds it: its key's and value's UTF-8
   * are copied into the store's records without being decoded (`add` decodes and encodes
   * again). Its key must not be loaded yet, and it must be no newer than the snapshot.
   */
  addUtf8(entry: EntryUtf8): void;
  /**
   * Loads records given as images, as a snapshot file holds them (RecordTable.adoptRecords):
   * copied into the slabs a run at a time and indexed, nothing decoded. Their keys must not be
   * loaded yet, and none may be newer than the snapshot.
   */
  addRecords(records: RecordImages): void;
  /** Entries loaded so far. */
  readonly loaded: number;
  /** The store is at the snapshot's revision, ready. */
  finish(): void;
}

/**
 * Records as images (RecordTable.adoptRecords), checked: `count` of them from `start` of
 * `bytes` (`view` is a DataView of `bytes`), the newest of revision `maxRevision`.
 */
export interface RecordImages {
  readonly bytes: Buffer;
  readonly view: DataView;
  readonly start: number;
  readonly count: number;
  readonly maxRevision: number;
}

/** An entry as UTF-8 bytes: its numbers, and where its key and its value's JSON text lie in `bytes`. */
export interface EntryUtf8 extends RecordNumbers {
  readonly bytes: Buffer;
  readonly keyStart: number;
  readonly keyBytes: number;
  readonly valueStart: number;
  readonly valueBytes: number;
}

/** A logged commit as bytes, for `replayQuietly`: its revision, and its changes visited in order. */
export interface CommitUtf8 {
  readonly revision: number;
  /** Visits each change in order; the object handed out may be reused for the next. */
  forEach(visit: (change: ChangeUtf8) => void): void;
}

/** A change of a CommitUtf8: a put's entry as bytes, or a delete's key (and its `revision`). */
export interface ChangeUtf8 extends EntryUtf8 {
  readonly deleted: boolean;
}

/** A consistent view of every live entry at one revision, for a durable snapshot. */
export interface StoreSnapshot {
  readonly revision: number;
  /** The entries live at `revision`, in key order (UTF-8 bytes). Iterate while the snapshot is held. */
  entries(): Iterable<Entry>;
  /** The same entries as their records' images (RecordTable.image), for a RECORDS snapshot; each is valid until the next. */
  records(): Iterable<RecordImage>;
  /** Lets go of the snapshot (once; later calls do nothing). */
  release(): void;
}

export const DEFAULT_HISTORY: HistoryLimits = { maxRevisions: 10_000, maxBytes: 64 * 1_048_576 };
export const DEFAULT_CURSORS: CursorLimits = { ttlMs: 60_000, maxCursors: 1000 };

/**
 * Most expired entries removed in one synchronous sweep, so a sweep never stalls requests: each
 * removal is a commit (a few µs), so 500 of them are one to two milliseconds; the sweeper lets
 * pending I/O run between sweeps (2,000 at a time took 13 ms a step on average, measured on a
 * busy machine with bench/engine-pauses.mjs).
 *
 * A count alone did not bound a step in time: the first sweeps of a process run code that was
 * never run before (nothing had been deleted), interpreted until V8 has compiled it, and
 * removals far apart in memory miss the caches; the first steps of a million keys expiring at
 * once took 10-49 ms for their 500 (bench/engine-pauses.mjs). So the sweeper's step also stops
 * after SWEEP_STEP_MS, as Redis's active expiry cycle stops at its time limit, looking at the
 * clock every SWEEP_CLOCK_MASK + 1 items.
 */
export const SWEEP_BATCH = 500;
/** Most milliseconds of one step of the sweeper, and of the records one maintenance tick moves. */
export const SWEEP_STEP_MS = 2;
const MAINTAIN_STEP_MS = 2;
const SWEEP_CLOCK_MASK = 7;
/**
 * Expiry queue items a write checks for staleness while stale items are over half the queue: 8,
 * and one more for every 8 items over that bound, at most PRUNE_MAX (a few µs of work).
 */
const PRUNE_STEP = 8;
const PRUNE_MAX = 256;
/** Expiry queue items each maintenance tick checks (about 0.5 ms of work). */
const MAINTAIN_PRUNE = 8192;

export class MemoryStore implements KvStore {
  readonly capabilities: StoreCapabilities;
  readonly id: string;
  private readonly table = new RecordTable();
  private readonly order = new OrderedIndex(this.table);
  private readonly pins: SnapshotPins;
  private readonly history: ChangeHistory;
  private readonly previousValues: boolean;
  private readonly expiry = new ExpiryQueue();
  private readonly sweeper = new SweepScheduler(this);
  private readonly clock: Clock;
  private readonly limits: StoreLimits;
  /** A key count or memory limit is set: writes that grow the store are checked against it. */
  private readonly limited: boolean;
  private listeners: readonly ChangeListener[] = [];
  private journal: Journal | undefined;
  private lastRevision = 0;
  private chargedBytes = 0;
  private expiringCount = 0;
  private expiredTotal = 0;
  /** The time `planView` reads the store at (set before each plan). */
  private planNow = 0;
  /** The time the expiry queue's items are resolved against (set before a sweep or prune). */
  private expiryNow = 0;
  /** The one view every plan reads through (no closures per write). */
  private readonly planView: TxnView = {
    get: (key) => {
      const probe = this.liveProbe(key, this.planNow);
      return probe.position === NOT_FOUND ? undefined : readEntry(this.table, key, this.table.addressAt(probe.position));
    },
    peek: (key) => {
      const probe = this.liveProbe(key, this.planNow);
      return probe.position === NOT_FOUND ? undefined : new PeekedEntry(this.table, key, this.table.addressAt(probe.position));
    },
    keysWithPrefix: (prefix) => {
      const keys = this.order.keysWithPrefix(prefix);
      // Expired keys are still indexed until swept: the plan sees only live ones.
      return keys.filter((key) => this.liveProbe(key, this.planNow).position !== NOT_FOUND);
    },
  };

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.id = options.id ?? randomUUID();
    this.limits = {
      maxKeys: options.limits?.maxKeys ?? Number.POSITIVE_INFINITY,
      maxMemoryBytes: options.limits?.maxMemoryBytes ?? Number.POSITIVE_INFINITY,
    };
    this.limited = Number.isFinite(this.limits.maxKeys) || Number.isFinite(this.limits.maxMemoryBytes);
    this.previousValues = options.previousValues ?? true;
    this.capabilities = { durable: options.durable ?? false, previousValues: this.previousValues };
    this.pins = new SnapshotPins({ ...DEFAULT_CURSORS, ...options.cursors }, (address) => this.table.free(address));
    this.history = new ChangeHistory({ ...DEFAULT_HISTORY, ...options.history });
    // The history is the first subscriber, so every other one finds a batch in it already.
    this.subscribe((batch) => this.history.append(batch));
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

  /** Snapshots pinned (by listings' cursors and other holders). */
  get pinnedSnapshots(): number {
    return this.pins.size;
  }

  /** Bytes of records kept only for pinned snapshots (counted against maxMemoryBytes). */
  get retainedBytes(): number {
    return this.pins.retainedBytes;
  }

  /** Records kept only for pinned snapshots. */
  get retainedRecords(): number {
    return this.pins.retainedRecords;
  }

  start(): void {
    this.sweeper.start();
  }

  close(): void {
    this.sweeper.stop();
    this.pins.clear();
  }

  /** Whether commits applied wait for the journal's write (see KvStore.unwritten). */
  unwritten(): Promise<void> | undefined {
    return this.journal?.unwritten?.();
  }

  /** The newest revision watchers may be shown (see KvStore.shownRevision). */
  shownRevision(): number {
    return this.journal?.shownRevision?.() ?? this.lastRevision;
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

  /**
   * Replays a logged commit given as bytes, at start-up, without announcing it to subscribers:
   * the change history then begins after it, as after a snapshot's load (a watcher resuming from
   * before it is told history_compacted). For the commits older than what the history would
   * keep (historyDepth), so that only the newest are decoded and `replay`ed. A put of a key the
   * store does not hold is copied in as bytes, as a snapshot's entries are; any other change is
   * decoded and applied as `replay` applies it (without the previous value no one will read).
   */
  replayQuietly(commit: CommitUtf8): void {
    const revision = commit.revision;
    if (revision <= this.lastRevision) throw new RangeError(`replay of revision ${revision} after ${this.lastRevision}`);
    commit.forEach((change) => {
      const probe = this.table.probeUtf8(change.bytes, change.keyStart, change.keyBytes);
      if (change.deleted) {
        if (probe.position !== NOT_FOUND) this.remove(probe.position, change.revision);
        return;
      }
      if (probe.position === NOT_FOUND) {
        this.insertUtf8(probe, change);
        return;
      }
      // An overwrite, its value copied as the log holds it (apply's would decode it and encode it again).
      const hash = probe.hash;
      this.overwrite(probe.position, change, change.valueBytes, change);
      if (change.expiresAt !== NEVER) this.trackExpiry(hash, change.expiresAt);
    });
    this.lastRevision = revision;
    this.history.startAfter(revision);
  }

  /** How many of the newest revisions the change history keeps for watchers (KV_WATCH_HISTORY). */
  get historyDepth(): number {
    return this.history.maxRevisions;
  }

  /**
   * Loads a durable snapshot into an empty store: its entries as they were at `revision`, neither
   * journaled nor announced; the store is then at `revision`, and its change history begins
   * after it (a watcher resuming from before it is told history_compacted). An entry whose time
   * has passed is loaded too, and expired as usual: a commit of its own.
   */
  load(entries: Iterable<Entry>, revision: number): void {
    const loading = this.beginLoad(revision);
    loading.add(entries);
    loading.finish();
  }

  /**
   * Before a large load from disk (a snapshot and the log after it): a worker on another core
   * faults in the memory the records will go to while the files are read (RecordTable.prefault).
   * Returns what ends it, to call once the load is done, whether or not it succeeded.
   */
  prefaultForLoad(): () => void {
    this.table.prefault();
    return () => this.table.endPrefault();
  }

  /**
   * `load` a part at a time, as a snapshot is read: `add` each part's entries as soon as they are
   * decoded (nothing gathers the whole snapshot on the JS heap first), then `finish`. Until then
   * the store is at revision 0 and must not be used otherwise. `expectedEntries`, when the
   * snapshot says how many it holds, sizes the index for them up front.
   */
  beginLoad(revision: number, expectedEntries = 0): SnapshotLoad {
    if (this.lastRevision !== 0 || this.table.size !== 0) throw new Error('load needs an empty store');
    const table = this.table;
    table.reserve(expectedEntries);
    return {
      add: (entries) => {
        for (const entry of entries) {
          if (entry.revision > revision) throw new RangeError(`an entry at revision ${entry.revision} in a snapshot at ${revision}`);
          this.apply(putChange(entry, undefined));
        }
      },
      addUtf8: (entry) => {
        if (entry.revision > revision) throw new RangeError(`an entry at revision ${entry.revision} in a snapshot at ${revision}`);
        const probe = this.table.probeUtf8(entry.bytes, entry.keyStart, entry.keyBytes);
        if (probe.position !== NOT_FOUND) throw new RangeError('a key loaded twice from one snapshot');
        this.insertUtf8(probe, entry);
      },
      addRecords: (records) => {
        if (records.maxRevision > revision) {
          throw new RangeError(`an entry at revision ${records.maxRevision} in a snapshot at ${revision}`);
        }
        table.adoptRecords(records.bytes, records.view, records.start, records.count, (address, hash) => {
          this.order.add(address);
          const expiresAt = table.expiresAt(address);
          const expiring = expiresAt !== NEVER;
          this.chargedBytes += entryBytes(table.keyBytes(address), table.valueBytes(address), expiring);
          if (expiring) this.trackExpiry(hash, expiresAt);
        });
      },
      get loaded() {
        return table.size;
      },
      finish: () => {
        this.lastRevision = revision;
        this.history.startAfter(revision);
      },
    };
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  changesSince(after: number, limit: number): readonly ChangeBatch[] | HistoryCompacted {
    return this.history.since(after, limit);
  }

  list(query: ListQuery, visitor?: ListItemVisitor): ListPage {
    const now = this.clock.now();
    this.pins.expireIdle(now);
    const from = query.from;
    if (from === undefined) {
      this.sweepDue(now);
      const revision = this.lastRevision;
      const tree = this.order.live;
      const scan = scanPage(tree, query, query, undefined);
      const page = readPage(this.table, revision, scan, query.values, query.count ? countRange(tree, query) : undefined, visitor);
      // More to come: the listing's revision is pinned for its next pages (same tick: nothing changed since the scan).
      if (page.next !== undefined) this.pins.pinForCursor(revision, () => this.order.freeze(), now);
      return page;
    }
    const snapshot = this.pins.cursor(from.revision, now);
    if (snapshot === undefined) {
      throw new StoreError('cursor_expired', {
        revision: from.revision,
        lastKey: from.after,
        why: 'a cursor lives KV_CURSOR_TTL_MS after its last use, at most KV_MAX_CURSORS at once, and none survives a restart',
      });
    }
    return readPage(this.table, from.revision, scanPage(snapshot.tree, query, query, from.after), query.values, undefined, visitor);
  }

  /**
   * Every live entry at the current revision, consistently, however long the iteration takes
   * and whatever is written meanwhile (for durable snapshots). Due expiries are committed first.
   * Records the snapshot reads are kept until `release`: release it as soon as it is written.
   */
  snapshot(): StoreSnapshot {
    this.sweepDue(this.clock.now());
    const revision = this.lastRevision;
    const held = this.pins.hold(revision, () => this.order.freeze());
    return {
      revision,
      entries: () => treeEntries(this.table, held.tree),
      records: () => treeRecords(this.table, held.tree),
      release: held.release,
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
    return probe.position === NOT_FOUND ? undefined : readEntry(this.table, key, this.table.addressAt(probe.position));
  }

  create(key: string, value: string, options: CreateOptions = {}): MaybePromise<Entry> {
    return this.writeOne({ op: 'create', key, value, ttlMs: options.ttlMs }, undefined, 1) as MaybePromise<Entry>;
  }

  replace(key: string, value: string, options: ReplaceOptions = {}): MaybePromise<Entry> {
    return this.writeOne({ op: 'replace', key, value, ttlMs: options.ttlMs }, options.conditions, 0) as MaybePromise<Entry>;
  }

  delete(key: string, options: DeleteOptions = {}): MaybePromise<number> {
    return this.writeOne({ op: 'delete', key }, options.conditions, -1) as MaybePromise<number>;
  }

  /**
   * Runs a transaction: planTransaction (store/txn.ts) evaluates it over the live entries, then
   * its plan is committed as one batch, as the single-key writes above are: one path for both.
   */
  txn(request: TxnRequest): MaybePromise<TxnOutcome> {
    const now = this.clock.now();
    this.planNow = now;
    const planned = planTransaction(request, this.planView, now);
    if ('failures' in planned) return { succeeded: false, revision: this.lastRevision, failures: planned.failures };
    if (!planned.writes) return { succeeded: true, revision: this.lastRevision, results: planned.at(this.lastRevision).results };
    return this.commitPlan(planned, now, 'txn', (revision, results) => ({ succeeded: true as const, revision, results }));
  }

  /**
   * Removes up to `limit` entries whose time has passed, earliest first, and returns how many
   * it removed. Each removal is a commit of its own. With `until`, it also stops once the store's
   * clock has passed that time.
   */
  sweepExpired(limit = SWEEP_BATCH, now = this.clock.now(), until = Number.POSITIVE_INFINITY): number {
    let removed = 0;
    // Every item popped counts toward the limit, stale ones too, so a sweep is always bounded.
    for (let popped = 0; popped < limit && this.expiry.size > 0 && this.expiry.peekTime() <= now; popped++) {
      if ((popped & SWEEP_CLOCK_MASK) === SWEEP_CLOCK_MASK && this.clock.now() > until) break;
      const hash = this.expiry.pop();
      this.expiryNow = now;
      const position = this.table.findByHash(hash, this.expiredByNow);
      if (position === NOT_FOUND) continue;
      this.expire(position);
      removed++;
    }
    return removed;
  }

  /**
   * One step of the background sweeper: at most SWEEP_BATCH entries and SWEEP_STEP_MS of work,
   * whichever comes first. Returns true when more entries are due.
   */
  sweepStep(): boolean {
    const now = this.clock.now();
    this.sweepExpired(SWEEP_BATCH, now, now + SWEEP_STEP_MS);
    return this.hasExpired();
  }

  /**
   * Lets go of idle cursors' snapshots, and gives record memory back when much of it is free
   * (see RecordTable.maintain; records are not moved while a snapshot is pinned). Returns the
   * bytes given back.
   */
  maintain(): number {
    this.pins.expireIdle(this.clock.now());
    if (this.expiry.size > this.expiringCount) this.expiry.prune(MAINTAIN_PRUNE, this.staleItem);
    const until = this.clock.now() + MAINTAIN_STEP_MS;
    return this.table.maintain({ evacuate: this.pins.size === 0, moved: this.recordMoved, overdue: () => this.clock.now() > until });
  }

  /** A record moved to another slab: the ordered index follows it. */
  private readonly recordMoved = (address: RecordAddress, from: RecordAddress): void => {
    this.order.move(address, from);
  };

  /** True when an expired entry is waiting to be swept. */
  hasExpired(): boolean {
    return this.expiry.peekTime() <= this.clock.now();
  }

  /** A record whose expiry has passed at `expiryNow` (how a popped expiry item finds its entry). */
  private readonly expiredByNow = (address: RecordAddress): boolean => this.table.expiresAt(address) <= this.expiryNow;

  /** A record that expires exactly at `expiryNow` (an expiry item for it is live). */
  private readonly expiresAtNow = (address: RecordAddress): boolean => this.table.expiresAt(address) === this.expiryNow;

  /** True when no record with this key hash expires at `time`: the item is stale. */
  private readonly staleItem = (time: number, hash: number): boolean => {
    this.expiryNow = time;
    return this.table.findByHash(hash, this.expiresAtNow) === NOT_FOUND;
  };

  /**
   * A single-key write: planned on its own (planSingleWrite: a one-op transaction's outcome
   * without the planner's staging), checked against the limits, then committed as a batch of
   * one change, through the same commit point as a transaction. Answers the entry written, or
   * for a delete the revision. `newKeys` is what the write adds to the key count when it succeeds.
   */
  private writeOne(op: SingleWriteOp, conditions: Preconditions | undefined, newKeys: number): MaybePromise<Entry | number> {
    const now = this.clock.now();
    this.planNow = now;
    const planned = planSingleWrite(op, this.planView.peek?.(op.key), now, conditions);
    if (this.limited) {
      const changes = [planned];
      if (!this.fits(newKeys, this.bytesNeeded(changes))) this.makeRoom(newKeys, changes, now);
    }
    const revision = this.lastRevision + 1;
    if (planned.type === 'delete') {
      const change: DeleteChange = { type: 'delete', key: planned.key, revision, reason: 'delete' };
      return this.answer(this.commit({ revision, changes: [change] }), revision);
    }
    const e = planned.entry;
    const entry: Entry = {
      key: e.key,
      value: e.value,
      version: e.version,
      revision,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      expiresAt: e.expiresAt,
    };
    return this.answer(this.commit({ revision, changes: [putChange(entry, undefined)] }), entry);
  }

  /** What `changes` add to the charged bytes; a record a snapshot may read stays beside its successor. */
  private bytesNeeded(changes: readonly PlannedChange[]): number {
    const table = this.table;
    let bytes = 0;
    for (const change of changes) {
      const position = table.reprobe(change.type === 'put' ? change.entry.key : change.key).position;
      const old = position === NOT_FOUND ? undefined : table.addressAt(position);
      const kept = old !== undefined && this.pins.mustKeep(table.revision(old)) ? table.classBytes(old) : 0;
      if (change.type === 'delete') bytes += kept - (old === undefined ? 0 : this.costOf(old));
      else {
        const e = change.entry;
        bytes +=
          entryBytes(Buffer.byteLength(e.key), Buffer.byteLength(e.value), e.expiresAt !== NEVER) +
          kept -
          (old === undefined ? 0 : this.costOf(old));
      }
    }
    return bytes;
  }

  /**
   * Commits a plan that writes: checks the limits for the whole of it first (insufficient_storage,
   * nothing applied), then one batch at the next revision. `finish` makes the answer from the
   * revision and the per-op results.
   */
  private commitPlan<T>(
    plan: TxnPlan,
    now: number,
    reason: 'txn' | undefined,
    finish: (revision: number, results: readonly TxnResult[]) => T,
  ): MaybePromise<T> {
    if (this.limited && !this.fits(plan.newKeys, this.bytesNeeded(plan.changes))) this.makeRoom(plan.newKeys, plan.changes, now);
    const revision = this.lastRevision + 1;
    const { changes, results } = plan.at(revision);
    const batch: Change[] = [];
    for (const change of changes) {
      // No one keeps a batch for long (the history keeps bytes): the plan's key strings will do.
      if (change.type === 'put') batch.push(putChange(change.entry, reason));
      else batch.push({ type: 'delete', key: change.key, revision, reason: reason ?? 'delete' });
    }
    return this.answer(this.commit({ revision, changes: batch }), finish(revision, results));
  }

  /** The result of a write: at once, or once the journal says it is durable. */
  private answer<T>(durable: Promise<void> | undefined, result: T): MaybePromise<T> {
    return durable === undefined ? result : durable.then(() => result);
  }

  /**
   * The commit point. `batch` has passed validation and carries the next revision. The journal
   * (if any) gets the batch first: if it throws, nothing is applied. Then every change is
   * applied and the batch announced. Returns the journal's promise when the answer must wait.
   */
  private commit(batch: ChangeBatch): Promise<void> | undefined {
    const durable = this.journal?.append(batch);
    const changes = batch.changes;
    for (let i = 0; i < changes.length; i++) this.apply(changes[i] as Change);
    this.lastRevision = batch.revision;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) (listeners[i] as ChangeListener)(batch);
    return durable;
  }

  /**
   * Makes the table and the ordered index say what `change` says, and records what the key held
   * before (`prev`, unless `withPrev` is false). Called by commit (and replayQuietly). A record a
   * pinned snapshot may read is retired, not rewritten or freed. The key's probe is the one
   * validation took when nothing changed since.
   */
  private apply(change: Change, withPrev = this.previousValues): void {
    const table = this.table;
    const probe = table.reprobe(change.key);
    if (change.type === 'delete') {
      if (probe.position === NOT_FOUND) {
        if (withPrev) change.prev = null;
        return;
      }
      if (withPrev) change.prev = this.previous(table.addressAt(probe.position));
      this.remove(probe.position, change.revision);
      return;
    }
    const expiring = change.expiresAt !== NEVER;
    const valueBytes = Buffer.byteLength(change.value);
    if (probe.position === NOT_FOUND) {
      const address = table.insertAt(probe, change.value, change);
      this.order.add(address);
      this.chargedBytes += entryBytes(table.keyBytes(address), valueBytes, expiring);
      if (withPrev) change.prev = null;
    } else {
      if (withPrev) change.prev = this.previous(table.addressAt(probe.position));
      this.overwrite(probe.position, change.value, valueBytes, change);
    }
    if (expiring) this.trackExpiry(probe.hash, change.expiresAt);
  }

  /**
   * Gives the entry at `position` a new value (`valueBytes` long, as text or as its UTF-8) and
   * numbers: the record rewritten or moved, the ordered index and the charge following it. The
   * caller tracks the new expiry, if any.
   */
  private overwrite(position: IndexPosition, value: string | ValueUtf8, valueBytes: number, numbers: RecordNumbers): void {
    const table = this.table;
    const old = table.addressAt(position);
    const expiring = numbers.expiresAt !== NEVER;
    const oldCost = this.costOf(old);
    const hadExpiry = table.expiresAt(old) !== NEVER;
    if (hadExpiry) this.expiringCount--;
    this.chargedBytes += entryBytes(table.keyBytes(old), valueBytes, expiring) - oldCost;
    const keep = this.pins.mustKeep(table.revision(old));
    // A record that moves to another size class is freed only after the ordered index has
    // followed it (the index finds its slot by the old address).
    const moves = keep || recordClassBytes(RECORD_HEADER_BYTES + table.keyBytes(old) + valueBytes) !== table.classBytes(old);
    const address = table.rewrite(position, value, numbers, moves);
    if (address !== old) this.order.move(address, old);
    if (keep) this.pins.retire(old, table.classBytes(old), numbers.revision);
    else if (moves) table.free(old);
    if (!expiring && hadExpiry) this.pruneExpiryQueue();
  }

  /** What the record at `address` holds, as a change's `prev`. */
  private previous(address: RecordAddress): PreviousValue {
    const table = this.table;
    return { value: table.value(address), version: table.version(address), revision: table.revision(address) };
  }

  /** Commits every expiry that is due at `now`, however many (before a listing or snapshot takes its revision). */
  private sweepDue(now: number): void {
    while (this.expiry.peekTime() <= now) this.sweepExpired(SWEEP_BATCH, now);
  }

  /** The probe of `key` if it is live; an expired entry found on the way is expired (committed) first. */
  private liveProbe(key: string, now: number): KeyProbe {
    const probe = this.table.reprobe(key);
    if (probe.position === NOT_FOUND || this.table.expiresAt(this.table.addressAt(probe.position)) > now) return probe;
    this.expire(probe.position);
    return this.table.probe(key);
  }

  /** Commits the expiry of the entry at `position`. */
  private expire(position: IndexPosition): void {
    this.expiredTotal++;
    const key = this.table.key(this.table.addressAt(position));
    const change: DeleteChange = { type: 'delete', key, revision: this.lastRevision + 1, reason: 'expired' };
    this.commit({ revision: change.revision, changes: [change] });
  }

  /** What the entry at `address` is charged (see entry-cost.ts). */
  private costOf(address: RecordAddress): number {
    const table = this.table;
    return entryBytes(table.keyBytes(address), table.valueBytes(address), table.expiresAt(address) !== NEVER);
  }

  /**
   * Expired entries still hold room until swept, and records kept for listings until their
   * cursors let go: reclaims a batch of the first and lets go of all of the second, then refuses
   * with insufficient_storage if the write (its planned `changes`) still does not fit. Same
   * `now`: the entries a plan read, live at `now`, are never swept from under it.
   */
  private makeRoom(newKeys: number, changes: readonly PlannedChange[], now: number): void {
    if (this.expiry.peekTime() <= now) this.sweepExpired(SWEEP_BATCH, now);
    // Records kept for listings' snapshots yield to writes: those listings' cursors expire.
    if (!this.fits(newKeys, this.bytesNeeded(changes)) && this.pins.size > 0) this.pins.evictCursors();
    const newBytes = this.bytesNeeded(changes);
    if (this.table.size + Math.max(0, newKeys) > this.limits.maxKeys) {
      throw new StoreError('insufficient_storage', {
        why: `the store holds its limit of ${this.limits.maxKeys} keys (KV_MAX_KEYS); delete keys to make room`,
      });
    }
    if (!this.fits(newKeys, newBytes)) {
      throw new StoreError('insufficient_storage', {
        why: `the write needs ${newBytes} more bytes, but the store uses ${this.chargedBytes} of its ${this.limits.maxMemoryBytes} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
      });
    }
  }

  private fits(newKeys: number, newBytes: number): boolean {
    return (
      this.table.size + newKeys <= this.limits.maxKeys &&
      this.chargedBytes + this.pins.retainedBytes + newBytes <= this.limits.maxMemoryBytes
    );
  }

  /** Inserts the entry `entry` gives as bytes, whose key `probe` (fresh) did not find: copied in, not decoded. */
  private insertUtf8(probe: KeyProbe, entry: EntryUtf8): void {
    const address = this.table.insertUtf8At(probe, entry.bytes, entry.valueStart, entry.valueBytes, entry);
    this.order.add(address);
    const expiring = entry.expiresAt !== NEVER;
    this.chargedBytes += entryBytes(entry.keyBytes, entry.valueBytes, expiring);
    if (expiring) this.trackExpiry(probe.hash, entry.expiresAt);
  }

  /** Queues the entry whose key hashes to `hash` for expiry at `expiresAt`. */
  private trackExpiry(hash: number, expiresAt: number): void {
    this.expiringCount++;
    this.expiry.push(expiresAt, hash);
    this.pruneExpiryQueue();
  }

  /** Removes the record at `position` by the commit of `revision`: freed, or retired if a snapshot may read it. */
  private remove(position: IndexPosition, revision: number): void {
    const table = this.table;
    const address = table.addressAt(position);
    this.chargedBytes -= this.costOf(address);
    const hadExpiry = table.expiresAt(address) !== NEVER;
    // Out of the ordered index first: it compares keys in their records, so the record must still be there.
    this.order.remove(address);
    if (this.pins.mustKeep(table.revision(address))) {
      table.detachAt(position);
      this.pins.retire(address, table.classBytes(address), revision);
    } else table.removeAt(position);
    if (hadExpiry) {
      this.expiringCount--;
      this.pruneExpiryQueue();
    }
  }

  /** While stale items are over half the expiry queue, checks a few of them (PRUNE_STEP or more) and drops the stale ones. */
  private pruneExpiryQueue(): void {
    const over = this.expiry.size - (2 * this.expiringCount + 1024);
    if (over > 0) this.expiry.prune(Math.min(PRUNE_MAX, PRUNE_STEP + (over >> 3)), this.staleItem);
  }
}

/**
 * A put of `e` as a change record of its own (apply sets its `prev`, so the entry itself is never
 * handed on). Two literals, so that a change without a reason has no `reason` field at all and
 * each kind keeps one object shape.
 */
function putChange(e: Entry, reason: 'txn' | undefined): PutChange {
  return reason === undefined
    ? {
        type: 'put',
        key: e.key,
        value: e.value,
        version: e.version,
        revision: e.revision,
        createdAt: e.createdAt,
        updatedAt: e.updatedAt,
        expiresAt: e.expiresAt,
      }
    : {
        type: 'put',
        key: e.key,
        value: e.value,
        version: e.version,
        revision: e.revision,
        createdAt: e.createdAt,
        updatedAt: e.updatedAt,
        expiresAt: e.expiresAt,
        reason,
      };
}
