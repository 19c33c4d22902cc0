import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIR, EntryModel, entriesOf, logged, type Opened, openDurable, recordOffsets } from '../support/durable.js';
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

/** A store under always on a new SimDisk, with k0-k4 written and acknowledged (revisions 1-5), and where their records end. */
async function fiveAcknowledged() {
  const disk = new SimDisk();
  const scheduler = new ManualScheduler();
  const first = await openDurable(disk, scheduler, { fsync: 'always' });
  for (let i = 0; i < 5; i++) await logged(first.store.create(`k${i}`, `${i}`), scheduler);
  return { disk, scheduler, first, end: recordsEnd(disk.bytes(SEGMENT)) };
}

/**
 * One turn of three records of about 5 KB each after `end`, the machine stopping during its
 * fsync, which had written the sectors after the first one of the turn but not that one.
 */
async function tornTurn(disk: SimDisk, scheduler: ManualScheduler, store: Opened['store'], end: number): Promise<void> {
  disk.holdFsyncs = true;
  for (let i = 0; i < 3; i++) void store.create(`big${i}`, JSON.stringify('z'.repeat(5000)));
  await scheduler.settle();
  disk.tornCrash((path, sector) => path !== SEGMENT || sector !== Math.floor(end / 512));
}

/** 60 keys written under `no` in segments of 4 KiB, then a clean stop. */
async function sixtyInSmallSegments() {
  const disk = new SimDisk();
  const scheduler = new ManualScheduler();
  const opened = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
  for (let i = 0; i < 60; i++) await logged(opened.store.create(`key-${i}`, JSON.stringify('x'.repeat(100))), scheduler);
  const segments = () =>
    disk
      .list(DIR)
      .filter((n) => n.startsWith('wal-'))
      .sort();
  return { disk, scheduler, ...opened, segments };
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
    const { disk, scheduler, persistence, clock, segments } = await sixtyInSmallSegments();
    const names = segments();
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

  it('commits lost to zeros at the end of a segment that is not the last: the refusal names where they were lost', async () => {
    const { disk, scheduler, persistence, clock, segments } = await sixtyInSmallSegments();
    await persistence.close();
    const first = segments()[0] as string;
    const bytes = disk.bytes(`${DIR}/${first}`);
    const last = recordOffsets(bytes).at(-1) as number;
    // Its last commit reads as zeros, as the zeros ahead of the records would.
    disk.setBytes(`${DIR}/${first}`, Buffer.concat([bytes.subarray(0, last), Buffer.alloc(bytes.length - last + 8192)]));
    await expect(openDurable(disk, scheduler, { fsync: 'no', clock })).rejects.toThrow(
      `(${first} holds only zeros from offset ${last}: the commits between were lost there)`,
    );
  });

  it('anything but zeros after the records is a torn tail: cut off with a warning, and it never comes back', async () => {
    const { disk, scheduler, first, end } = await fiveAcknowledged();
    disk.crash();
    const bytes = disk.bytes(SEGMENT);
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
    expect(zerosFrom(disk.bytes(SEGMENT), end)).toBe(true);
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

  it('a machine crash that kept later sectors of a write and lost an earlier one: a torn tail, cut with a warning, not damage', async () => {
    const { disk, scheduler, first, end } = await fiveAcknowledged();
    await tornTurn(disk, scheduler, first.store, end);

    const second = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
    expect(second.log.lines.filter((l) => l.level !== 'info')).toEqual([
      {
        level: 'warn',
        fields: {
          file: SEGMENT,
          offset: end,
          cutBytes: expect.any(Number),
          problem: 'a record of length 0',
          savedTo: `${SEGMENT}.damaged-${end}`,
        },
        message: 'cut off a torn record at the end of the log',
      },
    ]);
    expect(second.store.revision).toBe(5);
    expect(second.store.get('big1')).toBeUndefined();
    // The whole records cut after it are kept beside the segment.
    expect(disk.bytes(`${SEGMENT}.damaged-${end}`).includes(Buffer.from('z'.repeat(100)))).toBe(true);
    expect(second.store.get('k4')).toMatchObject({ value: '4', revision: 5 });
    await second.persistence.close();
  });

  it("a stop before a torn tail's cut was durable: the next start cuts it again, saved beside the first copy", async () => {
    const { disk, scheduler, first, end } = await fiveAcknowledged();
    await tornTurn(disk, scheduler, first.store, end);
    const torn = disk.bytes(SEGMENT);
    const saved: unknown[] = [];
    for (let round = 0; round < 2; round++) {
      // The second time, the segment is as the crash left it again (the cut was not durable).
      if (round === 1) disk.setBytes(SEGMENT, torn);
      const opened = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
      saved.push(...opened.log.lines.filter((l) => l.level === 'warn').map((l) => (l.fields as { savedTo?: string }).savedTo));
      expect(opened.store.revision).toBe(5);
      await opened.persistence.close();
    }
    expect(saved).toEqual([`${SEGMENT}.damaged-${end}`, `${SEGMENT}.damaged-${end}.1`]);
    expect(disk.bytes(`${SEGMENT}.damaged-${end}`)).toEqual(disk.bytes(`${SEGMENT}.damaged-${end}.1`));
  });

  it('a record whose header straddles two sectors, the second lost: torn, not damage', async () => {
    // The first length of the first record of a turn that puts the next record's header across a
    // sector boundary, its length wholly in the second (it starts 508-511 bytes into a sector).
    const layout = async (length: number) => {
      const { disk, scheduler, first: opened, end: start } = await fiveAcknowledged();
      disk.holdFsyncs = true;
      for (const [key, value] of [
        ['a', JSON.stringify('a'.repeat(length))],
        ['b', '"b"'],
        ['c', JSON.stringify('c'.repeat(600))],
        // A whole record after the lost sector: what makes the torn one look like damage.
        ['d', '"d"'],
      ]) {
        void opened.store.create(key as string, value as string);
      }
      await scheduler.settle();
      const bytes = disk.bytes(SEGMENT);
      const second = start + 8 + bytes.readUInt32LE(start + 4);
      return { disk, scheduler, opened, second };
    };
    let found = false;
    for (let length = 1; length < 600 && !found; length++) {
      const { disk, scheduler, opened, second } = await layout(length);
      if (second % 512 < 508) continue;
      found = true;
      const lost = Math.floor(second / 512) + 1;
      disk.tornCrash((path, sector) => path !== SEGMENT || sector !== lost);
      const again = await openDurable(disk, scheduler, { fsync: 'always', clock: opened.clock });
      expect(again.log.messages('warn')).toEqual(['cut off a torn record at the end of the log']);
      expect(again.store.revision).toBe(6);
      expect(again.store.get('a')).toMatchObject({ version: 1, revision: 6 });
      expect(again.store.get('b')).toBeUndefined();
      expect(again.store.get('d')).toBeUndefined();
      await again.persistence.close();
    }
    expect(found).toBe(true);
  });

  it("damage that makes an acknowledged record's length reach the zeros stops start-up: it is not a torn write", async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const first = await openDurable(disk, scheduler, { fsync: 'always' });
    for (let i = 0; i < 10; i++) await logged(first.store.create(`k${i}`, `${i}`), scheduler);
    disk.crash();
    const bytes = disk.bytes(SEGMENT);
    const at = recordOffsets(bytes)[6] as number; // after the header and revisions 1-5
    bytes.writeUInt32LE(bytes.readUInt32LE(at + 4) + 65_536, at + 4);
    disk.setBytes(SEGMENT, bytes);
    await expect(openDurable(disk, scheduler, { fsync: 'always', clock: first.clock })).rejects.toThrow(
      `${SEGMENT}: checksum mismatch at offset ${at}; kv_store stopped rather than guess`,
    );
  });

  it('whichever sectors of the unacknowledged writes a crash keeps, start-up keeps every acknowledged write and a prefix of the rest (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        fc.array(fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        async (kept, turns) => {
          const { disk, scheduler, first } = await fiveAcknowledged();
          // Unacknowledged: `turns` turns of writes whose fsyncs never complete.
          disk.holdFsyncs = true;
          const values: string[] = [];
          for (const [t, lengths] of turns.entries()) {
            for (const [i, length] of lengths.entries()) {
              const value = JSON.stringify(`${t}-${i}-${'w'.repeat(length)}`);
              values.push(value);
              void first.store.create(`new${values.length - 1}`, value);
            }
            await scheduler.settle();
          }
          let n = 0;
          disk.tornCrash(() => kept[n++ % kept.length] as boolean);

          const second = await openDurable(disk, scheduler, { fsync: 'always', clock: first.clock });
          const warnings = second.log.lines.filter((l) => l.level !== 'info').map((l) => l.message);
          expect(warnings.every((m) => m === 'cut off a torn record at the end of the log')).toBe(true);
          const revision = second.store.revision;
          expect(revision).toBeGreaterThanOrEqual(5);
          expect(revision).toBeLessThanOrEqual(5 + values.length);
          for (let i = 0; i < 5; i++) expect(second.store.get(`k${i}`)).toMatchObject({ value: `${i}`, revision: i + 1 });
          values.forEach((value, i) => {
            if (6 + i <= revision) expect(second.store.get(`new${i}`)).toMatchObject({ value, revision: 6 + i });
            else expect(second.store.get(`new${i}`)).toBeUndefined();
          });
          await second.persistence.close();
        },
      ),
      { numRuns: 100 },
    );
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
