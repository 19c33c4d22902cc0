import { describe, expect, it } from 'vitest';
import { Kind } from '../../src/store/durable/record-format.js';
import { writeSnapshot } from '../../src/store/durable/snapshot-writer.js';
import { entryBytes } from '../../src/store/memory/entry-cost.js';
import type { RecordImage } from '../../src/store/memory/record-table.js';
import { type Entry, NEVER } from '../../src/store/store.js';
import { DIR, EntryModel, entriesOf, logged, type MemoryLog, openDurable, recordOffsets } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

const walFiles = (disk: SimDisk) => disk.list(DIR).filter((n) => n.startsWith('wal-'));
const snapFiles = (disk: SimDisk) => disk.list(DIR).filter((n) => n.startsWith('snapshot-'));
/** What a start logged about its recovery (snapshotEntries, logCommits...). */
const recovery = (log: MemoryLog) => log.lines.find((l) => l.message === 'recovered the store from the data directory')?.fields;

describe('snapshots', () => {
  it('are written a slice per turn while writes go on; recovery from the snapshot and the segments after it gives the same state', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const opened = await openDurable(disk, scheduler, { fsync: 'no', snapshots: (store) => (model as EntryModel).snapshots()(store) });
    const { store, persistence } = opened;
    model = new EntryModel(store);
    for (let i = 0; i < 2500; i++)
      await logged(store.create(`k${i}`, JSON.stringify({ i }), i % 3 === 0 ? { ttlMs: 86_400_000 } : {}), scheduler);
    for (let i = 0; i < 100; i++) await logged(store.delete(`k${i * 7}`), scheduler);
    const atSnapshot = store.revision;
    const taking = persistence.snapshot();
    // A new segment begins at the snapshot's next revision at once.
    expect(walFiles(disk)).toEqual(['wal-0000000000000001.log', `wal-${String(atSnapshot + 1).padStart(16, '0')}.log`]);
    let turns = 0;
    let done = false;
    void taking.then(() => (done = true));
    while (!done) {
      // Requests between slices: they land in the new segment, not in the snapshot.
      // (One turn each: its write runs beside the next slice.)
      const during = Promise.resolve(store.replace(`k${turns * 7 + 1}`, `"during ${turns}"`));
      await scheduler.step();
      await during;
      turns++;
    }
    // 2500 - 100 entries at 1000 a slice: three slices, a turn between each.
    expect(turns).toBeGreaterThanOrEqual(3);
    const written = await taking;
    expect(written).toMatchObject({ revision: atSnapshot, entries: 2400, name: `snapshot-${String(atSnapshot).padStart(16, '0')}.snap` });
    // The first segment is covered and gone; the snapshot and the new segment remain.
    expect(walFiles(disk)).toEqual([`wal-${String(atSnapshot + 1).padStart(16, '0')}.log`]);
    expect(snapFiles(disk)).toEqual([written?.name]);
    await logged(store.create('after', '"after"'), scheduler);
    await persistence.close();
    const again = await openDurable(disk, scheduler, { clock: opened.clock, fsync: 'no' });
    const keys = [...Array.from({ length: 2500 }, (_, i) => `k${i}`), 'after'];
    expect(entriesOf(again.store, keys)).toEqual(model.entries);
    expect(again.store.size).toBe(model.entries.size);
    expect(again.store.revision).toBe(store.revision);
    expect(again.store.get('k3')?.expiresAt).toBe(opened.clock.now() + 86_400_000);
    expect(again.store.get('k1')?.expiresAt).toBe(NEVER);
    // The ordered index is rebuilt too (the snapshot is loaded in key order: appended), in key order.
    const listed = again.store.list({ prefix: '', limit: 10_000, reverse: false, values: false, count: true });
    expect(listed.items.map((item) => item.key)).toEqual([...model.entries.keys()].sort());
    expect(listed.count).toBe(model.entries.size);
    // The snapshot is loaded, not replayed as made-up commits: the history after a restart begins
    // at the snapshot's revision (a watcher resuming from before it is told history_compacted),
    // and holds the log's commits after it.
    expect(again.store.capabilities.durable).toBe(true);
    expect(again.store.changesSince(atSnapshot - 1, 10)).toEqual({ compacted: true, oldestRevision: atSnapshot + 1 });
    const replayed = again.store.changesSince(atSnapshot, 10_000);
    expect(Array.isArray(replayed) && replayed.map((b) => b.revision)).toEqual(
      Array.from({ length: store.revision - atSnapshot }, (_, i) => atSnapshot + 1 + i),
    );
  });

  it('start by themselves once KV_SNAPSHOT_EVERY_BYTES of log is written, and replace the snapshot before them', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence, log } = await openDurable(disk, scheduler, {
      fsync: 'no',
      snapshotEveryBytes: 20_000,
      snapshots: (s) => (model as EntryModel).snapshots()(s),
    });
    model = new EntryModel(store);
    const value = JSON.stringify('x'.repeat(200));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) await logged(store.create(`r${round}-${i}`, value), scheduler);
      await scheduler.settle();
    }
    expect(log.messages('info').filter((m) => m === 'snapshot written').length).toBeGreaterThanOrEqual(2);
    expect(snapFiles(disk)).toHaveLength(1);
    expect(persistence.stats()?.lastSnapshot?.revision).toBeGreaterThanOrEqual(200);
    await persistence.close();
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.size).toBe(300);
    expect(again.store.revision).toBe(300);
  });

  it("use the engine's own pinned snapshot(): one starts by itself after KV_SNAPSHOT_EVERY_BYTES, writes go on while it is written, and a restart finds the same state", async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, log, clock } = await openDurable(disk, scheduler, { fsync: 'no', snapshotEveryBytes: 200_000 });
    const model = new EntryModel(store);
    const value = JSON.stringify('v'.repeat(100));
    // About 180 bytes of log each: the snapshot starts after some 1,100 writes, with 1,000 entries a slice.
    // One turn: their records are one write, after which the snapshot is queued.
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 1200; i++) writes.push(Promise.resolve(store.create(`k${i}`, value, i % 2 === 0 ? { ttlMs: 3_600_000 } : {})));
    expect(snapFiles(disk)).toEqual([]);
    let turns = 0;
    while (!log.messages('info').includes('snapshot written') && turns < 100) {
      await scheduler.step();
      // Writes between slices: overwrites of entries the snapshot has and has not written yet, a delete, a new key.
      writes.push(Promise.resolve(store.replace(`k${turns}`, `"during ${turns}"`)));
      writes.push(Promise.resolve(store.replace(`k${1199 - turns}`, `"during ${turns}"`)));
      writes.push(Promise.resolve(store.delete(`k${600 + turns}`)));
      writes.push(Promise.resolve(store.create(`new-${turns}`, '1')));
      turns++;
    }
    await scheduler.settle();
    await Promise.all(writes);
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(log.messages('info')).toContain('snapshot written');
    const [name] = snapFiles(disk);
    expect(name).toMatch(/^snapshot-\d{16}\.snap$/);
    await persistence.close();
    const again = await openDurable(disk, scheduler, { fsync: 'no', clock });
    const keys = [...model.entries.keys(), ...Array.from({ length: 1200 }, (_, i) => `k${i}`)];
    expect(entriesOf(again.store, keys)).toEqual(model.entries);
    expect(again.store.size).toBe(model.entries.size);
    expect(again.store.revision).toBe(store.revision);
    expect(recovery(again.log)).toMatchObject({
      snapshotEntries: expect.any(Number),
    });
  });

  it('a clean stop writes one (snapshotOnClose) when commits were logged since the last: the next start loads it and replays no log', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const first = await openDurable(disk, scheduler, { fsync: 'no', snapshotOnClose: true });
    const model = new EntryModel(first.store);
    const keys = Array.from({ length: 2500 }, (_, i) => `k${i}`);
    for (const [i, key] of keys.entries())
      await logged(first.store.create(key, String(i), i % 3 === 0 ? { ttlMs: 3_600_000 } : {}), scheduler);
    await logged(first.store.delete('k7'), scheduler);
    await logged(first.store.replace('k8', '"eight"'), scheduler);
    const closing = first.persistence.close();
    await scheduler.settle();
    await closing;
    expect(first.log.messages('info')).toContain('snapshot written at the stop: the next start loads it instead of replaying the log');
    const snapshot = `snapshot-${String(2502).padStart(16, '0')}.snap`;
    expect(snapFiles(disk)).toEqual([snapshot]);
    // The log it covers is gone; the segment begun for later commits is all that is left.
    expect(walFiles(disk)).toEqual([`wal-${String(2503).padStart(16, '0')}.log`]);

    const again = await openDurable(disk, scheduler, { fsync: 'no', snapshotOnClose: true, clock: first.clock });
    expect(entriesOf(again.store, keys)).toEqual(model.entries);
    expect(again.store.size).toBe(2499);
    expect(again.store.revision).toBe(2502);
    expect(recovery(again.log)).toMatchObject({
      snapshotEntries: 2499,
      logCommits: 0,
    });
    // Nothing logged since: the stop writes no snapshot.
    const closingAgain = again.persistence.close();
    await scheduler.settle();
    await closingAgain;
    expect(again.log.messages('info').filter((m) => m.startsWith('snapshot written'))).toEqual([]);
    expect(snapFiles(disk)).toEqual([snapshot]);

    // Without the option, a stop leaves the log to be replayed.
    const third = await openDurable(disk, scheduler, { fsync: 'no', clock: first.clock });
    await logged(third.store.create('late', '1'), scheduler);
    await third.persistence.close();
    expect(snapFiles(disk)).toEqual([snapshot]);
    const fourth = await openDurable(disk, scheduler, { fsync: 'no', clock: first.clock });
    expect(fourth.store.get('late')?.value).toBe('1');
    expect(recovery(fourth.log)).toMatchObject({
      snapshotEntries: 2499,
      logCommits: 1,
    });
  });

  it('the snapshot at a stop gives up at the deadline it is given: no file left, the log whole and replayed at the next start', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, log, clock } = await openDurable(disk, scheduler, { fsync: 'no', snapshotOnClose: true });
    for (let i = 0; i < 3000; i++) await logged(store.create(`k${i}`, '1'), scheduler);
    const closing = persistence.close({ snapshotBy: scheduler.now() - 1 });
    await scheduler.settle();
    await closing;
    expect(log.messages('warn')).toContain(
      'the snapshot at the stop failed or ran out of time; the log still holds every commit, and the next start replays it',
    );
    expect(disk.list(DIR).filter((n) => n.includes('snapshot'))).toEqual([]);
    const again = await openDurable(disk, scheduler, { fsync: 'no', clock });
    expect(again.store.size).toBe(3000);
    expect(recovery(again.log)).toMatchObject({
      snapshotEntries: 0,
      logCommits: 3000,
    });
  });

  it('a snapshot that holds a key twice is damage: start-up stops naming file and offset', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, {
      fsync: 'no',
      // A view that gives its entry twice: no engine writes one, so the file is made this way.
      snapshots: (s) => {
        const entry = s.get('k') as Entry;
        return { revision: s.revision, entries: () => [entry, entry], release: () => {} };
      },
    });
    await logged(store.create('k', '1'), scheduler);
    const taking = persistence.snapshot();
    await scheduler.settle();
    const name = (await taking)?.name as string;
    await persistence.close();
    const offset = recordOffsets(disk.bytes(`${DIR}/${name}`))[1] as number;
    await expect(openDurable(disk, scheduler, { fsync: 'no' })).rejects.toThrow(
      `${DIR}/${name}: a key loaded twice from one snapshot at offset ${offset}; kv_store stopped rather than guess`,
    );
  });

  it('a RECORDS snapshot with a key twice in its second slice: strict stops naming file and offset; truncate keeps exactly the records before it, charged as they are', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, clock } = await openDurable(disk, scheduler, {
      fsync: 'no',
      // The engine's own records, with the first one given again as the 1,501st: no engine writes
      // one, so the file is made this way.
      snapshots: (s) => {
        const view = s.snapshot();
        return {
          revision: view.revision,
          entries: () => view.entries(),
          *records() {
            let first: RecordImage | undefined;
            let n = 0;
            for (const image of view.records()) {
              if (n === 0)
                first = {
                  bytes: Buffer.from(image.bytes.subarray(image.start, image.start + image.length)),
                  start: 0,
                  length: image.length,
                };
              if (n === 1500 && first !== undefined) yield first;
              yield image;
              n++;
            }
          },
          release: view.release,
        };
      },
    });
    for (let i = 0; i < 2500; i++)
      await logged(store.create(`k${i}`, JSON.stringify('v'.repeat(i % 300)), i % 3 === 0 ? { ttlMs: 86_400_000 } : {}), scheduler);
    const inOrder = [...store.snapshot().entries()];
    const taking = persistence.snapshot();
    await scheduler.settle();
    const name = (await taking)?.name as string;
    await persistence.close();
    const path = `${DIR}/${name}`;
    const bytes = disk.bytes(path);
    const records = recordOffsets(bytes);
    // Header, three slices, END; the slices are RECORDS.
    expect(records).toHaveLength(5);
    expect(bytes[(records[1] as number) + 8]).toBe(Kind.Records);
    await expect(openDurable(disk, scheduler, { fsync: 'no' })).rejects.toThrow(
      `${path}: a key loaded twice from one snapshot at offset ${records[2]}; kv_store stopped rather than guess`,
    );
    const again = await openDurable(disk, scheduler, { fsync: 'no', recovery: 'truncate', clock });
    const kept = inOrder.slice(0, 1500);
    expect(again.store.size).toBe(1500);
    for (const entry of kept) expect(again.store.get(entry.key)).toEqual(entry);
    for (const entry of inOrder.slice(1500)) expect(again.store.get(entry.key)).toBeUndefined();
    const charged = kept.reduce(
      (sum, e) => sum + entryBytes(Buffer.byteLength(e.key), Buffer.byteLength(e.value), e.expiresAt !== NEVER),
      0,
    );
    expect(again.store.stats().bytes).toBe(charged);
  });

  it('a snapshot cut short by close leaves no file behind and the log whole', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence } = await openDurable(disk, scheduler, {
      fsync: 'no',
      snapshots: (s) => (model as EntryModel).snapshots()(s),
    });
    model = new EntryModel(store);
    for (let i = 0; i < 3000; i++) await logged(store.create(`k${i}`, '1'), scheduler);
    const taking = persistence.snapshot();
    await scheduler.step();
    const closing = persistence.close();
    await scheduler.settle();
    await closing;
    expect(await taking).toBeUndefined();
    expect(disk.list(DIR).filter((n) => n.includes('snapshot'))).toEqual([]);
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.size).toBe(3000);
  });

  it('damage in a snapshot stops start-up naming file and offset; KV_RECOVERY=truncate keeps the entries before it and the log after', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence, clock } = await openDurable(disk, scheduler, {
      fsync: 'no',
      snapshots: (s) => (model as EntryModel).snapshots()(s),
    });
    model = new EntryModel(store);
    for (let i = 0; i < 2500; i++) await logged(store.create(`k${i}`, String(i)), scheduler);
    const taking = persistence.snapshot();
    await scheduler.settle();
    const name = (await taking)?.name as string;
    await logged(store.replace('k2400', '"changed after"'), scheduler);
    await logged(store.create('new', '"new"'), scheduler);
    await persistence.close();
    const path = `${DIR}/${name}`;
    const bytes = disk.bytes(path);
    const slices = recordOffsets(bytes);
    // Records: header, three slices of entries, END. Damage the third slice.
    expect(slices).toHaveLength(5);
    const offset = slices[3] as number;
    bytes[offset + 100] = (bytes[offset + 100] as number) ^ 0x10;
    disk.setBytes(path, bytes);
    await expect(openDurable(disk, scheduler, { fsync: 'no' })).rejects.toThrow(
      `${path}: checksum mismatch at offset ${offset}; kv_store stopped rather than guess. To start with the entries before it and the log after the snapshot (losing the rest of the snapshot), set KV_RECOVERY=truncate`,
    );
    const again = await openDurable(disk, scheduler, { fsync: 'no', recovery: 'truncate', clock });
    // Every key present holds its right value; the slice lost is missing, unless the log wrote it again.
    expect(again.store.revision).toBe(2502);
    expect(again.store.size).toBe(2000 + 2);
    for (let i = 0; i < 2000; i++) expect(again.store.get(`k${i}`)).toEqual(model.entries.get(`k${i}`));
    for (let i = 2000; i < 2500; i++) if (i !== 2400) expect(again.store.get(`k${i}`)).toBeUndefined();
    expect(again.store.get('k2400')).toEqual(model.entries.get('k2400'));
    expect(again.store.get('new')).toEqual(model.entries.get('new'));
  });

  it('writeSnapshot: each slice is one record, and the view is read once, in the order it gives', async () => {
    const disk = new SimDisk();
    disk.mkdirp();
    const scheduler = new ManualScheduler();
    const entries = Array.from({ length: 25 }, (_, i) => ({
      key: `e${i}`,
      value: `[${i}]`,
      version: 1,
      revision: i + 1,
      createdAt: 1,
      updatedAt: 2,
      expiresAt: i % 2 === 0 ? NEVER : 1000,
    }));
    let iterations = 0;
    const view = {
      revision: 30,
      *entries() {
        iterations++;
        yield* entries;
      },
      release() {},
    };
    const writing = writeSnapshot(view, { files: disk, dir: DIR, storeId: 'id', scheduler, sliceEntries: 10 });
    let turns = 0;
    while ((await scheduler.step()) > 0) turns++;
    expect(await writing).toEqual({ name: 'snapshot-0000000000000030.snap', revision: 30, entries: 25, bytes: expect.any(Number) });
    expect(turns).toBe(2);
    expect(iterations).toBe(1);
    // magic + header + 3 slices + END
    expect(recordOffsets(disk.bytes(`${DIR}/snapshot-0000000000000030.snap`))).toHaveLength(5);
  });
});
