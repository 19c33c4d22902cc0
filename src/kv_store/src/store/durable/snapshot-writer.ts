/*
 * Writes a snapshot: every entry of a consistent view of the store at one revision, into
 * snapshot-<revision>.snap. Incremental, like Redis's dictRehash(d, n): each turn of the event
 * loop writes one bounded slice of entries as one record, then yields to requests, so a large
 * store is written without a pause longer than a slice. Memory stays flat: the view is the
 * engine's pinned snapshot (it shares the store's structure, copying only what changes while
 * the snapshot is written), and the writer holds one slice at a time.
 *
 * The file is written under a temp name, fsynced, renamed into place and the directory fsynced:
 * it exists whole or not at all. Removing the log segments it covers is the caller's step,
 * after this resolves.
 */

import { join } from 'node:path';
import type { RecordImage } from '../memory/record-table.js';
import type { Entry } from '../store.js';
import { snapshotName } from './data-dir.js';
import { type FileLayer, writeAll } from './file-layer.js';
import { nextTurn, type Scheduler } from './options.js';
import {
  addEntry,
  addRecordImage,
  beginEntries,
  beginRecords,
  endRecord,
  entriesRecord,
  RECORDS_IN_PLACE,
  RecordBuilder,
  SNAPSHOT_MAGIC,
  snapshotRecord,
} from './record-format.js';

/** A consistent view of every entry at one revision (the memory engine's pinned snapshot). */
export interface StateSnapshot {
  readonly revision: number;
  /** Every entry at `revision`, once, in any order. */
  entries(): Iterable<Entry>;
  /**
   * The same entries as the memory engine's record images (RECORDS), when the view has them:
   * written as they lie, and loaded a run of records at a time. Used on a little-endian machine
   * (the images are in the machine's byte order); entries() otherwise.
   */
  records?(): Iterable<RecordImage>;
  /** Lets the engine drop what it kept for this view. */
  release(): void;
}

export interface SnapshotWriterOptions {
  readonly files: FileLayer;
  readonly dir: string;
  readonly storeId: string;
  readonly scheduler: Scheduler;
  /** Most entries in one slice (one record, one turn of the event loop). */
  readonly sliceEntries?: number;
  /** Most bytes in one slice. */
  readonly sliceBytes?: number;
  /** Asked before each slice: true stops the writer (shutdown). */
  readonly cancelled?: () => boolean;
}

export interface WrittenSnapshot {
  readonly name: string;
  readonly revision: number;
  readonly entries: number;
  readonly bytes: number;
}

/** Writes `view` to snapshot-<revision>.snap, one slice per turn; the view is not released here. */
export async function writeSnapshot(view: StateSnapshot, options: SnapshotWriterOptions): Promise<WrittenSnapshot> {
  const { files, dir, scheduler } = options;
  const sliceEntries = options.sliceEntries ?? 1000;
  const sliceBytes = options.sliceBytes ?? 1_048_576;
  const name = snapshotName(view.revision);
  const temp = join(dir, `${name}.tmp`);
  try {
    files.unlink(temp);
  } catch {
    // no temp file left from an attempt before
  }
  const fd = files.create(temp);
  const builder = new RecordBuilder();
  let size = 0;
  const put = (data: Buffer): void => {
    writeAll(files, fd, data, size);
    size += data.length;
  };
  let count = 0;
  try {
    put(SNAPSHOT_MAGIC);
    put(snapshotRecord(builder, view.revision, options.storeId, scheduler.now()));
    // Records or entries: how a slice begins, and a step that adds the next one (false at the end).
    const records = RECORDS_IN_PLACE ? view.records?.()[Symbol.iterator]() : undefined;
    const entries = records === undefined ? view.entries()[Symbol.iterator]() : undefined;
    const begin = records !== undefined ? beginRecords : beginEntries;
    const addNext = (): boolean => {
      if (records !== undefined) {
        const next = records.next();
        if (next.done !== true) addRecordImage(builder, next.value.bytes, next.value.start, next.value.length);
        return next.done !== true;
      }
      const next = (entries as Iterator<Entry>).next();
      if (next.done !== true) addEntry(builder, next.value);
      return next.done !== true;
    };
    for (let done = false; !done; ) {
      if (options.cancelled?.() === true) throw new Error('the snapshot was cancelled (shutdown)');
      begin(builder);
      let n = 0;
      while (n < sliceEntries && builder.size < sliceBytes) {
        if (!addNext()) {
          done = true;
          break;
        }
        n++;
      }
      if (n > 0) put(entriesRecord(builder, n));
      count += n;
      if (!done) await nextTurn(scheduler);
    }
    put(endRecord(builder, count));
    await files.datasync(fd);
  } catch (err) {
    files.close(fd);
    try {
      files.unlink(temp);
    } catch {
      // nothing to clean up
    }
    throw err;
  }
  files.close(fd);
  files.rename(temp, join(dir, name));
  await files.syncDir(dir);
  return { name, revision: view.revision, entries: count, bytes: size };
}
