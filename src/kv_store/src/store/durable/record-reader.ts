/*
 * Reads the records of one segment or snapshot in order, a chunk at a time (a snapshot may be
 * far larger than memory should hold twice). Each step yields a record with its offset, or the
 * offset where the file stops making sense and why; recovery decides what that means.
 *
 * Every chunk is read into the same buffer, so a record's bytes (an ENTRIES or BATCH record
 * read in place) are valid only until the next call: recovery copies what it keeps before it
 * reads on. Reading into fresh memory instead cost more than the reading itself: each new page
 * is a fault, about 12 µs each on the machine the durability bench runs on. Reading and
 * checksumming a 118 MB snapshot (721,699 entries) in 4 MiB chunks took 342 ms into a fresh
 * buffer per chunk and 50 ms into one reused buffer.
 */

import { type Fd, type FileLayer, readInto, readRange } from './file-layer.js';
import {
  type DecodedRecord,
  decodePayload,
  decodeRecord,
  FormatError,
  FRAME_BYTES,
  frameAt,
  Kind,
  MAGIC_BYTES,
  viewOf,
} from './record-format.js';

const CHUNK_BYTES = 4 * 1_048_576;
/** The unit a disk writes whole or not at all, as etcd's WAL assumes (its minSectorSize). */
const SECTOR_BYTES = 512;
/** How much of the end of a file zeroTailStart reads at a time. */
const ZERO_SCAN_BYTES = 256 * 1024;
/** An END record's payload: its kind and an f64 entry count. */
const END_PAYLOAD_BYTES = 9;
/** The fewest bytes an entry of a snapshot takes: key and value lengths and five numbers. */
const MIN_ENTRY_BYTES = 4 + 5 * 8 + 4;

export type ReadStep =
  | { readonly ok: true; readonly offset: number; readonly end: number; readonly record: DecodedRecord }
  | { readonly ok: false; readonly offset: number; readonly problem: string };

export class RecordReader {
  readonly size: number;
  private readonly fd: Fd;
  /** File position of the next record. */
  private position = MAGIC_BYTES;
  /** The bytes of the file from chunkStart, a view of `buffer`. */
  private chunk: Buffer = Buffer.alloc(0);
  /** viewOf(chunk), made once a chunk: the records of a chunk are read through it in place. */
  private view: DataView = viewOf(this.chunk);
  private chunkStart = 0;
  /** Reused for every chunk; grows to hold a record larger than CHUNK_BYTES. */
  private buffer: Buffer = Buffer.alloc(0);

  constructor(
    private readonly files: FileLayer,
    readonly path: string,
  ) {
    this.fd = files.openRead(path);
    this.size = files.size(this.fd);
  }

  /** Whether the file starts with `magic`; a shorter file does not. */
  hasMagic(magic: Buffer): boolean {
    return this.size >= MAGIC_BYTES && readRange(this.files, this.fd, 0, MAGIC_BYTES).equals(magic);
  }

  /**
   * The next record, undefined at the end of the file, or where and why it stops making sense.
   * The record's bytes are valid until the next call.
   */
  next(): ReadStep | undefined {
    const offset = this.position;
    if (offset >= this.size) return undefined;
    let available = this.load(offset, FRAME_BYTES);
    if (available >= FRAME_BYTES) {
      const length = this.chunk.readUInt32LE(offset - this.chunkStart + 4);
      available = this.load(offset, FRAME_BYTES + length);
    }
    const at = offset - this.chunkStart;
    const frame = frameAt(this.chunk, at, at + available);
    if (!frame.ok) return { ok: false, offset, problem: frame.problem };
    let record: DecodedRecord;
    try {
      record = decodeRecord(this.chunk, this.view, frame.payloadStart, frame.end);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      return { ok: false, offset, problem: err.message };
    }
    this.position = offset + (frame.end - at);
    return { ok: true, offset, end: this.position, record };
  }

  /**
   * The offset of the first whole, checksummed BATCH record of revision >= `minRevision` that
   * starts after `from`, if any: what tells damage inside the log (valid commits follow) from a
   * torn tail (nothing valid follows). Reads the rest of the file at once; segments are bounded.
   */
  laterBatch(from: number, minRevision: number): number | undefined {
    const rest = readRange(this.files, this.fd, from, this.size - from);
    for (let at = 1; at + FRAME_BYTES + 9 <= rest.length; at++) {
      // Cheap filters first: a plausible length, the BATCH kind, a revision in range.
      const length = rest.readUInt32LE(at + 4);
      if (length < 13 || at + FRAME_BYTES + length > rest.length || rest[at + FRAME_BYTES] !== Kind.Batch) continue;
      const revision = rest.readDoubleLE(at + FRAME_BYTES + 1);
      if (!Number.isSafeInteger(revision) || revision < minRevision) continue;
      if (frameAt(rest, at, rest.length).ok) return from + at;
    }
    return undefined;
  }

  /**
   * Whether the record at `offset` is torn the way a machine crash tears a write over blocks
   * already written (the zeros the log is filled with ahead of its records): a sector it lies in
   * (512 bytes, aligned in the file; in its first, from where it starts) holds only zeros, as a
   * sector the disk never wrote does. A crash can keep a later sector of a turn's write and lose
   * an earlier one, so such a record may be followed by whole ones, which were never acknowledged
   * (the fsync that would have covered them covers it too). This is the check etcd's WAL decoder
   * makes (`isTornEntry`). When the record's length reads as 0, the sectors its header is in are
   * looked at. Valid records hold no run of zeros longer than a number.
   */
  tornAt(offset: number): boolean {
    if (offset >= this.size) return false;
    const head = readRange(this.files, this.fd, offset, Math.min(FRAME_BYTES, this.size - offset));
    const length = head.length === FRAME_BYTES ? head.readUInt32LE(4) : 0;
    // Not into the zeros at the end of the file: a sector a crash lost has sectors it kept after
    // it (else nothing valid follows, and the record is torn anyway), and a length that damage
    // made too long must not reach the zeros ahead of the records.
    const zeroTail = this.zeroTailStart(offset);
    const end = Math.min(
      zeroTail,
      length === 0 ? Math.ceil((offset + FRAME_BYTES) / SECTOR_BYTES) * SECTOR_BYTES : offset + FRAME_BYTES + length,
    );
    // Each sector is looked at from where the record starts (before it, the sector holds what was
    // there already) to its own end, past the record's: a lost sector is zeros all the way, and
    // a few bytes of zeros (the low bytes of a number) in a record do not make it torn.
    const through = Math.min(zeroTail, Math.ceil(end / SECTOR_BYTES) * SECTOR_BYTES);
    const bytes = readRange(this.files, this.fd, offset, through - offset);
    for (let start = offset; start < end; ) {
      const stop = Math.min(through, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES);
      let zeros = true;
      for (let i = start - offset; i < stop - offset; i++) {
        if (bytes[i] !== 0) {
          zeros = false;
          break;
        }
      }
      if (zeros) return true;
      start = stop;
    }
    return false;
  }

  /**
   * Whether every byte from `offset` to the end of the file is zero: the zeros a log segment is
   * filled with ahead of its records (write-ahead-log.ts), which end its records as the end of
   * the file would.
   */
  zerosFrom(offset: number): boolean {
    return this.zeroTailStart(offset) === offset;
  }

  /** Where the zeros at the end of the file start (the file's size when it does not end in a zero), searching no lower than `floor`. */
  private zeroTailStart(floor: number): number {
    let end = this.size;
    while (end > floor) {
      const from = Math.max(floor, end - ZERO_SCAN_BYTES);
      const bytes = readRange(this.files, this.fd, from, end - from);
      let i = bytes.length;
      while (i > 0 && bytes[i - 1] === 0) i--;
      if (i > 0) return from + i;
      end = from;
    }
    return end;
  }

  /**
   * The revision of the last whole, checksummed BATCH record, found from the end (of the
   * records: zeros after them are skipped): the first valid one in the last 64 KiB (laterBatch;
   * a wider window if none is), then the frames after it. Reads only the end of the file.
   * Undefined if the file holds none.
   */
  lastBatchRevision(): number | undefined {
    const size = this.zeroTailStart(MAGIC_BYTES);
    for (let window = 65_536; ; window *= 8) {
      const from = Math.max(MAGIC_BYTES - 1, size - window);
      const start = this.laterBatch(from, 1);
      if (start !== undefined) {
        const tail = readRange(this.files, this.fd, start, size - start);
        let last: number | undefined;
        for (let at = 0; ; ) {
          const frame = frameAt(tail, at, tail.length);
          if (!frame.ok) break;
          if (tail[frame.payloadStart] === Kind.Batch) last = tail.readDoubleLE(frame.payloadStart + 1);
          at = frame.end;
        }
        return last;
      }
      if (from === MAGIC_BYTES - 1) return undefined;
    }
  }

  /**
   * The entry count a snapshot's END record gives, when the file ends with a whole, checksummed
   * one: read from the end before the entries are, so the store can be sized for them. Only a
   * hint (undefined when the end is anything else; the records are checked as they are read),
   * and never more entries than the file has room for.
   */
  endRecordCount(): number | undefined {
    const bytes = FRAME_BYTES + END_PAYLOAD_BYTES;
    if (this.size < MAGIC_BYTES + bytes) return undefined;
    const tail = readRange(this.files, this.fd, this.size - bytes, bytes);
    const frame = frameAt(tail, 0, bytes);
    if (!frame.ok || frame.end !== bytes) return undefined;
    let record: DecodedRecord;
    try {
      record = decodePayload(tail.subarray(frame.payloadStart, frame.end));
    } catch (err) {
      if (err instanceof FormatError) return undefined;
      throw err;
    }
    return record.kind === Kind.End ? Math.min(record.entryCount, Math.floor(this.size / MIN_ENTRY_BYTES)) : undefined;
  }

  /** `length` bytes at `position` (fewer if the file ends first). */
  readAt(position: number, length: number): Buffer {
    return readRange(this.files, this.fd, position, length);
  }

  close(): void {
    this.files.close(this.fd);
  }

  /** Makes `want` bytes from `position` readable in the chunk (fewer at the end of the file); returns how many are. */
  private load(position: number, want: number): number {
    const inFile = Math.min(want, this.size - position);
    const chunkEnd = this.chunkStart + this.chunk.length;
    if (position < this.chunkStart || position + inFile > chunkEnd) {
      const length = Math.min(Math.max(want, CHUNK_BYTES), this.size - position);
      if (this.buffer.length < length) this.buffer = Buffer.allocUnsafe(Math.max(length, CHUNK_BYTES));
      this.chunk = readInto(this.files, this.fd, this.buffer.subarray(0, length), position);
      this.view = viewOf(this.chunk);
      this.chunkStart = position;
    }
    return Math.min(inFile, this.chunkStart + this.chunk.length - position);
  }
}
