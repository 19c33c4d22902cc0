import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Range, tableCrc32 } from '../../src/store/durable/crc32.js';
import {
  addEntry,
  addRecordImage,
  batchRecord,
  beginEntries,
  beginRecords,
  decodePayload,
  endRecord,
  entriesRecord,
  FRAME_BYTES,
  frameAt,
  Kind,
  RecordBuilder,
  SNAPSHOT_MAGIC,
  snapshotRecord,
  WAL_MAGIC,
} from '../../src/store/durable/record-format.js';
import { writeAll } from '../../src/store/durable/file-layer.js';
import { RecordReader } from '../../src/store/durable/record-reader.js';
import { RecordTable } from '../../src/store/memory/record-table.js';
import { SimDisk } from '../support/sim-disk.js';
import { type Change, type ChangeBatch, type Entry, NEVER } from '../../src/store/store.js';

const time = fc.integer({ min: 0, max: 2 ** 45 });
const revision = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const jsonText = fc.jsonValue().map((v) => JSON.stringify(v));

const entry: fc.Arbitrary<Entry> = fc.record({
  key: text,
  value: jsonText,
  version: revision,
  revision,
  createdAt: time,
  updatedAt: time,
  expiresAt: fc.oneof(time, fc.constant(NEVER)),
});

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.tuple(entry, fc.boolean()).map(([e, txn]): Change => (txn ? { type: 'put', ...e, reason: 'txn' } : { type: 'put', ...e })),
  fc.record({
    type: fc.constant('delete' as const),
    key: text,
    revision,
    reason: fc.constantFrom('delete' as const, 'expired' as const, 'txn' as const),
  }),
);

const batch: fc.Arbitrary<ChangeBatch> = fc.record({ revision, changes: fc.array(change, { maxLength: 8 }) });

/** The payload of a finished record. */
function payloadOf(record: Buffer): Buffer {
  const frame = frameAt(record, 0, record.length);
  if (!frame.ok) throw new Error(frame.problem);
  return record.subarray(frame.payloadStart, frame.end);
}

describe('log records', () => {
  it('a batch read back is the batch written: values as their exact JSON text, NEVER kept as Infinity, reasons kept', () => {
    const builder = new RecordBuilder();
    fc.assert(
      fc.property(batch, (b) => {
        const decoded = decodePayload(payloadOf(batchRecord(builder, b)));
        if (decoded.kind !== Kind.Batch) throw new Error(`decoded a record of kind ${decoded.kind}`);
        expect(decoded.batch.revision).toBe(b.revision);
        expect(decoded.batch.count).toBe(b.changes.length);
        expect(decoded.batch.decode()).toEqual(b);
      }),
      { numRuns: 500 },
    );
  });

  it("a batch read in place hands out each change: a put's numbers, key and value, a delete's key and revision", () => {
    const builder = new RecordBuilder();
    fc.assert(
      fc.property(batch, (b) => {
        const decoded = decodePayload(payloadOf(batchRecord(builder, b)));
        if (decoded.kind !== Kind.Batch) throw new Error(`decoded a record of kind ${decoded.kind}`);
        const inPlace: Change[] = [];
        decoded.batch.forEach((c) => {
          const key = c.bytes.toString('utf8', c.keyStart, c.keyStart + c.keyBytes);
          if (c.deleted) {
            inPlace.push({ type: 'delete', key, revision: c.revision, reason: 'delete' });
            return;
          }
          const value = c.bytes.toString('utf8', c.valueStart, c.valueStart + c.valueBytes);
          const { version, revision, createdAt, updatedAt, expiresAt } = c;
          inPlace.push({ type: 'put', key, value, version, revision, createdAt, updatedAt, expiresAt });
        });
        // The bytes view does not say a change's reason (a put by a transaction, an expiry): replay does not need it.
        const withoutReasons = b.changes.map((c): Change => {
          if (c.type === 'delete') return { type: 'delete', key: c.key, revision: c.revision, reason: 'delete' };
          const { reason: _, ...put } = c;
          return put;
        });
        expect(inPlace).toEqual(withoutReasons);
      }),
      { numRuns: 500 },
    );
  });

  it('a batch with a malformed change is refused whole, before any is handed out', () => {
    const builder = new RecordBuilder();
    const put = { type: 'put', key: 'a', value: '1', version: 1, revision: 4, createdAt: 0, updatedAt: 0, expiresAt: NEVER } as const;
    const record = Buffer.from(
      batchRecord(builder, { revision: 4, changes: [put, { type: 'delete', key: 'b', revision: 4, reason: 'delete' }] }),
    );
    // The second change's tag (after the put's tag, key, five numbers and value) made unknown.
    const payload = payloadOf(record);
    const tagAt = 13 + 1 + 4 + 1 + 5 * 8 + 4 + 1;
    expect(payload[tagAt]).toBe(3);
    payload[tagAt] = 9;
    expect(() => decodePayload(payload)).toThrow('unknown change tag 9');
    payload[tagAt] = 3;
    // The count says three: the third runs past the end.
    payload.writeUInt32LE(3, 9);
    expect(() => decodePayload(payload)).toThrow('a field runs past the end of the record');
  });

  it('a slice of snapshot entries read back is the entries written, as put changes', () => {
    const builder = new RecordBuilder();
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        beginEntries(builder);
        for (const e of entries) addEntry(builder, e);
        const decoded = decodePayload(payloadOf(entriesRecord(builder, entries.length)));
        if (decoded.kind !== Kind.Entries) throw new Error(`decoded a record of kind ${decoded.kind}`);
        expect(decoded.entries.count).toBe(entries.length);
        expect(decoded.entries.maxRevision).toBe(Math.max(0, ...entries.map((e) => e.revision)));
        expect(decoded.entries.decode()).toEqual(entries.map((e) => ({ type: 'put', ...e })));
        // Read in place: the numbers, and the key's and value's UTF-8 where forEach says they are.
        const inPlace: Entry[] = [];
        decoded.entries.forEach((e) => {
          const { bytes, keyStart, keyBytes, valueStart, valueBytes, version, revision, createdAt, updatedAt, expiresAt } = e;
          const key = bytes.toString('utf8', keyStart, keyStart + keyBytes);
          const value = bytes.toString('utf8', valueStart, valueStart + valueBytes);
          inPlace.push({ key, value, version, revision, createdAt, updatedAt, expiresAt });
        });
        expect(inPlace).toEqual(entries);
      }),
      { numRuns: 300 },
    );
  });

  it('a slice of entries with a malformed entry is refused whole, before any is handed out', () => {
    const builder = new RecordBuilder();
    beginEntries(builder);
    addEntry(builder, { key: 'a', value: '1', version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: NEVER });
    addEntry(builder, { key: 'b', value: '2', version: 1, revision: 2, createdAt: 0, updatedAt: 0, expiresAt: 0.5 });
    expect(() => decodePayload(payloadOf(entriesRecord(builder, 2)))).toThrow('expiresAt 0.5 is neither a time nor NEVER');
    beginEntries(builder);
    addEntry(builder, { key: 'a', value: '1', version: 1, revision: 1, createdAt: 0, updatedAt: 0, expiresAt: NEVER });
    // The count says three: the third runs past the end.
    expect(() => decodePayload(payloadOf(entriesRecord(builder, 3)))).toThrow('a field runs past the end of the record');
  });

  it("a slice of record images (RECORDS) read back is the engine's records: in place for addRecords, and as put changes", () => {
    const builder = new RecordBuilder();
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.key, maxLength: 20 }), (drawn) => {
        // The engine's records of these entries (no key is empty), as a snapshot writes them.
        const entries = drawn.filter((e) => e.key !== '');
        const table = new RecordTable();
        beginRecords(builder);
        for (const e of entries) {
          const image = table.image(table.insertAt(table.probe(e.key), e.value, e));
          addRecordImage(builder, image.bytes, image.start, image.length);
        }
        const payload = payloadOf(entriesRecord(builder, entries.length));
        const decoded = decodePayload(payload);
        if (decoded.kind !== Kind.Records) throw new Error(`decoded a record of kind ${decoded.kind}`);
        expect(decoded.records.count).toBe(entries.length);
        expect(decoded.records.maxRevision).toBe(Math.max(0, ...entries.map((e) => e.revision)));
        expect(decoded.records.decode()).toEqual(entries.map((e) => ({ type: 'put', ...e })));
        // The images as addRecords takes them: past the kind and the count, each padded to 8 bytes.
        const images = decoded.records.images();
        expect({ start: images.start, count: images.count }).toEqual({ start: 5, count: entries.length });
        let at = images.start;
        for (const e of entries) {
          const used = 48 + Buffer.byteLength(e.key) + Buffer.byteLength(e.value);
          expect(images.bytes.readUInt32LE(at + 40)).toBe(Buffer.byteLength(e.key));
          at += (used + 7) & ~7;
        }
        expect(at).toBe(payload.length);
        // Into a fresh table through adoptRecords: the same records.
        const loaded = new RecordTable();
        loaded.adoptRecords(images.bytes, images.view, images.start, images.count, () => {});
        for (const e of entries) expect(loaded.value(loaded.addressAt(loaded.find(e.key)))).toBe(e.value);
      }),
      { numRuns: 300 },
    );
  });

  it('a slice of record images with a malformed image is refused whole', () => {
    const builder = new RecordBuilder();
    const table = new RecordTable();
    const good = table.image(
      table.insertAt(table.probe('a'), '1', { version: 1, revision: 2, createdAt: 0, updatedAt: 0, expiresAt: NEVER }),
    );
    const slice = (mutate: (image: Buffer) => void, count = 1): Buffer => {
      const image = Buffer.from(good.bytes.subarray(good.start, good.start + good.length));
      mutate(image);
      beginRecords(builder);
      addRecordImage(builder, image, 0, image.length);
      return payloadOf(entriesRecord(builder, count));
    };
    expect(decodePayload(slice(() => {})).kind).toBe(Kind.Records);
    expect(() => decodePayload(slice((i) => i.writeDoubleLE(0, 0)))).toThrow('revision 0 is not a whole number >= 1');
    expect(() => decodePayload(slice((i) => i.writeDoubleLE(0.5, 24)))).toThrow('expiresAt 0.5 is neither a time nor NEVER');
    expect(() => decodePayload(slice((i) => i.writeDoubleLE(1.5, 8)))).toThrow('time 1.5 is not a whole number of milliseconds');
    expect(() => decodePayload(slice((i) => i.writeUInt32LE(0, 40)))).toThrow('a record with an empty key');
    expect(() => decodePayload(slice((i) => i.writeUInt32LE(9, 44)))).toThrow('a field runs past the end of the record');
    expect(() => decodePayload(slice(() => {}, 2))).toThrow('a field runs past the end of the record');
    // Lengths past 2 GiB, which 32-bit arithmetic would wrap: the engine's FREE marker as a key
    // length (it would pad to 48 bytes), and one that would step the reader backwards.
    expect(() => decodePayload(slice((i) => i.writeUInt32LE(0xffffffff, 40).valueOf()))).toThrow('a field runs past the end of the record');
    expect(() => decodePayload(slice((i) => i.writeUInt32LE(0x80000000, 40).valueOf(), 2))).toThrow(
      'a field runs past the end of the record',
    );
    expect(() => decodePayload(slice((i) => i.writeUInt32LE(0xfffffff0, 44).valueOf()))).toThrow('a field runs past the end of the record');
  });

  it('the builder grows for a record larger than its buffer (a 300 KiB value)', () => {
    const value = JSON.stringify('v'.repeat(300 * 1024));
    const b: ChangeBatch = {
      revision: 7,
      changes: [{ type: 'put', key: 'big', value, version: 1, revision: 7, createdAt: 1, updatedAt: 1, expiresAt: NEVER }],
    };
    const decoded = decodePayload(payloadOf(batchRecord(new RecordBuilder(), b)));
    if (decoded.kind !== Kind.Batch) throw new Error(`decoded a record of kind ${decoded.kind}`);
    expect(decoded.batch.decode()).toEqual(b);
  });

  it('every single-byte change of a record is caught by its checksum', () => {
    const record = Buffer.from(
      batchRecord(new RecordBuilder(), {
        revision: 3,
        changes: [{ type: 'put', key: 'k', value: '{"a":1}', version: 2, revision: 3, createdAt: 10, updatedAt: 20, expiresAt: 30 }],
      }),
    );
    for (let i = 0; i < record.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const damaged = Buffer.from(record);
        damaged[i] = (damaged[i] as number) ^ flip;
        expect(frameAt(damaged, 0, damaged.length).ok, `byte ${i} ^ ${flip}`).toBe(false);
      }
    }
  });

  it('a record cut short says it runs past the end of the file', () => {
    const record = batchRecord(new RecordBuilder(), { revision: 1, changes: [] });
    expect(frameAt(record, 0, record.length - 1)).toEqual({ ok: false, problem: 'a record of 13 bytes runs past the end of the file' });
    expect(frameAt(record, 0, FRAME_BYTES - 1)).toEqual({ ok: false, problem: '7 bytes left, fewer than a record header' });
  });

  it('a payload with bytes after its last field, or a field past its end, is refused', () => {
    const payload = payloadOf(batchRecord(new RecordBuilder(), { revision: 1, changes: [] }));
    expect(() => decodePayload(Buffer.concat([payload, Buffer.from([0])]))).toThrow("1 bytes after the record's last field");
    expect(() => decodePayload(payload.subarray(0, payload.length - 1))).toThrow('a field runs past the end of the record');
    expect(() => decodePayload(Buffer.from([9]))).toThrow('unknown record kind 9');
  });
});

/** Writes `magic` then each record `build` returns (built one at a time: a record is a view of the builder's buffer) to `path` on `disk`. */
function writeRecords(disk: SimDisk, path: string, magic: Buffer, builds: ReadonlyArray<(b: RecordBuilder) => Buffer>): number {
  const builder = new RecordBuilder();
  const fd = disk.create(path);
  writeAll(disk, fd, magic, 0);
  let at = magic.length;
  for (const build of builds) {
    const record = build(builder);
    writeAll(disk, fd, record, at);
    at += record.length;
  }
  disk.close(fd);
  return at;
}

describe('RecordReader', () => {
  const MiB = 1_048_576;

  it('reads records smaller and larger than its 4 MiB chunk in order, each intact until the next is read (one buffer, grown)', () => {
    const disk = new SimDisk();
    // Values around and past the chunk size, so records straddle chunks and outgrow the buffer.
    const sizes = [10, 3.9 * MiB, 100, 5 * MiB, 2 * MiB, 9 * MiB, 1, 4 * MiB - 40, 300];
    const batches: ChangeBatch[] = sizes.map((n, i) => ({
      revision: i + 1,
      changes: [
        {
          type: 'put',
          key: `k${i}`,
          value: JSON.stringify(String.fromCharCode(97 + i).repeat(Math.floor(n))),
          version: 1,
          revision: i + 1,
          createdAt: 5,
          updatedAt: 5,
          expiresAt: NEVER,
        },
      ],
    }));
    writeRecords(
      disk,
      '/d/wal',
      WAL_MAGIC,
      batches.map((b) => (builder: RecordBuilder) => batchRecord(builder, b)),
    );
    const reader = new RecordReader(disk, '/d/wal');
    const read: ChangeBatch[] = [];
    for (let step = reader.next(); step !== undefined; step = reader.next()) {
      if (!step.ok) throw new Error(step.problem);
      if (step.record.kind !== Kind.Batch) throw new Error(`a record of kind ${step.record.kind}`);
      read.push(step.record.batch.decode());
    }
    reader.close();
    expect(read).toEqual(batches);
  });

  it("endRecordCount: a snapshot's entry count from its END record; nothing from a file that does not end with a whole one", () => {
    const disk = new SimDisk();
    const entries: Entry[] = Array.from({ length: 3 }, (_, i) => ({
      key: `k${i}`,
      value: `${i}`,
      version: 1,
      revision: i + 1,
      createdAt: 0,
      updatedAt: 0,
      expiresAt: NEVER,
    }));
    const snapshot = [
      (b: RecordBuilder) => snapshotRecord(b, 3, 'store', 0),
      (b: RecordBuilder) => {
        beginEntries(b);
        for (const e of entries) addEntry(b, e);
        return entriesRecord(b, entries.length);
      },
      (b: RecordBuilder) => endRecord(b, entries.length),
    ];
    const size = writeRecords(disk, '/d/snap', SNAPSHOT_MAGIC, snapshot);
    const countOf = (path: string) => {
      const reader = new RecordReader(disk, path);
      try {
        return reader.endRecordCount();
      } finally {
        reader.close();
      }
    };
    expect(countOf('/d/snap')).toBe(3);
    // Torn by a byte, or its checksum failing: no count (the records are judged as they are read).
    const put = (path: string, data: Buffer) => {
      disk.close(disk.create(path));
      disk.setBytes(path, data);
    };
    const whole = disk.bytes('/d/snap');
    put('/d/torn', whole.subarray(0, size - 1));
    expect(countOf('/d/torn')).toBeUndefined();
    const damaged = Buffer.from(whole);
    damaged[size - 2] = (damaged[size - 2] as number) ^ 0xff;
    put('/d/damaged', damaged);
    expect(countOf('/d/damaged')).toBeUndefined();
    // A log ends with a commit, not an END record.
    writeRecords(disk, '/d/wal', WAL_MAGIC, [(b) => batchRecord(b, { revision: 1, changes: [] })]);
    expect(countOf('/d/wal')).toBeUndefined();
    // A count the file has no room for is cut to what it could hold (an entry takes at least 48 bytes).
    const boastful = writeRecords(disk, '/d/boastful', SNAPSHOT_MAGIC, [
      snapshot[0] as (b: RecordBuilder) => Buffer,
      (b) => endRecord(b, 1e12),
    ]);
    expect(countOf('/d/boastful')).toBe(Math.floor(boastful / 48));
  });
});

describe('crc32', () => {
  it("the table-driven fallback gives node:zlib's numbers (files are the same on every Node)", () => {
    const native = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
    expect(native).toBeTypeOf('function');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 0xffffffff }), (data, seed) => {
        expect(tableCrc32(data, seed)).toBe(native?.(data, seed));
        expect(crc32(data)).toBe(tableCrc32(data));
      }),
      { numRuns: 300 },
    );
    expect(tableCrc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('crc32Range (slicing-by-8 below 512 bytes, zlib from there) is crc32 of the subarray, at every offset and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = data.length === 0 ? 0 : a % (data.length + 1);
        const end = start + (data.length - start === 0 ? 0 : b % (data.length - start + 1));
        expect(crc32Range(data, start, end)).toBe(tableCrc32(data.subarray(start, end)));
      }),
      { numRuns: 1000 },
    );
    const digits = Buffer.from('xx123456789yy');
    expect(crc32Range(digits, 2, 11)).toBe(0xcbf43926);
    // Around the 8-byte steps and the hand-over to zlib.
    const bytes = Buffer.from(Array.from({ length: 1100 }, (_, i) => (i * 131 + 7) & 0xff));
    for (const length of [0, 1, 7, 8, 9, 15, 16, 17, 511, 512, 513, 1024]) {
      for (const start of [0, 1, 3, 8])
        expect(crc32Range(bytes, start, start + length)).toBe(tableCrc32(bytes.subarray(start, start + length)));
    }
  });
});
