import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { RESUME_FREE_BYTES } from '../../src/store/durable/write-ahead-log.js';
import type { Entry, MaybePromise } from '../../src/store/store.js';
import { StoreError } from '../../src/store/store-error.js';
import type { AnswerStream } from '../../src/api/door.js';
import { callApi, readStream } from '../support/call-api.js';
import { DIR, EntryModel, logged, openDurable } from '../support/durable.js';
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
    // Applied at once (the record kept for the turn's write) but not answered: no fsync has started.
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
  it('the records of one turn go to the OS in one write, and each answer waits for it (no fsync)', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store } = await openDurable(disk, scheduler, { fsync: 'no', zeroAhead: false });
    const segment = `${DIR}/wal-0000000000000001.log`;
    const sizeBefore = disk.bytes(segment).length;
    const writesBefore = disk.writes;
    const syncsBefore = disk.datasyncs;
    const writes = [asPromise(store.create('a', '1')), asPromise(store.create('b', '2')), asPromise(store.replace('a', '3'))];
    // Applied at once, not yet written, not answered.
    expect(store.revision).toBe(3);
    expect(store.get('a')).toMatchObject({ value: '3', version: 2 });
    expect(disk.writes - writesBefore).toBe(0);
    expect(disk.bytes(segment).length).toBe(sizeBefore);
    expect(await settled(writes[0] as Promise<unknown>)).toBe(false);
    expect(await scheduler.step()).toBe(1);
    expect(disk.writes - writesBefore).toBe(1);
    expect(disk.bytes(segment).length).toBeGreaterThan(sizeBefore);
    expect(await Promise.all(writes)).toMatchObject([
      { key: 'a', revision: 1 },
      { key: 'b', revision: 2 },
      { key: 'a', revision: 3, version: 2 },
    ]);
    // The next turn's records are the next write.
    const next = asPromise(store.delete('b'));
    await scheduler.settle();
    expect(await next).toBe(4);
    expect(disk.writes - writesBefore).toBe(2);
    expect(disk.datasyncs - syncsBefore).toBe(0);
  });

  it('everysec: one fsync a second covers what was written, none when nothing was', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store } = await openDurable(disk, scheduler, { fsync: 'everysec' });
    const before = disk.datasyncs;
    const first = asPromise(store.create('a', '1'));
    const second = asPromise(store.create('b', '1'));
    await scheduler.settle();
    expect(await first).toMatchObject({ key: 'a', revision: 1 });
    expect(await second).toMatchObject({ key: 'b', revision: 2 });
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
    for (let i = 0; i < 50; i++) expect(await logged(store.create(`k${i}`, String(i)), scheduler)).toMatchObject({ revision: i + 1 });
    await scheduler.advance(10_000);
    expect(disk.datasyncs - before).toBe(0);
    await persistence.close();
    expect(disk.datasyncs - before).toBe(1);
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.revision).toBe(50);
  });

  it('close writes the records of the last turn before it makes the log durable', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'no' });
    const last = asPromise(store.create('last', '1'));
    await persistence.close();
    expect(await last).toMatchObject({ key: 'last', revision: 1 });
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.get('last')).toMatchObject({ value: '1', revision: 1 });
  });
});

describe('segments', () => {
  it('a full segment is finished (fsynced, closed) and the log goes on in the next; a restart reads them all in order', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    const value = JSON.stringify('x'.repeat(500));
    // One turn a write: a segment is finished after the turn's write that fills it.
    for (let i = 0; i < 40; i++) await logged(store.create(`key-${i}`, value), scheduler);
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

  it('a snapshot begun in a turn whose records fill the segment starts after the segment that write began', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence, log } = await openDurable(disk, scheduler, {
      fsync: 'no',
      segmentBytes: 4096,
      snapshots: (s) => (model as EntryModel).snapshots()(s),
    });
    model = new EntryModel(store);
    const value = JSON.stringify('x'.repeat(500));
    // About 5 KB kept in one turn: written when the snapshot begins, it fills the first segment.
    const writes = Array.from({ length: 10 }, (_, i) => Promise.resolve(store.create(`key-${i}`, value)));
    const taking = persistence.snapshot();
    await scheduler.settle();
    expect(await taking).toMatchObject({ revision: 10, entries: 10 });
    expect(await Promise.all(writes)).toMatchObject(Array.from({ length: 10 }, (_, i) => ({ revision: i + 1 })));
    expect(log.messages('warn')).toEqual([]);
    expect(disk.list(DIR).filter((n) => n.startsWith('wal-'))).toEqual(['wal-0000000000000011.log']);
    await persistence.close();
    const again = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    expect(again.store.revision).toBe(10);
    for (let i = 0; i < 10; i++) expect(again.store.get(`key-${i}`)).toMatchObject({ value, revision: i + 1 });
  });
});

describe('a full disk (ENOSPC injected in the file layer)', () => {
  it('holds the writes of the turn that did not fit (the partial write cut off, not answered), refuses later writes, and writes and answers them once there is room', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence, log, clock } = await openDurable(disk, scheduler, { fsync: 'always', zeroAhead: false });
    await answered(store.create('ttl', '"t"', { ttlMs: 1000 }), scheduler);
    await answered(store.create('a', '"a"'), scheduler);
    const segment = `${DIR}/wal-0000000000000001.log`;
    const sizeBefore = disk.bytes(segment).length;
    disk.capacity = sizeBefore + 37 + 60; // room for part of the next record only
    const big = asPromise(store.create('big', JSON.stringify('b'.repeat(200))));
    await scheduler.settle();
    expect(await settled(big)).toBe(false);
    expect(disk.bytes(segment).length).toBe(sizeBefore);
    // Applied when it was committed, as every commit is; held until it is written.
    expect(store.get('big')).toMatchObject({ revision: 3 });
    const reason = 'the disk holding the data directory is full (ENOSPC writing the log); writes resume when space is freed';
    expect(persistence.ready()).toEqual({ ok: false, reason: `read-only: ${reason}` });
    // The log line names the file; what clients and /readyz are told does not.
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', fields: { dir: DIR, file: segment, recoverable: true }, message: `the store is read-only: ${reason}` },
    ]);
    // Later writes are refused, nothing applied.
    expect(() => store.replace('a', '"b"')).toThrow(`the store is read-only: ${reason}`);
    expect(store.get('a')).toMatchObject({ value: '"a"', revision: 2 });
    // Reads go on; an expiry still happens (applied, its record queued until there is room).
    clock.advance(2000);
    expect(store.get('ttl')).toBeUndefined();
    expect(store.revision).toBe(4);
    // Room again: within a second the held write and then the expiry are written, and the held write is answered.
    disk.capacity = Number.POSITIVE_INFINITY;
    await scheduler.advance(1000);
    expect(persistence.ready()).toMatchObject({ ok: true });
    expect(log.messages('info')).toContain('the disk has room again: the store takes writes');
    expect(await big).toMatchObject({ key: 'big', revision: 3 });
    const next = await answered(store.replace('a', '"after"'), scheduler);
    expect(next).toMatchObject({ revision: 5, version: 2 });
    await persistence.close();
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'always', clock });
    expect(again.store.revision).toBe(5);
    expect(again.store.get('ttl')).toBeUndefined();
    expect(again.store.get('big')).toMatchObject({ revision: 3, version: 1 });
    expect(again.store.get('a')).toMatchObject<Partial<Entry>>({ value: '"after"', version: 2, revision: 5 });
  });

  it('waits for a margin of free space (RESUME_FREE_BYTES) before it takes writes again', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'everysec' });
    disk.capacity = disk.bytes(`${DIR}/wal-0000000000000001.log`).length + 37 + 10;
    const held = asPromise(store.create('a', JSON.stringify('a'.repeat(100))));
    await scheduler.settle();
    expect(() => store.create('b', '1')).toThrow(StoreError);
    disk.capacity += RESUME_FREE_BYTES - 1000;
    await scheduler.advance(3000);
    expect(persistence.ready().ok).toBe(false);
    expect(await settled(held)).toBe(false);
    disk.capacity += 1000;
    await scheduler.advance(1000);
    expect(persistence.ready().ok).toBe(true);
    expect(await held).toMatchObject({ key: 'a', revision: 1 });
    expect(await logged(store.create('b', '1'), scheduler)).toMatchObject({ revision: 2 });
  });

  it('a stop refuses the writes a full disk still holds (503 persistence_failed): the next start does not have them', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(await logged(store.create('kept', '1'), scheduler)).toMatchObject({ revision: 1 });
    disk.capacity = disk.bytes(`${DIR}/wal-0000000000000001.log`).length + 10;
    const held = asPromise(store.create('held', '2')).then(
      () => undefined,
      (err: unknown) => err,
    );
    await scheduler.settle();
    await persistence.close();
    expect(await held).toMatchObject({ reason: 'persistence_failed' });
    disk.capacity = Number.POSITIVE_INFINITY;
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'no' });
    expect(again.store.revision).toBe(1);
    expect(again.store.get('kept')).toMatchObject({ value: '1' });
    expect(again.store.get('held')).toBeUndefined();
  });
});

describe('a write that fails otherwise (EIO injected)', () => {
  it('refuses every write of its turn (503 persistence_failed), and the store stays read-only until restarted; the next start has none of them', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, persistence } = await openDurable(disk, scheduler, { fsync: 'everysec' });
    expect(await logged(store.create('kept', '1'), scheduler)).toMatchObject({ revision: 1 });
    disk.failWrite = 'EIO';
    const refusals = [asPromise(store.create('x', '1')), asPromise(store.replace('kept', '2'))].map((p) =>
      p.then(
        () => undefined,
        (err: unknown) => err,
      ),
    );
    await scheduler.settle();
    const reason = 'writing the log failed (EIO); restart kv_store once the disk is fixed';
    for (const refusal of refusals) {
      const err = await refusal;
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toBe(`the store is read-only: ${reason}`);
    }
    disk.failWrite = undefined;
    await scheduler.advance(5000);
    expect(persistence.ready()).toEqual({ ok: false, reason: `read-only: ${reason}` });
    expect(() => store.create('y', '1')).toThrow(`the store is read-only: ${reason}`);
    await persistence.close();
    disk.crash();
    const again = await openDurable(disk, scheduler, { fsync: 'everysec' });
    expect(again.store.revision).toBe(1);
    expect(again.store.get('kept')).toMatchObject({ value: '1', version: 1 });
    expect(again.store.get('x')).toBeUndefined();
  });
});

/** A durable store on a simulated disk with the API over it, and `call` for its requests (`accept`: the Accept header). */
async function durableApi(fsync: 'no' | 'always') {
  const disk = new SimDisk();
  const scheduler = new ManualScheduler();
  const { store, persistence } = await openDurable(disk, scheduler, { fsync, zeroAhead: false });
  const app = buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent' }), store });
  const call = (method: string, url: string, body?: unknown, accept = 'application/json') =>
    callApi(app.door, {
      method,
      url,
      headers: { 'content-type': 'application/json', accept },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
  return { disk, scheduler, persistence, app, call };
}

describe('reads in the turn of a write (through the API)', () => {
  it('are answered once the write of the turn was tried, with the revision they read at: no answer shows a change before it reached the OS', async () => {
    const { disk, scheduler, persistence, app, call } = await durableApi('no');
    expect((await logged(call('POST', '/v1/', { key: 'a', value: 1 }), scheduler)).statusCode).toBe(201);
    const writesBefore = disk.writes;
    // A read with nothing waiting is answered at once.
    expect(await settled(call('GET', '/v1/a'))).toBe(true);
    const write = call('PUT', '/v1/a', { value: 2 });
    const read = call('GET', '/v1/a');
    const listing = call('GET', '/v1/?prefix=a');
    expect(await settled(read)).toBe(false);
    expect(await settled(listing)).toBe(false);
    expect(disk.writes - writesBefore).toBe(0);
    await scheduler.step();
    expect(disk.writes - writesBefore).toBe(1);
    expect((await write).statusCode).toBe(200);
    const got = await read;
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ key: 'a', value: 2, version: 2, revision: 2 });
    expect(got.headers['kv-revision']).toBe('2');
    expect((await listing).json()).toMatchObject({ revision: 2, items: [{ key: 'a', version: 2 }] });
    await app.close();
    await persistence.close();
  });
});

describe('reads in the turn of a write under always (through the API)', () => {
  it('wait for the fsync that covers what they show; with nothing waiting, and while a full disk holds writes, they do not wait', async () => {
    const { disk, scheduler, persistence, app, call } = await durableApi('always');
    expect((await logged(call('POST', '/v1/', { key: 'a', value: 1 }), scheduler)).statusCode).toBe(201);
    disk.holdFsyncs = true;
    const write = call('PUT', '/v1/a', { value: 2 });
    await scheduler.settle();
    // Written, its fsync in flight: a read that shows it waits for the fsync, as the write does.
    expect(disk.fsyncsInFlight).toBe(1);
    const read = call('GET', '/v1/a');
    expect(await settled(read)).toBe(false);
    expect(await settled(write)).toBe(false);
    // A write of a later turn, while that fsync runs: the first write's answer still names its own revision.
    const later = call('POST', '/v1/', { key: 'c', value: 3 });
    await scheduler.settle();
    disk.releaseFsyncs();
    await scheduler.settle();
    const written = await write;
    expect(written.statusCode).toBe(200);
    expect(written.headers['kv-revision']).toBe('2');
    expect(await settled(later)).toBe(false);
    disk.releaseFsyncs();
    await scheduler.settle();
    expect((await later).headers['kv-revision']).toBe('3');
    expect((await read).json()).toMatchObject({ key: 'a', value: 2, version: 2 });
    // Nothing waiting: answered at once.
    expect(await settled(call('GET', '/v1/a'))).toBe(true);
    // A full disk holds a write: reads go on.
    disk.holdFsyncs = false;
    disk.capacity = disk.bytes(`${DIR}/wal-0000000000000001.log`).length + 10;
    const held = call('POST', '/v1/', { key: 'b', value: 'x'.repeat(100) });
    await scheduler.settle();
    expect(persistence.ready().ok).toBe(false);
    expect(await settled(held)).toBe(false);
    expect(await settled(call('GET', '/v1/a'))).toBe(true);
    disk.capacity = Number.POSITIVE_INFINITY;
    await scheduler.advance(1000);
    expect((await held).statusCode).toBe(201);
    await app.close();
    await persistence.close();
  });
});

describe('watchers of a durable store (through the API)', () => {
  it('are shown a change only once it is as durable as a write answer says: under always, after its fsync; a watch started meanwhile misses nothing', async () => {
    const { disk, scheduler, persistence, app, call } = await durableApi('always');
    expect((await logged(call('POST', '/v1/', { key: 'a', value: 1 }), scheduler)).statusCode).toBe(201);
    const live = readStream((await call('GET', '/v1/?watch=true&after=1', undefined, 'application/x-ndjson')).stream as AnswerStream);
    /** The revisions of the change messages a stream has written. */
    const revisions = (s: { text: () => string }) =>
      s
        .text()
        .split('\n')
        .filter((line) => line.includes('"changes"'))
        .map((line) => (JSON.parse(line) as { revision: number }).revision);
    /** Lets setImmediate work (the hub's flush) run, without running the log's scheduler. */
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    disk.holdFsyncs = true;
    const write = call('PUT', '/v1/a', { value: 2 });
    await scheduler.settle();
    // Written, its fsync in flight: not shown to the live watcher; a watch or long-poll that
    // starts now is held as a read is.
    expect(disk.fsyncsInFlight).toBe(1);
    const lateAnswer = call('GET', '/v1/?watch=true&after=1', undefined, 'application/x-ndjson');
    const poll = call('GET', '/v1/?watch=true&after=1&wait=30');
    await turns(5);
    expect(revisions(live)).toEqual([]);
    expect(await settled(lateAnswer)).toBe(false);
    expect(await settled(poll)).toBe(false);
    disk.releaseFsyncs();
    await scheduler.settle();
    expect((await write).statusCode).toBe(200);
    const late = readStream((await lateAnswer).stream as AnswerStream);
    await turns(5);
    expect(revisions(live)).toEqual([2]);
    expect(revisions(late)).toEqual([2]);
    expect((await poll).json()).toMatchObject({ revision: 2, changes: [{ key: 'a', revision: 2 }] });
    // Under always a change of a later turn is shown after its own fsync, not before.
    const next = call('PUT', '/v1/a', { value: 3 });
    await scheduler.settle();
    await turns(5);
    expect(revisions(live)).toEqual([2]);
    disk.releaseFsyncs();
    await scheduler.settle();
    await next;
    await turns(5);
    expect(revisions(live)).toEqual([2, 3]);
    expect(revisions(late)).toEqual([2, 3]);
    live.stop();
    late.stop();
    await app.close();
    await persistence.close();
  });
});
