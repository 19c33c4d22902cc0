import { describe, expect, it } from 'vitest';
import { RESUME_FREE_BYTES } from '../../src/store/durable/write-ahead-log.js';
import type { Entry, MaybePromise } from '../../src/store/store.js';
import { StoreError } from '../../src/store/store-error.js';
import { DIR, openDurable } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

/** Whether `p` has settled, after the promises ready to run have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

function asPromise<T>(result: MaybePromise<T>): Promise<T> {
  expect(result).toBeInstanceOf(Promise);
  return result as Promise<T>;
}

/** The answer of a write under always: the scheduler runs the group commit, then the promise settles. */
async function answered<T>(result: MaybePromise<T>, scheduler: ManualScheduler): Promise<T> {
  const promise = asPromise(result);
  await scheduler.settle();
  return promise;
}

describe('KV_FSYNC=always: group commit', () => {
  it('writes of one turn share one fsync, and each answer waits for it', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store } = await openDurable(disk, scheduler, { fsync: 'always' });
    const before = disk.datasyncs;
    disk.holdFsyncs = true;
    const writes = [asPromise(store.create('a', '1')), asPromise(store.create('b', '2')), asPromise(store.delete('a'))];
    // Applied at once (the record reached the OS first) but not answered: no fsync has started.
    expect(store.revision).toBe(3);
    expect(await settled(writes[0] as Promise<unknown>)).toBe(false);
    await scheduler.settle();
    expect(disk.fsyncsInFlight).toBe(1);
    expect(await settled(writes[2] as Promise<unknown>)).toBe(false);
    disk.releaseFsyncs();
    await scheduler.settle();
    expect(await Promise.all(writes)).toMatchObject([{ key: 'a', revision: 1 }, { key: 'b', revision: 2 }, 3]);
    expect(disk.datasyncs - before).toBe(1);
  });

  it('a write made while an fsync is in flight waits for the next one, which starts when that one ends', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store } = await openDurable(disk, scheduler, { fsync: 'always' });
    disk.holdFsyncs = true;
    const first = asPromise(store.create('a', '1'));
    await scheduler.settle();
    expect(disk.fsyncsInFlight).toBe(1);
    const second = asPromise(store.create('b', '2'));
    await scheduler.settle();
    // One fsync at a time: the second waits.
    expect(disk.fsyncsInFlight).toBe(1);
    disk.releaseFsyncs();
    await scheduler.settle();
    expect(await settled(first)).toBe(true);
    expect(await settled(second)).toBe(false);
    expect(disk.fsyncsInFlight).toBe(1);
    disk.releaseFsyncs();
    await scheduler.settle();
    expect(await second).toMatchObject({ key: 'b', revision: 2 });
  });

  it('a failed fsync refuses every write waiting for it (503 persistence_failed) and the store stays read-only', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'always' });
    await answered(store.create('kept', '0'), scheduler);
    disk.failFsync = 'EIO';
    // The API catches a write's answer at once; so does this test.
    const refused = asPromise(store.create('a', '1')).then(
      () => undefined,
      (err: unknown) => err,
    );
    await scheduler.settle();
    const err = await refused;
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ reason: 'persistence_failed' });
    expect((err as Error).message).toBe(
      'the store is read-only: fsync of the log failed (EIO); restart kv_store to recover from what is on disk',
    );
    disk.failFsync = undefined;
    expect(() => store.create('b', '2')).toThrow(/^the store is read-only: fsync of the log/);
    await scheduler.advance(5000);
    expect(() => store.replace('kept', '3')).toThrow(StoreError);
    expect(persistence.ready()).toEqual({
      ok: false,
      reason: 'read-only: fsync of the log failed (EIO); restart kv_store to recover from what is on disk',
    });
  });
});

describe('KV_FSYNC=everysec and no', () => {
  it('everysec: a write is answered at once; one fsync a second covers what was written, none when nothing was', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store } = await openDurable(disk, scheduler, { fsync: 'everysec' });
    const before = disk.datasyncs;
    expect(store.create('a', '1')).toMatchObject({ key: 'a', revision: 1 });
    expect(store.create('b', '1')).toMatchObject({ key: 'b', revision: 2 });
    await scheduler.settle();
    expect(disk.datasyncs - before).toBe(0);
    await scheduler.advance(1000);
    expect(disk.datasyncs - before).toBe(1);
    await scheduler.advance(3000);
    expect(disk.datasyncs - before).toBe(1);
  });

  it('no: never an fsync while writing; close makes the log durable', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'no' });
    const before = disk.datasyncs;
    for (let i = 0; i < 50; i++) expect(store.create(`k${i}`, String(i))).toMatchObject({ revision: i + 1 });
    await scheduler.advance(10_000);
    expect(disk.datasyncs - before).toBe(0);
    await persistence.close();
    expect(disk.datasyncs - before).toBe(1);
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.revision).toBe(50);
  });
});

describe('segments', () => {
  it('a full segment is finished (fsynced, closed) and the log goes on in the next; a restart reads them all in order', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    const value = JSON.stringify('x'.repeat(500));
    for (let i = 0; i < 40; i++) store.create(`key-${i}`, value);
    await scheduler.settle();
    const segments = disk.list(DIR).filter((n) => n.startsWith('wal-'));
    expect(segments.length).toBeGreaterThanOrEqual(4);
    expect(segments[0]).toBe('wal-0000000000000001.log');
    expect(persistence.stats()?.segments).toBe(segments.length);
    // Under no, finished segments are durable all the same: a crash loses at most the current one's records.
    const current = Number(/wal-(\d+)/.exec(segments.at(-1) as string)?.[1]);
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    expect(again.store.revision).toBeGreaterThanOrEqual(current - 1);
    for (let i = 0; i < again.store.revision; i++) expect(again.store.get(`key-${i}`)).toMatchObject({ value, revision: i + 1 });
    expect(again.store.size).toBe(again.store.revision);
  });
});

describe('a full disk (ENOSPC injected in the file layer)', () => {
  it('refuses the write that did not fit (nothing applied, the partial record cut off), turns read-only, and takes writes again once there is room', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, log, clock } = await openDurable(disk, scheduler, { fsync: 'always' });
    await answered(store.create('ttl', '"t"', { ttlMs: 1000 }), scheduler);
    await answered(store.create('a', '"a"'), scheduler);
    const segment = `${DIR}/wal-0000000000000001.log`;
    const sizeBefore = disk.bytes(segment).length;
    disk.capacity = sizeBefore + 37 + 60; // room for part of the next record only
    expect(() => store.create('big', JSON.stringify('b'.repeat(200)))).toThrow(
      'the store is read-only: the disk holding the data directory is full (ENOSPC writing the log); writes resume when space is freed',
    );
    expect(store.get('big')).toBeUndefined();
    expect(store.revision).toBe(2);
    expect(disk.bytes(segment).length).toBe(sizeBefore);
    expect(persistence.ready()).toEqual({
      ok: false,
      reason: 'read-only: the disk holding the data directory is full (ENOSPC writing the log); writes resume when space is freed',
    });
    // The log line names the file; what clients and /readyz are told does not.
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        fields: { dir: DIR, file: segment, recoverable: true },
        message:
          'the store is read-only: the disk holding the data directory is full (ENOSPC writing the log); writes resume when space is freed',
      },
    ]);
    // Reads go on; an expiry still happens (applied, its record queued until there is room).
    clock.advance(2000);
    expect(store.get('ttl')).toBeUndefined();
    expect(store.get('a')).toMatchObject({ value: '"a"', revision: 2 });
    expect(store.revision).toBe(3);
    expect(() => store.replace('a', '"b"')).toThrow(/read-only: the disk holding/);
    // Room again: within a second the queued expiry is written and writes are taken.
    disk.capacity = Number.POSITIVE_INFINITY;
    await scheduler.advance(1000);
    expect(persistence.ready()).toMatchObject({ ok: true });
    expect(log.messages('info')).toContain('the disk has room again: the store takes writes');
    const next = await answered(store.replace('a', '"after"'), scheduler);
    expect(next).toMatchObject({ revision: 4, version: 2 });
    await persistence.close();
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'always', clock });
    expect(again.store.revision).toBe(4);
    expect(again.store.get('ttl')).toBeUndefined();
    expect(again.store.get('big')).toBeUndefined();
    expect(again.store.get('a')).toMatchObject<Partial<Entry>>({ value: '"after"', version: 2, revision: 4 });
  });

  it('waits for a margin of free space (RESUME_FREE_BYTES) before it takes writes again', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'everysec' });
    disk.capacity = disk.bytes(`${DIR}/wal-0000000000000001.log`).length + 37 + 10;
    expect(() => store.create('a', JSON.stringify('a'.repeat(100)))).toThrow(StoreError);
    disk.capacity += RESUME_FREE_BYTES - 1000;
    await scheduler.advance(3000);
    expect(persistence.ready().ok).toBe(false);
    disk.capacity += 1000;
    await scheduler.advance(1000);
    expect(persistence.ready().ok).toBe(true);
    expect(store.create('a', '1')).toMatchObject({ revision: 1 });
  });
});
