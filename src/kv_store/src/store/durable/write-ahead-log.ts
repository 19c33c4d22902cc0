/*
 * The write-ahead log: the Journal the memory engine hands every commit to before applying it.
 *
 * append() encodes the batch as one record and adds it to the records of this turn of the event
 * loop; after the turn's I/O (setImmediate) they go to the current segment in one synchronous
 * write, and append returns the promise of that write: the engine answers once it settles, so
 * no answer goes out before its commit has reached the OS, and killing the process (kill -9)
 * loses nothing acknowledged, whatever KV_FSYNC says. (A write a call costs 2.5-5 µs on this
 * machine, a PUT's whole cost in memory about 35: one write for every turn's commits, not one
 * each, is what keeps a durable store near the speed of one in memory.) The engine applies a
 * commit when append returns, so a read in the same turn sees it: unwritten() gives the API what
 * such a read's answer waits for (the turn's write; under always, the fsync that covers it), and
 * shownRevision() what the watch hub may send, so no answer or watcher is shown a change before it
 * is as durable as the setting promises (docs/durability.md).
 * What KV_FSYNC decides is when the OS is told to put the records on the disk:
 *   always    group commit. The records of one turn share one fdatasync, started after their
 *             write and run on the thread pool; append returns the promise of the fsync that
 *             covers its record. One fsync is in flight at a time; appends meanwhile wait for
 *             the next, which starts as soon as it ends.
 *   everysec  an fdatasync every second, when something was written.
 *   no        no fdatasync except when a segment is finished and at close.
 *
 * Segments: appends go to the current segment; once it holds segmentBytes, or when a snapshot
 * starts, a new one begins at the next revision. A finished segment is fsynced (in every mode)
 * and closed by the next flush, before the current one: the log on disk is always a prefix.
 *
 * Failure: a write that fails (ENOSPC, EIO...) is cut back off the file and its commits are not
 * acknowledged; the log turns read-only: every later append throws StoreError
 * persistence_failed with the reason (and the engine applies nothing), and health says so. A
 * full disk (ENOSPC, EDQUOT) whose failed write could be cut off cleanly is recoverable: the
 * turn's records are kept, their answers wait, and once a second the log checks the free space;
 * when there is room again it writes them (they are then answered) and takes writes again. Any
 * other failed write, and a failed fsync, reject every append waiting for them: after them what
 * the OS holds is unknown, and only a restart, which recovers from what is on disk, is safe
 * (until then the refused commits stay applied in memory, as they were before the write failed).
 * A stop (close) refuses the appends a full disk still holds.
 * Expiries are not refused in read-only mode, which would stop reads of expired keys: they
 * are applied and queued, and written first when the log resumes. A restart in between
 * expires those keys again, since their time has passed in the log too.
 */

import { join } from 'node:path';
import type { ChangeBatch, Journal } from '../store.js';
import { StoreError } from '../store-error.js';
import { type NamedFile, segmentName } from './data-dir.js';
import { type Fd, type FileLayer, writeAll } from './file-layer.js';
import type { FsyncPolicy, PersistenceLog, Scheduler } from './options.js';
import { batchRecord, RecordBuilder, segmentRecord, WAL_MAGIC } from './record-format.js';

/** Free bytes the file system must have before a log stopped by a full disk writes again. */
export const RESUME_FREE_BYTES = 4 * 1_048_576;
/** How often a log stopped by a full disk checks for room. */
const RESUME_CHECK_MS = 1000;
const EVERYSEC_MS = 1000;

export interface WalOptions {
  readonly files: FileLayer;
  readonly dir: string;
  readonly storeId: string;
  readonly fsync: FsyncPolicy;
  /** A segment this large is finished and a new one begun. */
  readonly segmentBytes: number;
  /** Fill the current segment with zeros ahead of its records (ZERO_CHUNK_BYTES); on unless false. */
  readonly zeroAhead?: boolean;
  readonly scheduler: Scheduler;
  readonly log: PersistenceLog;
  /** Told the size of every record written (the snapshot trigger counts them). */
  readonly onWrite?: (bytes: number) => void;
  /** Told how long each fsync round took, in seconds (kv_wal_fsync_duration_seconds). */
  readonly onFsync?: (seconds: number) => void;
}

/** Why the log is read-only. */
export interface LogFailure {
  readonly why: string;
  /** Writes resume by themselves once the disk has room again. */
  recoverable: boolean;
  readonly since: number;
}

export interface WalStats {
  readonly revision: number;
  readonly segments: number;
  readonly fsyncs: number;
  readonly lastFsyncMs: number;
  readonly maxFsyncMs: number;
}

interface OpenSegment {
  readonly name: string;
  readonly firstRevision: number;
  readonly fd: Fd;
  size: number;
  /** The file holds zeros from `size` up to here (written ahead: see zeroAhead). */
  zeroedTo: number;
  /** Writing zeros ahead failed once (a full disk): this segment is appended to as it grows. */
  noZeros: boolean;
}

/**
 * How far ahead of its records the current segment is filled with zeros, and by how much at a
 * time. An fdatasync after an append must also commit the file's new size (a journal commit on
 * ext4 and XFS), one after overwriting blocks already written only the data: on this machine
 * 360-420 µs against 185-200 µs for a 4 KB write (`node bench/fsync-cost.mjs`). So the segment
 * is written as zeros 1 MiB at a time, at least ZERO_LOW_WATER ahead of its records (as
 * PostgreSQL fills its WAL files, and etcd preallocates its segments), and records overwrite
 * them; the fsync that first covers a new 1 MiB is slower, the next thousands are not. Recovery
 * reads zeros to the end of a segment as its end (replaySegment), and a finished or closed
 * segment is cut back to its records.
 */
const ZERO_CHUNK_BYTES = 1_048_576;
const ZERO_LOW_WATER = 256 * 1024;
const ZEROS = Buffer.alloc(ZERO_CHUNK_BYTES);

/** Appends waiting for one write, or for one fsync. */
interface Group {
  readonly promise: Promise<void>;
  /** Settles when `promise` does, and never rejects (what a read waits for). */
  readonly settled: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

export class WriteAheadLog implements Journal {
  private current: OpenSegment;
  /** Segments finished but not yet fsynced and closed. */
  private retired: OpenSegment[] = [];
  /** Every segment on disk, in order. */
  private segments: NamedFile[];
  private last: number;
  /** The current segment's size at which the next one begins. */
  private rotateAt: number;
  private readonly builder = new RecordBuilder();
  /** The records appended and not yet written, `kept[0, keptBytes)`. */
  private kept = Buffer.allocUnsafe(64 * 1024);
  private keptBytes = 0;
  /** Appends waiting for the write of `kept` (everysec, no); under always they wait for `waiting`. */
  private writing: Group | undefined;
  private writeQueued = false;
  /** Settles once the records kept this turn have been tried (what reads wait for under everysec and no). */
  private tried: Group | undefined;
  /** Appends waiting for the next fsync (always). */
  private waiting: Group | undefined;
  /** The newest revision written (everysec, no) or fsynced (always), with every one before it. */
  private shown: number;
  /** Appends the fsync in flight covers (always). */
  private syncing: Group | undefined;
  private flushing: Promise<void> | undefined;
  private flushQueued = false;
  /** A flush was asked for while a round was in flight: one more round follows it. */
  private flushAgain = false;
  private unsynced = false;
  private dirUnsynced = false;
  private failure: LogFailure | undefined;
  private readonly pendingExpiries: ChangeBatch[] = [];
  private readonly stopTimers: Array<() => void> = [];
  private stopResumeCheck: (() => void) | undefined;
  private closed = false;
  private fsyncs = 0;
  private lastFsyncMs = 0;
  private maxFsyncMs = 0;

  /**
   * Opens the log after recovery at `revision`: appends continue at the end of the last
   * segment, or in a new one when there is none.
   */
  static async open(
    options: WalOptions,
    revision: number,
    segments: readonly NamedFile[],
    lastSegmentSize: number,
  ): Promise<WriteAheadLog> {
    const last = segments.at(-1);
    if (last !== undefined) {
      const fd = options.files.open(join(options.dir, last.name));
      // Recovery left only zeros after the records (it cuts anything else off).
      const zeroedTo = Math.max(lastSegmentSize, options.files.size(fd));
      const segment = { name: last.name, firstRevision: last.revision, fd, size: lastSegmentSize, zeroedTo, noZeros: false };
      return new WriteAheadLog(options, segment, [...segments], revision);
    }
    const segment = createSegment(options, revision + 1);
    await options.files.datasync(segment.fd);
    await options.files.syncDir(options.dir);
    return new WriteAheadLog(options, segment, [{ name: segment.name, revision: segment.firstRevision }], revision);
  }

  private constructor(
    private readonly options: WalOptions,
    current: OpenSegment,
    segments: NamedFile[],
    revision: number,
  ) {
    this.current = current;
    this.segments = segments;
    this.last = revision;
    this.shown = revision;
    this.rotateAt = options.segmentBytes;
    if (options.fsync === 'everysec') this.stopTimers.push(options.scheduler.every(EVERYSEC_MS, () => void this.flush()));
  }

  /** The revision of the last commit appended (written, or to be written this turn). */
  get revision(): number {
    return this.last;
  }

  /** Why the log is read-only; undefined while it is writable. */
  get failed(): LogFailure | undefined {
    return this.failure;
  }

  append(batch: ChangeBatch): Promise<void> | undefined {
    if (this.failure !== undefined || this.closed) return this.refuse(batch);
    if (batch.revision !== this.last + 1) {
      throw new RangeError(`the log is at revision ${this.last} and was handed revision ${batch.revision}`);
    }
    this.keep(batchRecord(this.builder, batch));
    this.last = batch.revision;
    this.queueWrite();
    if (this.options.fsync !== 'always') {
      if (this.writing === undefined) this.writing = group();
      return this.writing.promise;
    }
    if (this.waiting === undefined) this.waiting = group();
    this.queueFlush();
    return this.waiting.promise;
  }

  /** Adds a record to those of this turn. */
  private keep(record: Buffer): void {
    const need = this.keptBytes + record.length;
    if (need > this.kept.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.kept.length, need));
      this.kept.copy(grown, 0, 0, this.keptBytes);
      this.kept = grown;
    }
    record.copy(this.kept, this.keptBytes);
    this.keptBytes = need;
  }

  private queueWrite(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.tried = group();
    this.options.scheduler.soon(() => {
      this.writeQueued = false;
      this.writeKept();
      const tried = this.tried;
      this.tried = undefined;
      tried?.resolve();
    });
  }

  /**
   * What a read that may show the commits appended so far waits for: their write (everysec, no)
   * or the fsync that covers them (always). Nothing while the log is read-only: a full disk's
   * held writes do not stop reads.
   */
  shownRevision(): number {
    return this.shown;
  }

  unwritten(): Promise<void> | undefined {
    if (this.failure !== undefined) return undefined;
    if (this.options.fsync === 'always') return (this.waiting ?? this.syncing)?.settled;
    return this.tried?.settled;
  }

  /**
   * Writes the records appended since the last write, in one write, and answers the appends
   * that waited for it (not those that wait for an fsync). False when they could not be
   * written: a full disk keeps them for tryResume, any other failure refuses them.
   */
  private writeKept(): boolean {
    if (this.keptBytes > 0) {
      if (this.failure !== undefined || !this.write(this.kept.subarray(0, this.keptBytes))) {
        if (!(this.failure as LogFailure).recoverable) this.refuseKept();
        return false;
      }
      this.keptBytes = 0;
      if (this.options.fsync !== 'always') this.shown = this.last;
      // A big turn leaves a big buffer: let it go, once written.
      if (this.kept.length > 1_048_576) this.kept = Buffer.allocUnsafe(64 * 1024);
      if (this.current.size >= this.rotateAt && !this.rotate()) this.rotateAt = this.current.size + this.options.segmentBytes;
    }
    const written = this.writing;
    this.writing = undefined;
    written?.resolve();
    return true;
  }

  /** The records kept are not going to be written: every append waiting for them (or for an fsync after them) is refused. */
  private refuseKept(): void {
    this.keptBytes = 0;
    const refusal = new StoreError('persistence_failed', { why: this.failure?.why ?? 'kv_store is shutting down' });
    this.writing?.reject(refusal);
    this.waiting?.reject(refusal);
    this.writing = undefined;
    this.waiting = undefined;
  }

  /**
   * Finishes the current segment and begins one at the next revision (a no-op when the current
   * one holds no commit yet). Returns false, leaving things as they were, if the new segment
   * cannot be created.
   */
  rotate(): boolean {
    if (this.current.firstRevision === this.last + 1) return true;
    // The finished segment holds every commit before the next one's first.
    if (!this.writeKept()) return false;
    // That write may have filled the segment and begun the next already.
    if (this.current.firstRevision === this.last + 1) return true;
    let next: OpenSegment;
    try {
      next = createSegment(this.options, this.last + 1);
    } catch (err) {
      this.options.log.warn({ err, dir: this.options.dir }, 'could not begin a new log segment; going on in the current one');
      return false;
    }
    this.cutZeros(this.current);
    this.retired.push(this.current);
    this.current = next;
    this.rotateAt = this.options.segmentBytes;
    this.segments.push({ name: next.name, revision: next.firstRevision });
    this.dirUnsynced = true;
    this.unsynced = true;
    this.queueFlush();
    return true;
  }

  /** Forgets the segments that begin before `revision` (a durable snapshot covers them) and returns their names. */
  takeSegmentsBefore(revision: number): string[] {
    const gone = this.segments.filter((s) => s.revision < revision && s.name !== this.current.name);
    this.segments = this.segments.filter((s) => !gone.includes(s));
    return gone.map((s) => s.name);
  }

  stats(): WalStats {
    return {
      revision: this.last,
      segments: this.segments.length,
      fsyncs: this.fsyncs,
      lastFsyncMs: this.lastFsyncMs,
      maxFsyncMs: this.maxFsyncMs,
    };
  }

  /** Makes everything written durable, then closes the files. Appends after this are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.stopTimers) stop();
    this.stopResumeCheck?.();
    await this.flushing;
    this.cutZeros(this.current);
    if (this.failure === undefined || this.failure.recoverable) await this.flush();
    // What a full disk still holds cannot wait any longer.
    if (this.keptBytes > 0) this.refuseKept();
    for (const segment of [...this.retired, this.current]) this.options.files.close(segment.fd);
    this.retired = [];
  }

  /** What append does once the log cannot take a commit. */
  private refuse(batch: ChangeBatch): undefined {
    if (batch.changes.every((c) => c.type === 'delete' && c.reason === 'expired')) {
      this.pendingExpiries.push(batch);
      return undefined;
    }
    throw new StoreError('persistence_failed', { why: this.failure?.why ?? 'kv_store is shutting down' });
  }

  /** Writes one record at the end of the current segment; on failure cuts it back off and turns read-only. */
  private write(record: Buffer): boolean {
    const { files, dir } = this.options;
    const segment = this.current;
    this.zeroAhead(segment, segment.size + record.length);
    try {
      writeAll(files, segment.fd, record, segment.size);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      let cutBack = true;
      try {
        files.truncate(segment.fd, segment.size);
      } catch {
        cutBack = false;
      }
      segment.zeroedTo = segment.size;
      const full = e.code === 'ENOSPC' || e.code === 'EDQUOT';
      // Said to clients and to /readyz: no paths. The log line names the file.
      const why = full
        ? `the disk holding the data directory is full (${e.code} writing the log); writes resume when space is freed`
        : `writing the log failed (${e.code ?? e.message}); restart kv_store once the disk is fixed`;
      this.fail(why, full && cutBack, join(dir, segment.name));
      return false;
    }
    segment.size += record.length;
    this.unsynced = true;
    this.options.onWrite?.(record.length);
    return true;
  }

  /**
   * Fills `segment` with zeros at least ZERO_LOW_WATER past `end` (see ZERO_CHUNK_BYTES). A
   * failure (a full disk) is not the records' failure: the segment is then appended to, and the
   * record's own write says whether there is room.
   */
  private zeroAhead(segment: OpenSegment, end: number): void {
    // A closing log writes its last records at the end of what it has cut back.
    if (segment.noZeros || this.closed || this.options.zeroAhead === false || end + ZERO_LOW_WATER <= segment.zeroedTo) return;
    // A write larger than a chunk is appended (zeros just before the records over them would be
    // written twice), and no zeros go past where the segment is finished (they would be cut off).
    if (end - segment.size > ZERO_CHUNK_BYTES) return;
    const limit = this.rotateAt;
    const { files } = this.options;
    let at = Math.max(segment.zeroedTo, segment.size);
    try {
      while (end + ZERO_LOW_WATER > at && at < limit) {
        const bytes = Math.min(ZERO_CHUNK_BYTES, limit - at);
        writeAll(files, segment.fd, ZEROS.subarray(0, bytes), at);
        at += bytes;
      }
    } catch {
      segment.noZeros = true;
      // Part of a chunk may be written: what is past the records is zeros either way.
      try {
        at = files.size(segment.fd);
      } catch {
        at = segment.size;
      }
    }
    segment.zeroedTo = at;
    this.unsynced = true;
  }

  /** Cuts the zeros written ahead off a segment that takes no more records (finished, or closing). */
  private cutZeros(segment: OpenSegment): void {
    if (segment.zeroedTo <= segment.size) return;
    try {
      this.options.files.truncate(segment.fd, segment.size);
      segment.zeroedTo = segment.size;
      this.unsynced = true;
    } catch {
      // Recovery reads zeros at the end of a segment as its end.
    }
  }

  private fail(why: string, recoverable: boolean, file: string): void {
    if (this.failure === undefined) {
      this.failure = { why, recoverable, since: this.options.scheduler.now() };
      this.options.log.error({ dir: this.options.dir, file, recoverable }, `the store is read-only: ${why}`);
      if (recoverable) this.stopResumeCheck = this.options.scheduler.every(RESUME_CHECK_MS, () => this.tryResume());
    } else if (!recoverable && this.failure.recoverable) {
      this.failure = { why, recoverable: false, since: this.failure.since };
      this.options.log.error({ dir: this.options.dir, file }, `the store stays read-only until restarted: ${why}`);
      this.stopResumeCheck?.();
    }
    // Records kept for a full disk will not be written now.
    if (!this.failure.recoverable && this.keptBytes > 0) this.refuseKept();
  }

  /** After a full disk: once there is room, writes the expiries committed meanwhile, then takes writes again. */
  private tryResume(): void {
    const failure = this.failure;
    if (failure === undefined || !failure.recoverable || this.closed) return;
    let free: number;
    try {
      free = this.options.files.freeBytes(this.options.dir);
    } catch {
      return;
    }
    if (free < RESUME_FREE_BYTES) return;
    // The records kept when the disk filled come first: the expiries were committed after them.
    if (this.keptBytes > 0) {
      if (!this.write(this.kept.subarray(0, this.keptBytes))) return;
      this.keptBytes = 0;
    }
    while (this.pendingExpiries.length > 0) {
      const batch = this.pendingExpiries[0] as ChangeBatch;
      // Still no room (or worse): the log stays read-only, and write() has said why.
      if (!this.write(batchRecord(this.builder, batch))) return;
      this.last = batch.revision;
      this.pendingExpiries.shift();
    }
    this.failure = undefined;
    if (this.options.fsync !== 'always') this.shown = this.last;
    this.stopResumeCheck?.();
    this.stopResumeCheck = undefined;
    this.options.log.info({ dir: this.options.dir, freeBytes: free }, 'the disk has room again: the store takes writes');
    this.writeKept();
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued || this.flushing !== undefined) return;
    this.flushQueued = true;
    this.options.scheduler.soon(() => {
      this.flushQueued = false;
      void this.flush();
    });
  }

  /** Starts one fsync round unless one is in flight; resolves when it (and any it chains) ends. */
  private flush(): Promise<void> {
    if (this.flushing !== undefined) {
      // The round in flight does not cover what is written now: another follows it.
      this.writeKept();
      this.flushAgain = true;
      return this.flushing;
    }
    // An fsync covers what was written before it: this turn's records first. Those a full disk
    // holds are not written, so the appends waiting are not covered (tryResume flushes again).
    const allWritten = this.writeKept();
    if (!this.unsynced && !this.dirUnsynced && this.retired.length === 0) {
      if (allWritten) {
        if (this.options.fsync === 'always') this.shown = this.last;
        this.waiting?.resolve();
        this.waiting = undefined;
      }
      return Promise.resolve();
    }
    this.flushing = this.syncRound(allWritten).finally(() => {
      this.flushing = undefined;
      // Appends that came while this round ran wait for the next one (so does a flush asked for meanwhile).
      if ((this.waiting !== undefined || this.flushAgain) && this.failure === undefined) this.queueFlush();
      this.flushAgain = false;
    });
    return this.flushing;
  }

  /** Finished segments, then the directory (new segment names), then the current segment; answers the appends waiting if `coversWaiting`. */
  private async syncRound(coversWaiting: boolean): Promise<void> {
    const { files, dir, scheduler } = this.options;
    const covered = coversWaiting ? this.waiting : undefined;
    if (coversWaiting) this.waiting = undefined;
    this.syncing = covered;
    // Everything appended is written when the round covers what waits (flush wrote it first).
    const through = coversWaiting ? this.last : this.shown;
    const retired = this.retired;
    this.retired = [];
    const dirUnsynced = this.dirUnsynced;
    this.dirUnsynced = false;
    this.unsynced = false;
    const current = this.current;
    const started = scheduler.now();
    try {
      for (const segment of retired) {
        await files.datasync(segment.fd);
        files.close(segment.fd);
      }
      if (dirUnsynced) await files.syncDir(dir);
      await files.datasync(current.fd);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.fail(`fsync of the log failed (${e.code ?? e.message}); restart kv_store to recover from what is on disk`, false, dir);
      const refusal = new StoreError('persistence_failed', { why: (this.failure as LogFailure).why });
      covered?.reject(refusal);
      // Appends written while this round ran: the fsync that would cover them cannot be trusted.
      const later = this.waiting as Group | undefined;
      later?.reject(refusal);
      this.waiting = undefined;
      this.syncing = undefined;
      return;
    }
    const ms = scheduler.now() - started;
    this.options.onFsync?.(ms / 1000);
    this.fsyncs++;
    this.lastFsyncMs = ms;
    if (ms > this.maxFsyncMs) this.maxFsyncMs = ms;
    this.syncing = undefined;
    if (this.options.fsync === 'always' && through > this.shown) this.shown = through;
    covered?.resolve();
  }
}

/** Creates segment `wal-<firstRevision>.log` with its magic and header written (not yet fsynced). */
function createSegment(options: WalOptions, firstRevision: number): OpenSegment {
  const name = segmentName(firstRevision);
  const fd = options.files.create(join(options.dir, name));
  try {
    const header = Buffer.concat([WAL_MAGIC, segmentRecord(new RecordBuilder(), firstRevision, options.storeId)]);
    writeAll(options.files, fd, header, 0);
    return { name, firstRevision, fd, size: header.length, zeroedTo: header.length, noZeros: false };
  } catch (err) {
    options.files.close(fd);
    try {
      options.files.unlink(join(options.dir, name));
    } catch {
      // it was never there
    }
    throw err;
  }
}

function group(): Group {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Expiries drop their promise: a rejection nobody awaits must not end the process (settled handles it).
  const settled = promise.then(
    () => {},
    () => {},
  );
  return { promise, settled, resolve, reject };
}
