/*
 * Recovery at start-up: the newest snapshot, then the log segments after it, replayed into a
 * fresh memory engine at their own revisions.
 *
 * What a file may look like, and what start-up does about it:
 * - The last record of the last segment incomplete or failing its checksum, with no valid
 *   commit anywhere after it, or with a 512-byte sector of only zeros (RecordReader.tornAt: a
 *   machine crash kept later sectors of a write over the log's zeros and lost an earlier one):
 *   a torn tail (the process or machine stopped mid-write). It is cut off with a warning, with
 *   whatever follows it (saved beside the file when whole records do). It was never
 *   acknowledged after a process kill under any KV_FSYNC setting, because its answer is sent only
 *   after the write returned; after a machine crash, never under always (its answer waits for
 *   the fsync that would have covered it), and within each setting's stated loss otherwise.
 * - Anything else that does not make sense (a bad record with valid commits after it, a bad
 *   record in an earlier segment or in the snapshot, a revision that does not follow the one
 *   before, a missing segment, a file of another store): damage. Start-up stops with a message
 *   naming the file and offset, unless the operator chose KV_RECOVERY=truncate: then the valid
 *   prefix is kept, the bytes cut off are saved beside the file (<file>.damaged-<offset>) and
 *   later segments are renamed <file>.dropped, so nothing is destroyed.
 * Revisions in the log follow each other by exactly one (the engine commits them so), which is
 * what catches a record or a whole segment gone missing.
 */

import { basename, dirname, join } from 'node:path';
import type { MemoryStore, SnapshotLoad } from '../memory/memory-store.js';
import { DataDirError, type DirListing, type NamedFile } from './data-dir.js';
import { type FileLayer, readRange, writeAll } from './file-layer.js';
import type { PersistenceLog, RecoveryMode } from './options.js';
import { type EncodedEntries, type EncodedRecords, Kind, RECORDS_IN_PLACE, SNAPSHOT_MAGIC, WAL_MAGIC } from './record-format.js';
import { RecordReader } from './record-reader.js';

export interface RecoveryInput {
  readonly files: FileLayer;
  readonly dir: string;
  readonly storeId: string;
  readonly listing: DirListing;
  readonly mode: RecoveryMode;
  readonly log: PersistenceLog;
}

export interface Recovered {
  /** The revision of the last commit recovered. */
  readonly revision: number;
  readonly snapshot: NamedFile | undefined;
  /** Segments kept, in order; appends continue in the last one. */
  readonly segments: readonly NamedFile[];
  /** Size of the last kept segment (after any cut). */
  readonly lastSegmentSize: number;
  /** Bytes in the kept segments: the log the next snapshot will bound. */
  readonly logBytes: number;
  /** Files the snapshot covers, older snapshots and temp files: to remove now that recovery succeeded. */
  readonly obsolete: readonly string[];
  readonly entriesLoaded: number;
  readonly batchesReplayed: number;
}

/**
 * Data directories this large or larger have their memory faulted in ahead on another core
 * (MemoryStore.prefaultForLoad); below it, starting the worker (some 30 ms of the other core)
 * would buy little.
 */
const PREFAULT_FROM_BYTES = 32 * 1024 * 1024;

/** Rebuilds `store` (new and empty) from the data directory; throws DataDirError on damage in strict mode. */
export async function recover(store: MemoryStore, input: RecoveryInput): Promise<Recovered> {
  const { listing } = input;
  const snapshot = listing.snapshots.at(-1);
  // The snapshot and the segments replayed after it: what will be loaded.
  const segments = listing.segments.slice(firstReplayed(listing.segments, snapshot?.revision ?? 0));
  const bytes = [...(snapshot === undefined ? [] : [snapshot]), ...segments].reduce((sum, file) => sum + fileSize(input, file), 0);
  const endPrefault = bytes >= PREFAULT_FROM_BYTES ? store.prefaultForLoad() : () => {};
  try {
    return await recoverInto(store, input);
  } finally {
    endPrefault();
  }
}

/** The first of `segments` not wholly covered by a snapshot at `revision`: segments whose successor starts at or before the revision after it are. */
function firstReplayed(segments: readonly NamedFile[], revision: number): number {
  let first = 0;
  while (first + 1 < segments.length && (segments[first + 1] as NamedFile).revision <= revision + 1) first++;
  return first;
}

/** The size of `file`, or 0 if it cannot be opened (recovery then says why, when it reads it). */
function fileSize(input: RecoveryInput, file: NamedFile): number {
  let fd: number;
  try {
    fd = input.files.openRead(join(input.dir, file.name));
  } catch {
    return 0;
  }
  try {
    return input.files.size(fd);
  } finally {
    input.files.close(fd);
  }
}

async function recoverInto(store: MemoryStore, input: RecoveryInput): Promise<Recovered> {
  const { listing } = input;
  const obsolete: string[] = [...listing.temps];
  const snapshot = listing.snapshots.at(-1);
  for (const older of listing.snapshots.slice(0, -1)) obsolete.push(older.name);
  const entriesLoaded = snapshot === undefined ? 0 : restoreSnapshot(store, input, snapshot);
  const snapshotRevision = store.revision;

  const all = listing.segments;
  const first = firstReplayed(all, snapshotRevision);
  for (const covered of all.slice(0, first)) obsolete.push(covered.name);
  let kept = all.slice(first);

  // Segments at the end with nothing written in them were being begun when the process or the
  // machine stopped (a directory fsync can make a new segment's name durable before its first
  // bytes): a torn tail that spans files. Anything written after them would make them damage.
  while (kept.length > 0 && unwritten(input, kept.at(-1) as NamedFile)) {
    const empty = kept.pop() as NamedFile;
    input.log.warn({ file: join(input.dir, empty.name) }, 'removed a log segment that was begun but never written (a torn tail)');
    input.files.unlink(join(input.dir, empty.name));
  }

  if (kept.length > 0 && (kept[0] as NamedFile).revision > snapshotRevision + 1) {
    const start = kept[0] as NamedFile;
    refuseUnlessTruncating(
      input,
      join(input.dir, start.name),
      0,
      `the log starts at revision ${start.revision} but the state before it ends at ${snapshotRevision}: the commits between are missing`,
    );
    await dropSegments(input, kept);
    kept = [];
  }

  // Commits older than what the change history keeps are replayed quietly, by bytes (see
  // lastRevisionIn): only the newest are decoded and announced, for the history.
  const quietThrough = kept.length === 0 ? 0 : lastRevisionIn(input, kept.at(-1) as NamedFile) - store.historyDepth;
  let batchesReplayed = 0;
  /** Where the segment before ended in zeros, if it did: the likely place of commits lost between two segments. */
  let zerosBefore: { readonly name: string; readonly offset: number } | undefined;
  let lastSegmentSize = 0;
  let logBytes = 0;
  for (let i = 0; i < kept.length; i++) {
    const segment = kept[i] as NamedFile;
    const isLast = i === kept.length - 1;
    const result = replaySegment(store, input, segment, i === 0, isLast, snapshotRevision, quietThrough, zerosBefore);
    zerosBefore = result.zerosFrom === undefined ? undefined : { name: segment.name, offset: result.zerosFrom };
    batchesReplayed += result.batches;
    if (result.problem === undefined) {
      lastSegmentSize = result.size;
      logBytes += result.size;
      continue;
    }
    const { offset, problem } = result;
    const path = join(input.dir, segment.name);
    // A problem before the end of the segment's header leaves nothing of the segment to keep.
    const headerBroken = offset < result.headerEnd;
    if (isLast && result.torn) {
      // Whole records after it were cut too: they are kept beside the file, as damage's are.
      let savedTo: string | undefined;
      if (headerBroken) {
        input.files.unlink(path);
        kept = kept.slice(0, i);
      } else {
        savedTo = await cut(input.files, path, offset, result.followed === true);
        lastSegmentSize = offset;
        logBytes += offset;
      }
      input.log.warn(
        { file: path, offset, cutBytes: result.size - offset, problem, ...(savedTo === undefined ? {} : { savedTo }) },
        'cut off a torn record at the end of the log',
      );
      break;
    }
    refuseUnlessTruncating(input, path, offset, problem);
    if (!headerBroken) {
      await cut(input.files, path, offset, true);
      lastSegmentSize = offset;
      logBytes += offset;
    }
    const keep = headerBroken ? i : i + 1;
    await dropSegments(input, kept.slice(keep));
    input.log.warn(
      { file: path, offset, problem, droppedSegments: kept.slice(keep).map((f) => f.name) },
      'the log is damaged: kept the valid part before the damage (KV_RECOVERY=truncate)',
    );
    kept = kept.slice(0, keep);
    break;
  }
  return {
    revision: store.revision,
    snapshot,
    segments: kept,
    lastSegmentSize,
    logBytes,
    obsolete,
    entriesLoaded,
    batchesReplayed,
  };
}

/**
 * The revision of the last commit `segment` (the log's last) holds, found from its end
 * (RecordReader.lastBatchRevision). Recovery replays the commits more than the change history's
 * depth before it quietly: by bytes, and unannounced, as a snapshot loads. Damage at the tail
 * makes the answer lower than the last commit replayed (or than the tail's torn record), which
 * only costs speed; damage that stops the replay in an earlier segment (KV_RECOVERY=truncate)
 * leaves the history shorter than its depth, or empty. A segment with no whole commit counts
 * as ending before its first.
 */
function lastRevisionIn(input: RecoveryInput, segment: NamedFile): number {
  const reader = new RecordReader(input.files, join(input.dir, segment.name));
  try {
    return reader.lastBatchRevision() ?? segment.revision - 1;
  } finally {
    reader.close();
  }
}

/** Whether a segment holds no header and no commit: nothing of it was written before the stop. */
function unwritten(input: RecoveryInput, segment: NamedFile): boolean {
  const reader = new RecordReader(input.files, join(input.dir, segment.name));
  try {
    if (reader.hasMagic(WAL_MAGIC)) {
      const header = reader.next();
      if (header?.ok === true) return false;
    }
    return reader.laterBatch(0, 1) === undefined;
  } finally {
    reader.close();
  }
}

interface SegmentResult {
  readonly size: number;
  readonly batches: number;
  /** Where the segment's header ends: a problem before it means the segment has no usable start. */
  readonly headerEnd: number;
  readonly problem?: string;
  readonly offset: number;
  /** The problem is a torn tail: nothing valid follows it, or it lost a sector to a crash. */
  readonly torn: boolean;
  /** Valid commits follow the problem (a torn tail that is one only by its lost sector). */
  readonly followed?: boolean;
  /** The segment's records ended at zeros here, before the end of the file. */
  readonly zerosFrom?: number;
}

/** Replays one segment's commits after the snapshot; stops at the first problem and says where. */
function replaySegment(
  store: MemoryStore,
  input: RecoveryInput,
  segment: NamedFile,
  isFirst: boolean,
  isLast: boolean,
  snapshotRevision: number,
  quietThrough: number,
  zerosBefore?: { readonly name: string; readonly offset: number },
): SegmentResult {
  const reader = new RecordReader(input.files, join(input.dir, segment.name));
  let batches = 0;
  let headerEnd = Number.POSITIVE_INFINITY;
  const stop = (offset: number, problem: string, canBeTorn = true): SegmentResult => {
    const followed = isLast && canBeTorn && reader.laterBatch(offset, store.revision + 1) !== undefined;
    return {
      size: reader.size,
      batches,
      headerEnd,
      offset,
      problem,
      // Nothing valid follows, or the record lost a sector to a crash (whatever follows it was never acknowledged).
      torn: isLast && canBeTorn && (!followed || reader.tornAt(offset)),
      followed,
    };
  };
  try {
    if (!reader.hasMagic(WAL_MAGIC)) {
      // A segment being created when the process or machine stopped: empty, zeros, or part of the magic.
      const head = reader.readAt(0, reader.size);
      const unwritten = head.every((b) => b === 0) || (head.length < WAL_MAGIC.length && WAL_MAGIC.subarray(0, head.length).equals(head));
      return stop(0, 'the file does not start as a kv_store log segment', unwritten);
    }
    const header = reader.next();
    if (header === undefined || !header.ok) return stop(header?.offset ?? reader.size, header?.problem ?? 'the segment has no header');
    headerEnd = header.end;
    if (header.record.kind !== Kind.Segment) return stop(header.offset, 'the segment does not start with its header', false);
    const { firstRevision, storeId } = header.record;
    if (storeId !== input.storeId) return stop(header.offset, `the segment belongs to store ${storeId}, not ${input.storeId}`, false);
    if (firstRevision !== segment.revision)
      return stop(header.offset, `the header says revision ${firstRevision}, the name ${segment.revision}`, false);
    if (!isFirst && firstRevision !== store.revision + 1) {
      const where =
        zerosBefore === undefined
          ? ''
          : ` (${zerosBefore.name} holds only zeros from offset ${zerosBefore.offset}: the commits between were lost there)`;
      return stop(
        header.offset,
        `the segment starts at revision ${firstRevision}, but the one before ends at ${store.revision}${where}`,
        false,
      );
    }
    let expected = firstRevision;
    for (let step = reader.next(); step !== undefined; step = reader.next()) {
      if (!step.ok) {
        // The zeros the log writes ahead of its records (write-ahead-log.ts): the end of its records.
        if (reader.zerosFrom(step.offset)) {
          return { size: step.offset, batches, headerEnd, offset: step.offset, torn: false, zerosFrom: step.offset };
        }
        return stop(step.offset, step.problem);
      }
      if (step.record.kind !== Kind.Batch) return stop(step.offset, `a record of kind ${step.record.kind} inside the log`, false);
      const { batch } = step.record;
      if (batch.revision !== expected) return stop(step.offset, `revision ${batch.revision} where ${expected} should follow`, false);
      expected++;
      // A segment that began before the snapshot holds commits the snapshot already has.
      if (batch.revision <= snapshotRevision) continue;
      if (batch.revision <= quietThrough) store.replayQuietly(batch);
      else store.replay(batch.decode());
      batches++;
    }
    return { size: reader.size, batches, headerEnd, offset: reader.size, torn: false };
  } finally {
    reader.close();
  }
}

/**
 * Loads the snapshot `file` into the empty `store`; returns how many entries it held. Damage
 * stops start-up, or in truncate mode keeps the entries before it (every key then present has
 * its right value: later commits in the log carry whole entries).
 */
function restoreSnapshot(store: MemoryStore, input: RecoveryInput, file: NamedFile): number {
  const reader = new RecordReader(input.files, join(input.dir, file.name));
  const refuse = (offset: number, problem: string): never => {
    throw new DataDirError(`${reader.path}: ${problem} at offset ${offset}; kv_store cannot recover without it`);
  };
  try {
    const loader = new SnapshotLoader(store, file.revision, reader.endRecordCount() ?? 0);
    if (!reader.hasMagic(SNAPSHOT_MAGIC)) refuse(0, 'the file does not start as a kv_store snapshot');
    const header = reader.next();
    if (header === undefined || !header.ok) return refuse(header?.offset ?? reader.size, header?.problem ?? 'the snapshot has no header');
    if (header.record.kind !== Kind.Snapshot) return refuse(header.offset, 'the snapshot does not start with its header');
    if (header.record.storeId !== input.storeId)
      refuse(header.offset, `the snapshot belongs to store ${header.record.storeId}, not ${input.storeId}`);
    if (header.record.revision !== file.revision)
      refuse(header.offset, `the header says revision ${header.record.revision}, the name ${file.revision}`);
    let problem: { offset: number; text: string } | undefined;
    for (;;) {
      const step = reader.next();
      if (step === undefined) {
        problem = { offset: reader.size, text: 'the snapshot ends before its END record' };
        break;
      }
      if (!step.ok) {
        problem = { offset: step.offset, text: step.problem };
        break;
      }
      const record = step.record;
      if (record.kind === Kind.Entries || record.kind === Kind.Records) {
        const late = record.kind === Kind.Entries ? record.entries.maxRevision : record.records.maxRevision;
        if (late > file.revision) {
          problem = { offset: step.offset, text: `an entry of revision ${late}, after the snapshot's ${file.revision}` };
          break;
        }
        try {
          if (record.kind === Kind.Entries) loader.add(record.entries);
          else loader.addRecords(record.records);
        } catch (err) {
          // A key twice: the entries of this record before it are loaded, the rest is damage.
          if (!(err instanceof RangeError)) throw err;
          problem = { offset: step.offset, text: err.message };
          break;
        }
        continue;
      }
      if (record.kind === Kind.End && record.entryCount === loader.count && reader.next() === undefined) break;
      problem = {
        offset: step.offset,
        text:
          record.kind === Kind.End ? 'the END record does not close the snapshot' : `a record of kind ${record.kind} inside the snapshot`,
      };
      break;
    }
    if (problem !== undefined) {
      if (input.mode !== 'truncate') {
        throw new DataDirError(
          `${reader.path}: ${problem.text} at offset ${problem.offset}; kv_store stopped rather than guess. To start with the entries before it and the log after the snapshot (losing the rest of the snapshot), set KV_RECOVERY=truncate`,
        );
      }
      input.log.warn(
        { file: reader.path, offset: problem.offset, problem: problem.text, entriesKept: loader.count },
        'the snapshot is damaged: keeping the entries before the damage (KV_RECOVERY=truncate)',
      );
    }
    loader.finish();
    return loader.count;
  } finally {
    reader.close();
  }
}

/**
 * Loads a snapshot's entries into the engine as its records are read (MemoryStore.beginLoad), at
 * the snapshot's revision: not journaled, not announced, and the change history starts after
 * that revision, so a watcher resuming from before it is told history_compacted. A damaged
 * snapshot either stops start-up (the half-loaded store is never served) or, when truncating,
 * keeps exactly the entries before the damage, which are the ones already loaded.
 */
class SnapshotLoader {
  count = 0;
  private readonly loading: SnapshotLoad;

  constructor(store: MemoryStore, revision: number, expectedEntries: number) {
    this.loading = store.beginLoad(revision, expectedEntries);
  }

  add(entries: EncodedEntries): void {
    entries.forEach((entry) => {
      this.loading.addUtf8(entry);
      this.count++;
    });
  }

  /**
   * Adds a RECORDS record's images: copied into the engine's slabs a run at a time on a
   * little-endian machine (the slabs' byte order), else entry by entry as ENTRIES are.
   */
  addRecords(records: EncodedRecords): void {
    if (RECORDS_IN_PLACE) {
      try {
        this.loading.addRecords(records.images());
      } finally {
        // A key twice stops the records there: those before it are loaded.
        this.count = this.loading.loaded;
      }
      return;
    }
    records.forEach((entry) => {
      this.loading.addUtf8(entry);
      this.count++;
    });
  }

  finish(): void {
    this.loading.finish();
  }
}

/** Damage at `offset` of `path`: stops start-up unless the operator chose a truncating recovery. */
function refuseUnlessTruncating(input: RecoveryInput, path: string, offset: number, problem: string): void {
  if (input.mode === 'truncate') return;
  throw new DataDirError(
    `${path}: ${problem} at offset ${offset}; kv_store stopped rather than guess. To start from the valid part before it (losing what follows), set KV_RECOVERY=truncate`,
  );
}

/** Renames `segments` to <name>.dropped: out of the log, kept for inspection. */
async function dropSegments(input: RecoveryInput, segments: readonly NamedFile[]): Promise<void> {
  if (segments.length === 0) return;
  for (const file of segments) input.files.rename(join(input.dir, file.name), join(input.dir, `${file.name}.dropped`));
  await input.files.syncDir(input.dir);
}

/**
 * Cuts `path` at `offset`, first saving the bytes cut to `<path>.damaged-<offset>` when `keep`
 * (`.damaged-<offset>.<n>` if that name is taken: a stop before the cut was durable, or a second
 * crash tearing the log at the same place); returns the name saved to.
 */
async function cut(files: FileLayer, path: string, offset: number, keep: boolean): Promise<string | undefined> {
  const fd = files.open(path);
  let savedTo: string | undefined;
  try {
    if (keep) {
      const tail = readRange(files, fd, offset, files.size(fd) - offset);
      const taken = new Set(files.list(dirname(path)));
      savedTo = `${path}.damaged-${offset}`;
      for (let n = 1; taken.has(basename(savedTo)); n++) savedTo = `${path}.damaged-${offset}.${n}`;
      const saved = files.create(savedTo);
      try {
        writeAll(files, saved, tail, 0);
        await files.datasync(saved);
      } finally {
        files.close(saved);
      }
      await files.syncDir(dirname(path));
    }
    files.truncate(fd, offset);
    await files.datasync(fd);
  } finally {
    files.close(fd);
  }
  return savedTo;
}
