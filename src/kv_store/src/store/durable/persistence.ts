/*
 * Persistence for the memory engine (KV_DATA_DIR): the one object main.ts holds. open() locks
 * the data directory, recovers the store from it (snapshot, then log) and hands the engine the
 * write-ahead log as its journal; from then on every commit is logged before it is applied.
 * Snapshots bound the log: once KV_SNAPSHOT_EVERY_BYTES of log has been written since the
 * last one, a snapshot of the engine's state is written in the background (snapshot-writer.ts)
 * and the segments it covers are removed. ready() says whether the store should get traffic:
 * not while recovering, not when read-only after a failure.
 */

import type { MemoryStore } from '../memory/memory-store.js';
import { DataDirError, listDataDir, lockDataDir, type ReleaseLock, storeIdOf } from './data-dir.js';
import { type FileLayer, nodeFiles } from './file-layer.js';
import { type FsyncPolicy, type PersistenceLog, type RecoveryMode, realScheduler, type Scheduler } from './options.js';
import { recover } from './recovery.js';
import { type StateSnapshot, type WrittenSnapshot, writeSnapshot } from './snapshot-writer.js';
import { type WalStats, WriteAheadLog } from './write-ahead-log.js';
import { join } from 'node:path';

export interface PersistenceOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly recovery: RecoveryMode;
  /** Log bytes written since the last snapshot that start the next one. */
  readonly snapshotEveryBytes: number;
  /** Size at which a log segment is finished and the next begun. */
  readonly segmentBytes: number;
  /** close() writes a snapshot when commits were logged since the last one (off by default). */
  readonly snapshotOnClose?: boolean;
  readonly log: PersistenceLog;
  /** Builds the (empty) engine with the directory's store id. */
  readonly createStore: (id: string) => MemoryStore;
  readonly files?: FileLayer;
  readonly scheduler?: Scheduler;
  /** Fill the log ahead of its records with zeros (on by default; see write-ahead-log.ts). */
  readonly zeroAhead?: boolean;
  /** Lock the directory against a second process; on by default (off with a file-layer double). */
  readonly lock?: boolean;
  /** Where snapshots come from; the engine's pinned snapshot() by default (tests give a model's). */
  readonly snapshots?: (store: MemoryStore) => StateSnapshot;
}

/** Whether the store should get traffic, and why not (for /readyz). */
export interface ReadyState {
  readonly ok: boolean;
  readonly reason: string;
}

export interface PersistenceStats extends WalStats {
  readonly logBytesSinceSnapshot: number;
  readonly lastSnapshot: (WrittenSnapshot & { readonly at: number; readonly ms: number }) | undefined;
}

export class Persistence {
  private state: 'new' | 'recovering' | 'open' | 'closed' = 'new';
  private readonly files: FileLayer;
  private readonly scheduler: Scheduler;
  private store: MemoryStore | undefined;
  private wal: WriteAheadLog | undefined;
  private releaseLock: ReleaseLock = () => {};
  private logBytes = 0;
  private snapshotFile: string | undefined;
  /** The revision of the newest snapshot on disk (0: none). */
  private snapshotRevision = 0;
  private snapshotting: Promise<WrittenSnapshot | undefined> | undefined;
  private snapshotQueued = false;
  private lastSnapshot: PersistenceStats['lastSnapshot'];
  private readonly fsyncObservers: Array<(seconds: number) => void> = [];
  private closing = false;

  constructor(private readonly options: PersistenceOptions) {
    this.files = options.files ?? nodeFiles;
    this.scheduler = options.scheduler ?? realScheduler;
  }

  /** Locks the directory and recovers the store from it; throws DataDirError when it cannot be used. */
  async open(): Promise<MemoryStore> {
    if (this.state !== 'new') throw new Error('Persistence.open() is called once');
    const { dir, log } = this.options;
    const started = this.scheduler.now();
    this.state = 'recovering';
    try {
      this.files.mkdirp(dir);
      if (this.options.lock !== false) this.releaseLock = lockDataDir(dir, (message) => log.warn({ dir }, message));
    } catch (err) {
      this.state = 'closed';
      if (err instanceof DataDirError) throw err;
      throw new DataDirError(`cannot use the data directory ${dir}: ${(err as Error).message}`);
    }
    try {
      const listing = listDataDir(this.files, dir);
      const { id, isNew } = await storeIdOf(this.files, dir, listing);
      const store = this.options.createStore(id);
      const recovered = await recover(store, { files: this.files, dir, storeId: id, listing, mode: this.options.recovery, log });
      for (const name of recovered.obsolete) this.remove(name);
      if (recovered.obsolete.length > 0) await this.files.syncDir(dir);
      this.wal = await WriteAheadLog.open(
        {
          files: this.files,
          dir,
          storeId: id,
          fsync: this.options.fsync,
          segmentBytes: this.options.segmentBytes,
          zeroAhead: this.options.zeroAhead,
          scheduler: this.scheduler,
          log,
          onWrite: (bytes) => this.written(bytes),
          onFsync: (seconds) => {
            for (const observe of this.fsyncObservers) observe(seconds);
          },
        },
        recovered.revision,
        recovered.segments,
        recovered.lastSegmentSize,
      );
      store.setJournal(this.wal);
      this.store = store;
      this.snapshotFile = recovered.snapshot?.name;
      this.snapshotRevision = recovered.snapshot?.revision ?? 0;
      this.logBytes = recovered.logBytes;
      this.state = 'open';
      log.info(
        {
          dir,
          storeId: id,
          revision: recovered.revision,
          keys: store.size,
          snapshotEntries: recovered.entriesLoaded,
          logCommits: recovered.batchesReplayed,
          ms: this.scheduler.now() - started,
          fsync: this.options.fsync,
        },
        isNew ? 'started a new store in the data directory' : 'recovered the store from the data directory',
      );
      return store;
    } catch (err) {
      this.state = 'closed';
      this.releaseLock();
      throw err;
    }
  }

  /**
   * Whether the store should get traffic: not while recovering, closed, or read-only after a
   * failure. Reasons name no path (/readyz says them to anyone).
   */
  ready(): ReadyState {
    if (this.state === 'new' || this.state === 'recovering') return { ok: false, reason: 'recovering the store from its data directory' };
    if (this.state === 'closed' || this.wal === undefined) return { ok: false, reason: 'persistence is closed' };
    const failure = this.wal.failed;
    if (failure !== undefined) return { ok: false, reason: `read-only: ${failure.why}` };
    return { ok: true, reason: `every write is logged (KV_FSYNC=${this.options.fsync})` };
  }

  /** Calls `observer` with the duration of every fsync of the log from now on, in seconds (for the metrics). */
  observeFsyncs(observer: (seconds: number) => void): void {
    this.fsyncObservers.push(observer);
  }

  stats(): PersistenceStats | undefined {
    if (this.wal === undefined) return undefined;
    return { ...this.wal.stats(), logBytesSinceSnapshot: this.logBytes, lastSnapshot: this.lastSnapshot };
  }

  /**
   * Writes a snapshot of the store now (one at a time; a call while one runs gets that one) and
   * removes the log it covers. Resolves undefined when no snapshot could be taken.
   */
  snapshot(): Promise<WrittenSnapshot | undefined> {
    if (this.snapshotting !== undefined) return this.snapshotting;
    const source = this.source();
    const wal = this.wal;
    const store = this.store;
    if (wal === undefined || store === undefined || wal.failed !== undefined || this.closing) {
      return Promise.resolve(undefined);
    }
    this.snapshotting = this.takeSnapshot(source(store), wal).finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  /**
   * A clean stop: ends an unfinished background snapshot; with snapshotOnClose, when commits were
   * logged since the last snapshot, writes one of the store as it is now (nothing else writes by
   * then), so the next start loads it instead of replaying the log; then makes the log durable,
   * closes its files and releases the directory. A stop cut short (a kill, the shutdown deadline)
   * leaves the log whole: the final snapshot only speeds up the next start, it never holds a
   * write the log does not. `snapshotBy` (a time, as the scheduler tells it) is when the final
   * snapshot gives up, if it is still being written: the stop's deadline.
   */
  async close(options: { readonly snapshotBy?: number } = {}): Promise<void> {
    if (this.state === 'closed') return;
    this.closing = true;
    await this.snapshotting;
    const { wal, store } = this;
    if (this.options.snapshotOnClose === true && wal !== undefined && store !== undefined && wal.failed === undefined) {
      const by = options.snapshotBy ?? Number.POSITIVE_INFINITY;
      if (wal.revision > this.snapshotRevision) await this.takeSnapshot(this.source()(store), wal, () => this.scheduler.now() > by);
    }
    await wal?.close();
    this.releaseLock();
    this.state = 'closed';
  }

  /**
   * Writes `view` and removes the log it covers. A background snapshot stops when closing
   * begins; the final one (of close) is given its own `late` test, asked between slices.
   */
  private async takeSnapshot(view: StateSnapshot, wal: WriteAheadLog, late?: () => boolean): Promise<WrittenSnapshot | undefined> {
    const final = late !== undefined;
    const { dir, log } = this.options;
    try {
      if (view.revision !== wal.revision) {
        throw new Error(`the engine's snapshot is at revision ${view.revision}, the log at ${wal.revision}`);
      }
      // The commits after the snapshot go to a segment of their own, which the snapshot does not cover.
      if (!wal.rotate()) return undefined;
      this.logBytes = 0;
      const started = this.scheduler.now();
      const written = await writeSnapshot(view, {
        files: this.files,
        dir,
        storeId: (this.store as MemoryStore).id,
        scheduler: this.scheduler,
        cancelled: late ?? (() => this.closing),
      });
      const obsolete = wal.takeSegmentsBefore(view.revision + 1);
      if (this.snapshotFile !== undefined && this.snapshotFile !== written.name) obsolete.push(this.snapshotFile);
      for (const name of obsolete) this.remove(name);
      await this.files.syncDir(dir);
      this.snapshotFile = written.name;
      this.snapshotRevision = written.revision;
      const ms = this.scheduler.now() - started;
      this.lastSnapshot = { ...written, at: this.scheduler.now(), ms };
      log.info(
        { dir, revision: written.revision, entries: written.entries, bytes: written.bytes, ms, removed: obsolete, final },
        final ? 'snapshot written at the stop: the next start loads it instead of replaying the log' : 'snapshot written',
      );
      return written;
    } catch (err) {
      if (final) {
        log.warn(
          { err, dir },
          'the snapshot at the stop failed or ran out of time; the log still holds every commit, and the next start replays it',
        );
      } else if (!this.closing) {
        log.warn(
          { err, dir },
          'the snapshot failed; the log still holds every commit, and the next snapshot is tried after another KV_SNAPSHOT_EVERY_BYTES',
        );
      }
      return undefined;
    } finally {
      view.release();
    }
  }

  /** Counts log bytes; past the threshold, queues a snapshot. */
  private written(bytes: number): void {
    this.logBytes += bytes;
    if (this.logBytes < this.options.snapshotEveryBytes || this.snapshotQueued || this.snapshotting !== undefined) return;
    this.snapshotQueued = true;
    this.scheduler.soon(() => {
      this.snapshotQueued = false;
      void this.snapshot();
    });
  }

  /** Where snapshots come from: the engine's pinned snapshot(), or the option (tests). */
  private source(): (store: MemoryStore) => StateSnapshot {
    return this.options.snapshots ?? ((store) => store.snapshot());
  }

  private remove(name: string): void {
    try {
      this.files.unlink(join(this.options.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
