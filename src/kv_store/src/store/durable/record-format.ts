/*
 * The bytes of the data directory: log segments and snapshots share one framing.
 *
 *   file    = magic (8 bytes: "KVWAL" or "KVSNP", 0, 0, format 1) then records
 *   record  = u32 crc | u32 length | payload (length bytes)     (little-endian)
 *             crc is CRC-32 over the length field and the payload, so a damaged length is
 *             caught like damaged data
 *   payload = u8 kind, then by kind:
 *     SEGMENT   f64 first revision, str store id                 (first record of a segment)
 *     BATCH     f64 revision, u32 n, n changes                    (one commit)
 *     SNAPSHOT  f64 revision, str store id, f64 taken at (ms)     (first record of a snapshot)
 *     ENTRIES   u32 n, n entries                                  (a slice of a snapshot)
 *     RECORDS   u32 n, n record images                            (a slice of a snapshot, since 2026-12)
 *     END       f64 entries in the snapshot                       (its last record)
 *   change  = u8 tag: 1 put, 2 put by a transaction -> entry
 *                     3 delete, 4 expired, 5 deleted by a transaction -> str key, f64 revision
 *   entry   = str key, f64 version, f64 revision, f64 createdAt, f64 updatedAt, f64 expiresAt,
 *             str value (the value's JSON text, exactly as written)
 *   str     = u32 byte length, UTF-8 bytes
 *   image   = f64 revision, f64 createdAt, f64 updatedAt, f64 expiresAt, f64 version,
 *             u32 key bytes, u32 value bytes, the key's UTF-8, the value's JSON text, then 0-7
 *             zero bytes to a multiple of 8: a record exactly as the memory engine lays it out
 *             (record-table.ts), so a snapshot loads by copying runs of records into its slabs
 *             (RecordTable.adoptRecords) where ENTRIES copied each key and value on its own.
 *             Snapshots are written with RECORDS on a little-endian machine (the slabs' typed
 *             arrays use the machine's byte order) and with ENTRIES elsewhere; both are read.
 *
 * Numbers are float64: revisions and times are integers below 2^53, and an entry that never
 * expires keeps expiresAt = Infinity (NEVER) as such. Decoding checks every length against the
 * payload and refuses trailing bytes; anything malformed is a FormatError.
 */

import { endianness } from 'node:os';
import type { RecordImages } from '../memory/memory-store.js';
import { RECORD_HEADER_BYTES } from '../memory/record-table.js';
import type { Change, ChangeBatch, DeleteReason, Entry, PutChange } from '../store.js';
import { crc32Range } from './crc32.js';

export const WAL_MAGIC = Buffer.from('KVWAL\x00\x00\x01', 'latin1');
export const SNAPSHOT_MAGIC = Buffer.from('KVSNP\x00\x00\x01', 'latin1');
export const MAGIC_BYTES = 8;
/** crc and length, before each payload. */
export const FRAME_BYTES = 8;

/** What a record is, its payload's first byte. */
export const Kind = { Segment: 1, Batch: 2, Snapshot: 3, Entries: 4, End: 5, Records: 6 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const PUT = 1;
const PUT_TXN = 2;
const DELETE_TAGS: Readonly<Record<DeleteReason, number>> = { delete: 3, expired: 4, txn: 5 };
const DELETE_REASONS: Readonly<Record<number, DeleteReason>> = { 3: 'delete', 4: 'expired', 5: 'txn' };

/** A record whose payload does not say what a record of its kind must. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

export type DecodedRecord =
  | { readonly kind: typeof Kind.Segment; readonly firstRevision: number; readonly storeId: string }
  | { readonly kind: typeof Kind.Batch; readonly batch: EncodedBatch }
  | { readonly kind: typeof Kind.Snapshot; readonly revision: number; readonly storeId: string; readonly takenAt: number }
  | { readonly kind: typeof Kind.Entries; readonly entries: EncodedEntries }
  | { readonly kind: typeof Kind.Records; readonly records: EncodedRecords }
  | { readonly kind: typeof Kind.End; readonly entryCount: number };

/**
 * Builds one record at a time in a buffer it keeps and grows, so appending a batch allocates
 * nothing in the common case. A finished record is a view of that buffer: write it before
 * building the next.
 */
export class RecordBuilder {
  private buffer: Buffer = Buffer.allocUnsafe(64 * 1024);
  private at = FRAME_BYTES;

  /** Starts a record of `kind`. */
  begin(kind: Kind): this {
    this.at = FRAME_BYTES;
    return this.u8(kind);
  }

  u8(n: number): this {
    this.room(1);
    this.buffer[this.at++] = n;
    return this;
  }

  u32(n: number): this {
    this.room(4);
    this.buffer.writeUInt32LE(n, this.at);
    this.at += 4;
    return this;
  }

  f64(n: number): this {
    this.room(8);
    this.buffer.writeDoubleLE(n, this.at);
    this.at += 8;
    return this;
  }

  str(s: string): this {
    // At most 3 bytes per UTF-16 unit: reserve that, write, then fill in the real length.
    this.room(4 + 3 * s.length);
    const written = this.buffer.write(s, this.at + 4, 'utf8');
    this.buffer.writeUInt32LE(written, this.at);
    this.at += 4 + written;
    return this;
  }

  /** Sets the u32 at `offset` of the record being built (a count known only at its end). */
  patchU32(offset: number, n: number): this {
    this.buffer.writeUInt32LE(n, offset);
    return this;
  }

  /** `length` bytes from `start` of `bytes`, then zeros to the next multiple of 8 bytes of them. */
  image(bytes: Buffer, start: number, length: number): this {
    const padded = Math.ceil(length / 8) * 8;
    this.room(padded);
    bytes.copy(this.buffer, this.at, start, start + length);
    this.buffer.fill(0, this.at + length, this.at + padded);
    this.at += padded;
    return this;
  }

  /** The framed record (crc and length filled in); valid until the next begin. */
  finish(): Buffer {
    const length = this.at - FRAME_BYTES;
    this.buffer.writeUInt32LE(length, 4);
    this.buffer.writeUInt32LE(crc32Range(this.buffer, 4, this.at), 0);
    return this.buffer.subarray(0, this.at);
  }

  /** Bytes of the record being built so far, framing included. */
  get size(): number {
    return this.at;
  }

  private room(n: number): void {
    if (this.at + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + n));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}

/** Adds `entry` (a put change or a snapshot entry) to the record being built. */
function entry(b: RecordBuilder, e: Entry): RecordBuilder {
  return b.str(e.key).f64(e.version).f64(e.revision).f64(e.createdAt).f64(e.updatedAt).f64(e.expiresAt).str(e.value);
}

/** The BATCH record of one commit. */
export function batchRecord(b: RecordBuilder, batch: ChangeBatch): Buffer {
  b.begin(Kind.Batch).f64(batch.revision).u32(batch.changes.length);
  for (const change of batch.changes) {
    if (change.type === 'put') entry(b.u8(change.reason === 'txn' ? PUT_TXN : PUT), change);
    else b.u8(DELETE_TAGS[change.reason]).str(change.key).f64(change.revision);
  }
  return b.finish();
}

export function segmentRecord(b: RecordBuilder, firstRevision: number, storeId: string): Buffer {
  return b.begin(Kind.Segment).f64(firstRevision).str(storeId).finish();
}

export function snapshotRecord(b: RecordBuilder, revision: number, storeId: string, takenAt: number): Buffer {
  return b.begin(Kind.Snapshot).f64(revision).str(storeId).f64(takenAt).finish();
}

/** Starts an ENTRIES record; add entries with addEntry, then fill in the count with entriesRecord. */
export function beginEntries(b: RecordBuilder): void {
  b.begin(Kind.Entries).u32(0);
}

export function addEntry(b: RecordBuilder, e: Entry): void {
  entry(b, e);
}

/** Finishes the ENTRIES record begun with beginEntries, holding `count` entries. */
export function entriesRecord(b: RecordBuilder, count: number): Buffer {
  // The count sits after the frame and the kind.
  return b.patchU32(FRAME_BYTES + 1, count).finish();
}

/** Starts a RECORDS record; add records with addRecordImage, then fill in the count with entriesRecord (the count is where ENTRIES has it). */
export function beginRecords(b: RecordBuilder): void {
  b.begin(Kind.Records).u32(0);
}

/** Adds a record's image (`length` bytes from `start` of `bytes`: its header, key and value) and its padding. */
export function addRecordImage(b: RecordBuilder, bytes: Buffer, start: number, length: number): void {
  b.image(bytes, start, length);
}

export function endRecord(b: RecordBuilder, entryCount: number): Buffer {
  return b.begin(Kind.End).f64(entryCount).finish();
}

/** What is at `offset` of `data`: a whole record whose crc holds, or why not. */
export type Frame =
  | { readonly ok: true; readonly payloadStart: number; readonly end: number }
  | { readonly ok: false; readonly problem: string };

/** Checks the frame at `offset` (the bytes up to `limit` are all there is). */
export function frameAt(view: Buffer, offset: number, limit: number): Frame {
  if (limit - offset < FRAME_BYTES) return { ok: false, problem: `${limit - offset} bytes left, fewer than a record header` };
  const length = view.readUInt32LE(offset + 4);
  const end = offset + FRAME_BYTES + length;
  if (length === 0) return { ok: false, problem: 'a record of length 0' };
  if (end > limit) return { ok: false, problem: `a record of ${length} bytes runs past the end of the file` };
  if (crc32Range(view, offset + 4, end) !== view.readUInt32LE(offset)) return { ok: false, problem: 'checksum mismatch' };
  return { ok: true, payloadStart: offset + FRAME_BYTES, end };
}

/** A DataView over exactly the bytes of `data`: index i of one is index i of the other. */
export function viewOf(data: Buffer): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/** Reads the payload of a record whose frame checked out. */
export function decodePayload(payload: Buffer): DecodedRecord {
  return decodeRecord(payload, viewOf(payload), 0, payload.length);
}

/**
 * Reads the payload at bytes `start` to `end` of `data` (`view`: viewOf(data)) in place, as a
 * reader of a file's chunk does: a BATCH or ENTRIES record it gives refers to `data`, so it is
 * valid only while those bytes are.
 */
export function decodeRecord(data: Buffer, view: DataView, start: number, end: number): DecodedRecord {
  const r = new PayloadReader(data, view, start, end);
  const kind = r.u8();
  let record: DecodedRecord;
  switch (kind) {
    case Kind.Segment:
      record = { kind: Kind.Segment, firstRevision: r.revision(), storeId: r.str() };
      break;
    case Kind.Batch:
      // Checked here, decoded (or read in place) by whoever replays it.
      return { kind: Kind.Batch, batch: new EncodedBatch(r) };
    case Kind.Snapshot:
      record = { kind: Kind.Snapshot, revision: r.revision(0), storeId: r.str(), takenAt: r.time() };
      break;
    case Kind.Entries:
      // Checked here, read in place by whoever loads them.
      return { kind: Kind.Entries, entries: new EncodedEntries(r) };
    case Kind.Records:
      // Checked here, copied in place by whoever loads them.
      return { kind: Kind.Records, records: new EncodedRecords(r) };
    case Kind.End:
      record = { kind: Kind.End, entryCount: r.count() };
      break;
    default:
      throw new FormatError(`unknown record kind ${kind}`);
  }
  r.done();
  return record;
}

/** One entry of an ENTRIES record as bytes: its numbers, and where its key and value lie in `bytes`. */
export interface EntryBytes {
  readonly bytes: Buffer;
  keyStart: number;
  keyBytes: number;
  valueStart: number;
  valueBytes: number;
  version: number;
  revision: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

/**
 * The entries of an ENTRIES record, every field checked when it is made (a FormatError
 * otherwise) but read in place: `forEach` hands out each entry's numbers and where its key's and
 * value's UTF-8 lie in the payload, in one object it reuses, so a snapshot loads by copying
 * bytes (MemoryStore's addUtf8) with nothing decoded or allocated per entry. `decode` gives
 * them as put changes.
 */
export class EncodedEntries {
  readonly count: number;
  /** The highest revision among the entries (0 when there are none). */
  readonly maxRevision: number = 0;

  /** Checks the payload through decodeRecord's reader over it (already past the kind), and keeps the reader to read it again. */
  constructor(private readonly payload: PayloadReader) {
    this.count = payload.u32();
    for (let i = 0; i < this.count; i++) this.maxRevision = Math.max(this.maxRevision, payload.skipEntry());
    payload.done();
  }

  forEach(visit: (entry: EntryBytes) => void): void {
    const { data, view, start } = this.payload;
    const e = entryBytesOf(data);
    // Past the kind and the count; the constructor checked every length and number.
    let at = start + 5;
    for (let i = 0; i < this.count; i++) {
      at = readEntryAt(view, at, e);
      visit(e);
    }
  }

  decode(): PutChange[] {
    const r = this.payload.again();
    r.u8();
    r.u32();
    const entries: PutChange[] = [];
    for (let i = 0; i < this.count; i++) entries.push(r.entry(undefined));
    return entries;
  }
}

/**
 * Whether snapshots are written and loaded as RECORDS: the images are the memory engine's slabs
 * as they lie, in the machine's byte order, and RECORDS are little-endian.
 */
export const RECORDS_IN_PLACE = endianness() === 'LE';

/**
 * The records of a RECORDS record, every image checked when it is made (a FormatError
 * otherwise: lengths within the payload, a key of at least one byte, numbers as an entry's), for
 * MemoryStore's addRecords to copy in place (`images`). `forEach` hands them out as entries'
 * bytes, as EncodedEntries does, and `decode` as put changes.
 */
export class EncodedRecords {
  readonly count: number;
  /** The highest revision among the records (0 when there are none). */
  readonly maxRevision: number = 0;

  constructor(private readonly payload: PayloadReader) {
    this.count = payload.u32();
    for (let i = 0; i < this.count; i++) this.maxRevision = Math.max(this.maxRevision, payload.skipImage());
    payload.done();
  }

  /** The images, for MemoryStore's addRecords: `count` of them from `start` of `bytes`. */
  images(): RecordImages {
    const { data, view, start } = this.payload;
    // Past the kind and the count.
    return { bytes: data, view, start: start + 5, count: this.count, maxRevision: this.maxRevision };
  }

  forEach(visit: (entry: EntryBytes) => void): void {
    const { data, view, start } = this.payload;
    const e = entryBytesOf(data);
    let at = start + 5;
    for (let i = 0; i < this.count; i++) {
      e.revision = view.getFloat64(at, true);
      e.createdAt = view.getFloat64(at + 8, true);
      e.updatedAt = view.getFloat64(at + 16, true);
      e.expiresAt = view.getFloat64(at + 24, true);
      e.version = view.getFloat64(at + 32, true);
      e.keyBytes = view.getUint32(at + 40, true);
      e.valueBytes = view.getUint32(at + 44, true);
      e.keyStart = at + RECORD_HEADER_BYTES;
      e.valueStart = e.keyStart + e.keyBytes;
      visit(e);
      at += Math.ceil((RECORD_HEADER_BYTES + e.keyBytes + e.valueBytes) / 8) * 8;
    }
  }

  decode(): PutChange[] {
    const entries: PutChange[] = [];
    this.forEach((e) => {
      const { version, revision, createdAt, updatedAt, expiresAt } = e;
      entries.push({
        type: 'put',
        key: e.bytes.toString('utf8', e.keyStart, e.keyStart + e.keyBytes),
        value: e.bytes.toString('utf8', e.valueStart, e.valueStart + e.valueBytes),
        version,
        revision,
        createdAt,
        updatedAt,
        expiresAt,
      });
    });
    return entries;
  }
}

/** The object a forEach hands out for each entry of `data`, filled in entry by entry. */
function entryBytesOf(data: Buffer): EntryBytes {
  return {
    bytes: data,
    keyStart: 0,
    keyBytes: 0,
    valueStart: 0,
    valueBytes: 0,
    version: 0,
    revision: 0,
    createdAt: 0,
    updatedAt: 0,
    expiresAt: 0,
  };
}

/**
 * Reads the entry at `at` of a checked payload (`view`) into `e`, in place: its numbers, and where
 * its key's and value's UTF-8 lie. Returns where the entry ends.
 */
function readEntryAt(view: DataView, at: number, e: EntryBytes): number {
  e.keyBytes = view.getUint32(at, true);
  e.keyStart = at + 4;
  const numbers = e.keyStart + e.keyBytes;
  e.version = view.getFloat64(numbers, true);
  e.revision = view.getFloat64(numbers + 8, true);
  e.createdAt = view.getFloat64(numbers + 16, true);
  e.updatedAt = view.getFloat64(numbers + 24, true);
  e.expiresAt = view.getFloat64(numbers + 32, true);
  e.valueBytes = view.getUint32(numbers + 40, true);
  e.valueStart = numbers + 44;
  return e.valueStart + e.valueBytes;
}

/** One change of a BATCH record as bytes: a put's entry, or a delete's key and revision (its other numbers 0). */
export interface ChangeBytes extends EntryBytes {
  /** A delete (or expiry), not a put. */
  deleted: boolean;
}

/**
 * The commit of a BATCH record, every field checked when it is made (a FormatError otherwise)
 * but decoded only on demand: `decode` gives the ChangeBatch; `forEach` hands out each change's
 * numbers and where its key's and value's UTF-8 lie in the payload, in one object it reuses, so
 * that recovery can copy a put's bytes into the store as a snapshot's entries are
 * (MemoryStore.replayQuietly), with no strings made.
 */
export class EncodedBatch {
  readonly revision: number;
  readonly count: number;

  /** Checks the payload through decodeRecord's reader over it (already past the kind), and keeps the reader to read it again. */
  constructor(private readonly payload: PayloadReader) {
    this.revision = payload.revision();
    this.count = payload.u32();
    for (let i = 0; i < this.count; i++) payload.skipChange();
    payload.done();
  }

  forEach(visit: (change: ChangeBytes) => void): void {
    const { data, view, start } = this.payload;
    const c: ChangeBytes = {
      bytes: data,
      deleted: false,
      keyStart: 0,
      keyBytes: 0,
      valueStart: 0,
      valueBytes: 0,
      version: 0,
      revision: 0,
      createdAt: 0,
      updatedAt: 0,
      expiresAt: 0,
    };
    // Past the kind, the revision and the count; the constructor checked every tag, length and number.
    let at = start + 13;
    for (let i = 0; i < this.count; i++) {
      const tag = data[at] as number;
      c.deleted = tag !== PUT && tag !== PUT_TXN;
      if (c.deleted) {
        c.keyBytes = view.getUint32(at + 1, true);
        c.keyStart = at + 5;
        at = c.keyStart + c.keyBytes;
        c.revision = view.getFloat64(at, true);
        c.version = c.createdAt = c.updatedAt = c.expiresAt = 0;
        c.valueStart = c.valueBytes = 0;
        at += 8;
      } else {
        at = readEntryAt(view, at + 1, c);
      }
      visit(c);
    }
  }

  decode(): ChangeBatch {
    const r = this.payload.again();
    r.u8();
    r.f64();
    r.u32();
    const changes: Change[] = [];
    for (let i = 0; i < this.count; i++) changes.push(r.change());
    return { revision: this.revision, changes };
  }
}

/**
 * Reads the fields of the payload at bytes `start` to `end` of `data`, checking each against
 * what is left. Numbers are read through `view` (viewOf(data)): single loads, where Buffer's
 * readDoubleLE copies byte by byte.
 */
class PayloadReader {
  private at: number;

  constructor(
    readonly data: Buffer,
    readonly view: DataView,
    readonly start: number,
    readonly end: number,
  ) {
    this.at = start;
  }

  /** A reader of the same payload from its start, to read it again (the fields were checked). */
  again(): PayloadReader {
    return new PayloadReader(this.data, this.view, this.start, this.end);
  }

  u8(): number {
    this.need(1);
    return this.data[this.at++] as number;
  }

  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.at, true);
    this.at += 4;
    return n;
  }

  f64(): number {
    this.need(8);
    const n = this.view.getFloat64(this.at, true);
    this.at += 8;
    return n;
  }

  /** A revision: a whole number from `min` (1 unless said) below 2^53. */
  revision(min = 1): number {
    const n = this.f64();
    if (!Number.isSafeInteger(n) || n < min) throw new FormatError(`revision ${n} is not a whole number >= ${min}`);
    return n;
  }

  count(): number {
    return this.revision(0);
  }

  time(): number {
    const n = this.f64();
    if (!Number.isSafeInteger(n)) throw new FormatError(`time ${n} is not a whole number of milliseconds`);
    return n;
  }

  str(): string {
    const length = this.u32();
    this.need(length);
    const s = this.data.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }

  change(): Change {
    const tag = this.u8();
    if (tag === PUT || tag === PUT_TXN) return this.entry(tag === PUT_TXN ? 'txn' : undefined);
    const reason = DELETE_REASONS[tag];
    if (reason === undefined) throw new FormatError(`unknown change tag ${tag}`);
    return { type: 'delete', key: this.str(), revision: this.revision(), reason };
  }

  entry(reason: 'txn' | undefined): PutChange {
    const key = this.str();
    const version = this.revision();
    const revision = this.revision();
    const createdAt = this.time();
    const updatedAt = this.time();
    const expiresAt = this.expiresAt();
    const value = this.str();
    const change: PutChange = { type: 'put', key, value, version, revision, createdAt, updatedAt, expiresAt };
    return reason === undefined ? change : { ...change, reason };
  }

  /** Checks an entry's fields as `entry` does and steps over it, decoding nothing; returns its revision. */
  skipEntry(): number {
    this.skipStr();
    this.revision();
    const revision = this.revision();
    this.time();
    this.time();
    this.expiresAt();
    this.skipStr();
    return revision;
  }

  /** Checks a record image's fields (as an entry's, a key of at least one byte) and steps over it and its padding; returns its revision. */
  skipImage(): number {
    const revision = this.revision();
    this.time();
    this.time();
    this.expiresAt();
    this.revision();
    const keyBytes = this.u32();
    const valueBytes = this.u32();
    if (keyBytes === 0) throw new FormatError('a record with an empty key');
    // Plain arithmetic, not `& ~7`, which wraps past 2 GiB: the lengths are any u32 in a damaged
    // file, and must be refused by `need` (the payload is under 4 GiB, so no key length passes
    // that is the engine's FREE marker, 0xffffffff).
    const rest = Math.ceil((RECORD_HEADER_BYTES + keyBytes + valueBytes) / 8) * 8 - RECORD_HEADER_BYTES;
    this.need(rest);
    this.at += rest;
    return revision;
  }

  /** Checks a change's fields as `change` does and steps over it, decoding nothing. */
  skipChange(): void {
    const tag = this.u8();
    if (tag === PUT || tag === PUT_TXN) {
      this.skipEntry();
      return;
    }
    if (DELETE_REASONS[tag] === undefined) throw new FormatError(`unknown change tag ${tag}`);
    this.skipStr();
    this.revision();
  }

  /** A time, or Infinity (NEVER). */
  private expiresAt(): number {
    const n = this.f64();
    if (!(Number.isSafeInteger(n) || n === Number.POSITIVE_INFINITY)) throw new FormatError(`expiresAt ${n} is neither a time nor NEVER`);
    return n;
  }

  /** Checks a string's length and steps over it. */
  private skipStr(): void {
    const length = this.u32();
    this.need(length);
    this.at += length;
  }

  done(): void {
    if (this.at !== this.end) throw new FormatError(`${this.end - this.at} bytes after the record's last field`);
  }

  private need(n: number): void {
    if (this.at + n > this.end) throw new FormatError('a field runs past the end of the record');
  }
}
