import { describe, expect, it } from 'vitest';
import { DIR, EntryModel, entriesOf, logged, openDurable } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

/*
 * The log's current segment is filled with zeros ahead of its records (write-ahead-log.ts,
 * ZERO_CHUNK_BYTES), so that an fdatasync after a write commits the data and not a new file
 * size. What must hold: the zeros are read as the end of the records (no warning, nothing
 * lost), a finished or closed segment is cut back to its records, anything but zeros after
 * the records is a torn tail as before, and a disk with no room for them changes nothing.
 */

const SEGMENT = `${DIR}/wal-0000000000000001.log`;

/** Where a segment's records end: the first frame of length 0 (the zeros), or the end of the bytes. */
function recordsEnd(bytes: Buffer): number {
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32LE(at + 4);
    if (length === 0) break;
    at += 8 + length;
  }
  return at;
}

function zerosFrom(bytes: Buffer, from: number): boolean {
  return bytes.subarray(from).every((b) => b === 0);
}

describe('zeros written ahead of the log', () => {
  it('a crash keeps them; recovery reads them as the end of the log, says nothing, and goes on writing over them', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const first = await openDurable(disk, scheduler, { fsync: 'always' });
    const model = new EntryModel(first.store);
    for (let i = 0; i < 20; i++) await logged(first.store.create(`k${i}`, JSON.stringify('v'.repeat(i * 10))), scheduler);
    await logged(first.store.replace('k3', '"three"'), scheduler);
    await logged(first.store.delete('k4'), scheduler);
    const bytes = disk.bytes(SEGMENT);
    const end = recordsEnd(bytes);
    // The records, then at least 256 KiB of zeros.
    expect(bytes.length - end).toBeGreaterThanOrEqual(256 * 1024);
    expect(zerosFrom(bytes, end)).toBe(true);
    disk.crash();

    const second = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(second.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(second.store.revision).toBe(22);
    expect(entriesOf(second.store, [...model.entries.keys(), 'k4'])).toEqual(model.entries);
    const more = new EntryModel(second.store);
    await logged(second.store.replace('k5', '"five"'), scheduler);
    await logged(second.store.create('new', 'true'), scheduler);
    disk.crash();

    const third = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(third.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(third.store.revision).toBe(24);
    expect(third.store.get('k5')).toEqual(more.entries.get('k5'));
    expect(third.store.get('new')).toEqual(more.entries.get('new'));
    expect(third.store.get('k3')).toEqual(model.entries.get('k3'));
    expect(third.store.get('k4')).toBeUndefined();
    await third.persistence.close();
  });

  it('a clean stop, and a finished segment, are cut back to their records', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, clock } = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    for (let i = 0; i < 60; i++) await logged(store.create(`key-${i}`, JSON.stringify('x'.repeat(100))), scheduler);
    const names = disk.list(DIR).filter((n) => n.startsWith('wal-'));
    expect(names.length).toBeGreaterThan(1);
    // Every finished segment ends with its last record.
    for (const name of names.slice(0, -1)) {
      const bytes = disk.bytes(`${DIR}/${name}`);
      expect(recordsEnd(bytes)).toBe(bytes.length);
    }
    const current = `${DIR}/${names.at(-1)}`;
    expect(disk.bytes(current).length).toBeGreaterThan(recordsEnd(disk.bytes(current)));
    await persistence.close();
    const closed = disk.bytes(current);
    expect(recordsEnd(closed)).toBe(closed.length);
    const again = await openDurable(disk, scheduler, { fsync: 'no', clock });
    expect(again.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(again.store.revision).toBe(60);
    expect(again.store.get('key-59')).toMatchObject({ version: 1, revision: 60 });
    await again.persistence.close();
  });

  it('anything but zeros after the records is a torn tail: cut off with a warning, and it never comes back', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const first = await openDurable(disk, scheduler, { fsync: 'always' });
    for (let i = 0; i < 5; i++) await logged(first.store.create(`k${i}`, `${i}`), scheduler);
    disk.crash();
    const bytes = disk.bytes(SEGMENT);
    const end = recordsEnd(bytes);
    // A block the disk wrote while the one before it was lost: zeros, then bytes.
    bytes.fill(0xa5, end + 4096, end + 8192);
    disk.setBytes(SEGMENT, bytes);

    const second = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(second.log.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        fields: { file: SEGMENT, offset: end, cutBytes: bytes.length - end, problem: 'a record of length 0' },
        message: 'cut off a torn record at the end of the log',
      },
    ]);
    expect(second.store.revision).toBe(5);
    expect(
      disk
        .bytes(SEGMENT)
        .subarray(end)
        .every((b) => b === 0),
    ).toBe(true);
    await logged(second.store.create('after', '"cut"'), scheduler);
    disk.crash();

    const third = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(third.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(third.store.revision).toBe(6);
    expect(third.store.get('after')).toMatchObject({ value: '"cut"', revision: 6 });
    expect(third.store.get('k4')).toMatchObject({ value: '4', revision: 5 });
    const after = disk.bytes(SEGMENT);
    expect(after.includes(Buffer.alloc(16, 0xa5))).toBe(false);
    await third.persistence.close();
  });

  it('a disk with no room for them: the log is appended to as before, and loses nothing', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const first = await openDurable(disk, scheduler, { fsync: 'always', zeroAhead: false });
    await logged(first.store.create('a', '1'), scheduler);
    await first.persistence.close();
    // Room for 40 KiB more: not for a chunk of zeros, plenty for the records.
    disk.capacity = disk.bytes(SEGMENT).length + 40 * 1024 + 4096;
    const second = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    const model = new EntryModel(second.store);
    for (let i = 0; i < 50; i++) await logged(second.store.create(`k${i}`, JSON.stringify('y'.repeat(200))), scheduler);
    expect(second.persistence.ready()).toMatchObject({ ok: true });
    disk.crash();

    const third = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(third.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
    expect(third.store.revision).toBe(51);
    expect(entriesOf(third.store, model.entries.keys())).toEqual(model.entries);
    expect(third.store.get('a')).toMatchObject({ value: '1', revision: 1 });
    await third.persistence.close();
  });
});
