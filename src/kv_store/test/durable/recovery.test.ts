import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirError, lockDataDir } from '../../src/store/durable/data-dir.js';
import { type ChangeBatch, type ListPage, type ListQuery, NEVER } from '../../src/store/store.js';
import { StoreError } from '../../src/store/store-error.js';
import { assertFreshBuild } from '../reliability/support/kv-process.js';
import { DIR, EntryModel, entriesOf, logged, openDurable, recordOffsets } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

const SEGMENT = `${DIR}/wal-0000000000000001.log`;

/** A store on `disk` with a few writes of every kind, closed cleanly; returns the model of what it holds. */
async function populated(disk: SimDisk, scheduler: ManualScheduler) {
  const opened = await openDurable(disk, scheduler, { fsync: 'no' });
  const { store, clock } = opened;
  const model = new EntryModel(store);
  await logged(store.create('plain', '{"a":[1,2,{"b":null}]}'), scheduler);
  await logged(store.create('ttl', '"expires later"', { ttlMs: 3_600_000 }), scheduler);
  clock.advance(5);
  await logged(store.create('gone', '1'), scheduler);
  await logged(store.replace('plain', '"  spaced  \\u00e9 "'), scheduler);
  await logged(store.delete('gone'), scheduler);
  await logged(store.create('unicode-ключ-🔑', '3.14'), scheduler);
  clock.advance(5);
  await logged(store.replace('ttl', '"still expires"', { ttlMs: 7_200_000 }), scheduler);
  await opened.persistence.close();
  return { model, id: store.id, revision: store.revision, clock };
}

describe('recovery at start-up', () => {
  it('rebuilds exactly what was written: values, versions, revisions, times, TTLs as absolute times, the store id', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { model, id, revision, clock } = await populated(disk, scheduler);
    const again = await openDurable(disk, scheduler, { clock, fsync: 'no' });
    expect(again.store.id).toBe(id);
    expect(again.store.revision).toBe(revision);
    expect(entriesOf(again.store, [...model.entries.keys(), 'gone'])).toEqual(model.entries);
    expect(again.store.size).toBe(model.entries.size);
    expect(again.store.get('ttl')?.expiresAt).toBe(clock.now() + 7_200_000);
    expect(again.store.get('plain')?.expiresAt).toBe(NEVER);
    // Revisions continue where they were.
    expect((await logged(again.store.create('next', '1'), scheduler)).revision).toBe(revision + 1);
    expect(again.log.messages('info')).toContain('recovered the store from the data directory');
  });

  it('an entry whose time passed while kv_store was down is expired at start as a committed, logged expiry', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { revision, clock } = await populated(disk, scheduler);
    clock.advance(7_200_001);
    const again = await openDurable(disk, scheduler, { clock, fsync: 'no' });
    const expired: unknown[] = [];
    again.store.subscribe((batch) => expired.push(...batch.changes));
    expect(again.store.get('ttl')).toBeUndefined();
    expect(expired).toMatchObject([{ type: 'delete', key: 'ttl', revision: revision + 1, reason: 'expired' }]);
    await again.persistence.close();
    const third = await openDurable(disk, scheduler, { clock });
    expect(third.store.revision).toBe(revision + 1);
    expect(third.store.get('plain')).toBeDefined();
  });

  it('a torn last record (a crash mid-write) is cut off with a warning, and the log goes on after the cut', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { model, revision, clock } = await populated(disk, scheduler);
    const whole = disk.bytes(SEGMENT);
    disk.setBytes(SEGMENT, whole.subarray(0, whole.length - 5));
    const again = await openDurable(disk, scheduler, { clock, fsync: 'always' });
    expect(again.store.revision).toBe(revision - 1);
    expect(again.store.get('ttl')).toMatchObject({ value: '"expires later"', version: 1 });
    expect(again.log.lines.find((l) => l.level === 'warn')).toMatchObject({
      message: 'cut off a torn record at the end of the log',
      fields: { file: SEGMENT, problem: expect.stringMatching(/runs past the end of the file/) },
    });
    const replaced = again.store.replace('ttl', '"again"');
    await scheduler.settle();
    await expect(replaced).resolves.toMatchObject({ revision, version: 2 });
    await again.persistence.close();
    const third = await openDurable(disk, scheduler, { clock });
    expect(third.log.messages('warn')).toEqual([]);
    expect(third.store.get('ttl')).toMatchObject({ value: '"again"', revision });
    expect(third.store.get('plain')).toEqual(model.entries.get('plain'));
  });

  it('damage inside the log stops start-up with a message naming the file and offset', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { revision } = await populated(disk, scheduler);
    const bytes = disk.bytes(SEGMENT);
    // The third record's payload: records after it are intact, so this is no torn tail.
    const offset = recordOffsets(bytes)[3] as number;
    bytes[offset + 12] = (bytes[offset + 12] as number) ^ 0x40;
    disk.setBytes(SEGMENT, bytes);
    const failure = await openDurable(disk, scheduler).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(DataDirError);
    expect((failure as Error).message).toBe(
      `${SEGMENT}: checksum mismatch at offset ${offset}; kv_store stopped rather than guess. To start from the valid part before it (losing what follows), set KV_RECOVERY=truncate`,
    );
    expect(disk.bytes(SEGMENT)).toEqual(bytes);
    expect(revision).toBeGreaterThan(3);
  });

  it('KV_RECOVERY=truncate keeps the valid prefix, saves the bytes cut beside the file and renames later segments .dropped', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const opened = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    const value = JSON.stringify('v'.repeat(900));
    for (let i = 0; i < 12; i++) await logged(opened.store.create(`k${i}`, value), scheduler);
    await opened.persistence.close();
    const segments = disk.list(DIR).filter((n) => n.startsWith('wal-'));
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const first = `${DIR}/${segments[0]}`;
    const bytes = disk.bytes(first);
    const offset = recordOffsets(bytes)[2] as number;
    bytes[offset + 20] = (bytes[offset + 20] as number) ^ 1;
    disk.setBytes(first, bytes);
    const again = await openDurable(disk, scheduler, { recovery: 'truncate', fsync: 'no' });
    // Record 0 is the segment's header, 1 is revision 1, 2 (damaged) revision 2.
    expect(again.store.revision).toBe(1);
    expect(again.store.get('k0')).toMatchObject({ revision: 1 });
    expect(again.store.get('k1')).toBeUndefined();
    expect(disk.bytes(`${first}.damaged-${offset}`)).toEqual(bytes.subarray(offset));
    expect(disk.list(DIR).filter((n) => n.endsWith('.dropped'))).toEqual(segments.slice(1).map((n) => `${n}.dropped`));
    expect(again.log.messages('warn')).toEqual(['the log is damaged: kept the valid part before the damage (KV_RECOVERY=truncate)']);
    expect(await logged(again.store.create('after', '1'), scheduler)).toMatchObject({ revision: 2 });
  });

  it('a segment gone missing (a gap in the revisions) stops start-up', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const opened = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes: 4096 });
    for (let i = 0; i < 12; i++) await logged(opened.store.create(`k${i}`, JSON.stringify('v'.repeat(900))), scheduler);
    await opened.persistence.close();
    const segments = disk.list(DIR).filter((n) => n.startsWith('wal-'));
    disk.unlink(`${DIR}/${segments[1]}`);
    await expect(openDurable(disk, scheduler)).rejects.toThrow(
      new RegExp(`^${DIR}/${segments[2]}: the segment starts at revision \\d+, but the one before ends at \\d+ at offset 8;`),
    );
  });

  it('refuses a directory whose store id is missing, and a segment from another store', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    await populated(disk, scheduler);
    const id = disk.bytes(`${DIR}/store-id`);
    disk.unlink(`${DIR}/store-id`);
    await expect(openDurable(disk, scheduler)).rejects.toThrow(
      '/data/store-id is missing but the directory holds log or snapshot files; restore it from a backup of this directory',
    );
    const other = disk.create(`${DIR}/store-id`);
    disk.write(other, Buffer.from('another-store\n'), 0, 14, 0);
    disk.close(other);
    await expect(openDurable(disk, scheduler)).rejects.toThrow(
      `${SEGMENT}: the segment belongs to store ${id.toString().trim()}, not another-store at offset 8`,
    );
  });

  it('a new directory starts a new history: a new store id, written durably before any log', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const { store, log } = await openDurable(disk, scheduler);
    expect(disk.bytes(`${DIR}/store-id`).toString()).toBe(`${store.id}\n`);
    expect(log.messages('info')).toEqual(['started a new store in the data directory']);
    disk.crash();
    expect(disk.list(DIR).sort()).toEqual(['store-id', 'wal-0000000000000001.log']);
  });
});

describe('the data directory lock (real files, real processes)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-lock-'));
    dirs.push(dir);
    return dir;
  };

  it('a second open of a locked directory is refused, naming the holder; after release it opens', async () => {
    await assertFreshBuild();
    const dir = tempDir();
    const release = lockDataDir(dir, () => {});
    const lock = JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(process.pid);
    // This process holds it, so a second taker sees a running holder only if it is another process.
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import('${pathToModule()}').then((m) => { try { m.lockDataDir(${JSON.stringify(dir)}, () => {}); console.log('taken'); } catch (e) { console.log(e.message); } })`,
      ],
      { encoding: 'utf8' },
    );
    expect(child.stdout.trim()).toBe(
      `the data directory ${dir} is in use by another kv_store (pid ${process.pid}, since ${(lock as unknown as { since: string }).since}); stop it first: two processes on one data directory would corrupt it`,
    );
    release();
    expect(readdirSync(dir)).toEqual([]);
    const again = lockDataDir(dir, () => {});
    again();
  });

  it('a LOCK left by a process that is gone is taken over with a warning', () => {
    const dir = tempDir();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number;
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: gone, host: hostname(), since: '2026-01-01T00:00:00.000Z' }));
    const warnings: string[] = [];
    const release = lockDataDir(dir, (m) => warnings.push(m));
    expect(warnings).toEqual([
      `taking over ${join(dir, 'LOCK')} from pid ${gone} (since 2026-01-01T00:00:00.000Z), which is no longer running`,
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    release();
  });

  it('a LOCK from another host is never taken over: the message says how to clear it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 1, host: 'elsewhere', since: 'then' }));
    expect(() => lockDataDir(dir, () => {})).toThrow(
      `the data directory ${dir} is locked by a kv_store on host 'elsewhere' (pid 1, since then); if that process is no longer running, remove ${join(dir, 'LOCK')}`,
    );
  });
});

/** The built data-dir module, for a child process to import. */
function pathToModule(): string {
  return new URL('../../dist/store/durable/data-dir.js', import.meta.url).href;
}

describe('recovery: a log longer than the change history', () => {
  const keyArb = fc.constantFrom('a', 'b', 'c', 'ключ', '🔑');
  const valueArb = fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v));
  const ttlArb = fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: undefined });
  type Op =
    | { readonly kind: 'create' | 'replace'; readonly key: string; readonly value: string; readonly ttlMs: number | undefined }
    | { readonly kind: 'delete'; readonly key: string }
    | { readonly kind: 'txn'; readonly sets: readonly (readonly [string, string])[]; readonly drop: string }
    | { readonly kind: 'tick'; readonly ms: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('create' as const, 'replace' as const), key: keyArb, value: valueArb, ttlMs: ttlArb }),
    fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
    fc.record({ kind: fc.constant('txn' as const), sets: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 3 }), drop: keyArb }),
    fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 3_000 }) }),
  );

  it('rebuilds the store exactly (values, order, memory charge), and the history holds the newest commits with their previous values (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 6 }),
        fc.constantFrom(256, 64 * 1_048_576),
        async (ops, depth, segmentBytes) => {
          const disk = new SimDisk();
          const scheduler = new ManualScheduler();
          const first = await openDurable(disk, scheduler, { fsync: 'no', segmentBytes, snapshotOnClose: false });
          const { store, clock } = first;
          const batches: ChangeBatch[] = [];
          store.subscribe((batch) => batches.push(structuredClone(batch)));
          for (const op of ops) {
            try {
              if (op.kind === 'create' || op.kind === 'replace') {
                const write = op.kind === 'create' ? store.create : store.replace;
                await logged(write.call(store, op.key, op.value, { ttlMs: op.ttlMs }), scheduler);
              } else if (op.kind === 'delete') await logged(store.delete(op.key), scheduler);
              else if (op.kind === 'txn') {
                const sets = op.sets.map(([key, value]) => ({ op: 'set' as const, key, value }));
                const drop = op.sets.some(([key]) => key === op.drop) ? [] : [{ op: 'delete' as const, key: op.drop }];
                await logged(store.txn({ checks: [], ops: [...sets, ...drop] }), scheduler);
              } else if (op.kind === 'tick') {
                clock.advance(op.ms);
                store.get('a'); // an expired key met on the way is expired: a commit of its own
              }
            } catch (err) {
              if (!(err instanceof StoreError)) throw err; // key_exists, key_not_found
            }
          }
          const keys = ['a', 'b', 'c', 'ключ', '🔑'];
          const before = entriesOf(store, keys);
          const revision = store.revision;
          const everything: ListQuery = { prefix: '', limit: 1000, reverse: false, values: true, count: false };
          const listed = (store.list(everything) as ListPage).items;
          const bytes = store.stats().bytes;
          await first.persistence.close();

          const again = await openDurable(disk, scheduler, { clock, fsync: 'no', segmentBytes, history: { maxRevisions: depth } });
          expect(again.store.revision).toBe(revision);
          expect(entriesOf(again.store, keys)).toEqual(before);
          expect(again.store.size).toBe(store.size);
          // Overwrites replayed by bytes (as older commits are) leave the ordered index and the memory charge as the writes did.
          expect((again.store.list(everything) as ListPage).items).toEqual(listed);
          expect(again.store.stats().bytes).toBe(bytes);
          // The newest `depth` commits are held, as committed (previous values included); older ones are compacted.
          const held = Math.min(depth, revision);
          expect(again.store.changesSince(revision - held, 1_000)).toEqual(batches.slice(batches.length - held));
          if (revision > held) {
            expect(again.store.changesSince(revision - held - 1, 1_000)).toEqual({ compacted: true, oldestRevision: revision - held + 1 });
          }
          // Every entry with a TTL is in the expiry queue: once their time has passed, a sweep finds each of them.
          const expiring = [...before.values()].filter((entry) => entry.expiresAt !== NEVER).length;
          clock.advance(6_000);
          expect(again.store.sweepExpired(1_000)).toBe(expiring);
          expect(again.store.size).toBe(before.size - expiring);
          await again.persistence.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
