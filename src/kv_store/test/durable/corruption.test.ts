import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirError } from '../../src/store/durable/data-dir.js';
import { nodeFiles } from '../../src/store/durable/file-layer.js';
import type { RecoveryMode } from '../../src/store/durable/options.js';
import type { MemoryStore } from '../../src/store/memory/memory-store.js';
import { FRAME_BYTES, Kind } from '../../src/store/durable/record-format.js';
import { entryBytes } from '../../src/store/memory/entry-cost.js';
import { type Entry, type MaybePromise, NEVER } from '../../src/store/store.js';
import { FakeClock } from '../helpers.js';
import { DIR, EntryModel, entriesOf, logged, type Opened, openDurable, recordOffsets } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

/**
 * Corruption and truncation of real log and snapshot files (fast-check): start-up either
 * recovers exactly the valid prefix (the state at the revision of the last intact commit before
 * the damage) or refuses with a message naming a file and an offset; it never comes back with a
 * value the store did not hold.
 */

const root = mkdtempSync(join(tmpdir(), 'kv-corruption-'));
const clock = new FakeClock();

/**
 * A data directory as written, kept to damage copies of: 200 writes, a snapshot after the 80th,
 * segments of 4 KiB. `engineSnapshots`: the snapshot is the engine's own (record images,
 * RECORDS), else the model's view of the entries (ENTRIES, as snapshots before RECORDS were).
 */
class Written {
  /** The state after each revision. */
  readonly history: Array<Map<string, Entry>> = [new Map()];
  readonly keys = new Set<string>();
  /** The files of the data directory as written, by name. */
  readonly pristine = new Map<string, Buffer>();
  finalRevision = 0;
  readonly built: string;
  readonly work: string;
  readonly refusal: RegExp;

  constructor(
    name: string,
    private readonly engineSnapshots: boolean,
  ) {
    this.built = join(root, `${name}-built`);
    this.work = join(root, `${name}-work`);
    this.refusal = new RegExp(`^${this.work}/(wal-\\d{16}\\.log|snapshot-\\d{16}\\.snap): .+ at offset \\d+; kv_store`);
  }

  async build(): Promise<void> {
    mkdirSync(this.built);
    const scheduler = new ManualScheduler();
    let model: EntryModel | undefined;
    const { store, persistence } = await openDurable(nodeFiles, scheduler, {
      dir: this.built,
      fsync: 'no',
      clock,
      segmentBytes: 4096,
      ...(this.engineSnapshots ? {} : { snapshots: (s: MemoryStore) => (model as EntryModel).snapshots()(s) }),
    });
    model = new EntryModel(store);
    store.subscribe((batch) => {
      this.history[batch.revision] = new Map((model as EntryModel).entries);
    });
    const write = async (i: number): Promise<void> => {
      const key = `key-${i % 23}`;
      this.keys.add(key);
      // Some values past 256 bytes: a record whose size class is larger than its image.
      const value = JSON.stringify({ i, text: 'é🔑'.repeat(i % 7), pad: 'p'.repeat((i * 37) % (i % 3 === 0 ? 400 : 90)) });
      const existing = store.get(key);
      if (existing === undefined) await logged(store.create(key, value, i % 4 === 0 ? { ttlMs: 86_400_000 } : {}), scheduler);
      else if (i % 5 === 0) await logged(store.delete(key), scheduler);
      else await logged(store.replace(key, value), scheduler);
    };
    for (let i = 0; i < 80; i++) await write(i);
    const taking = persistence.snapshot();
    await scheduler.settle();
    expect(await taking).toBeDefined();
    for (let i = 80; i < 200; i++) await write(i);
    await persistence.close();
    this.finalRevision = store.revision;
    for (const name of readdirSync(this.built)) this.pristine.set(name, readFileSync(join(this.built, name)));
    mkdirSync(this.work);
  }

  segments(): string[] {
    return [...this.pristine.keys()].filter((n) => n.startsWith('wal-')).sort();
  }

  snapshotName(): string {
    return [...this.pristine.keys()].find((n) => n.startsWith('snapshot-')) as string;
  }

  /** The kind of the snapshot's second record, the first after its header: ENTRIES or RECORDS. */
  snapshotSliceKind(): number {
    const bytes = this.pristine.get(this.snapshotName()) as Buffer;
    return bytes[(recordOffsets(bytes)[1] as number) + FRAME_BYTES] as number;
  }

  /** Puts the data directory back as written, with `name` replaced by `bytes`. */
  restore(name: string, bytes: Buffer): void {
    for (const existing of readdirSync(this.work)) unlinkSync(join(this.work, existing));
    for (const [n, data] of this.pristine) writeFileSync(join(this.work, n), n === name ? bytes : data);
  }

  /** The revision of the last commit whose record lies wholly before byte `at` of segment `name` (or of the segment before it). */
  validPrefixRevision(name: string, at: number): number {
    const bytes = this.pristine.get(name) as Buffer;
    const first = Number(/wal-(\d+)/.exec(name)?.[1]);
    let revision = first - 1;
    const offsets = recordOffsets(bytes);
    for (const [i, offset] of offsets.entries()) {
      const end = offsets[i + 1] ?? bytes.length;
      if (i === 0) continue; // the segment's header
      if (end > at) break;
      revision = bytes.readDoubleLE(offset + 9);
    }
    return revision;
  }

  async recoverWork(mode: RecoveryMode): Promise<Opened | Error> {
    return openDurable(nodeFiles, new ManualScheduler(), { dir: this.work, recovery: mode, fsync: 'no', clock, segmentBytes: 4096 }).catch(
      (err: unknown) => err as Error,
    );
  }
}

const modelSnapshots = new Written('entries', false);
const engineSnapshots = new Written('records', true);

beforeAll(async () => {
  await modelSnapshots.build();
  await engineSnapshots.build();
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

type Damage =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'append'; bytes: Uint8Array };

/** A position in a file, taken modulo its length: spread over the whole file, not only its ends. */
const position = fc.integer({ min: 0, max: 2 ** 31 - 1 });

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('flip' as const), at: position, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: position,
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.integer({ min: 1, max: 600 }).map((n) => new Uint8Array(n)),
    ),
  }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

/** `original` damaged; positions are taken modulo its length. */
function damaged(original: Buffer, d: Damage): Buffer {
  const at = d.kind === 'append' ? original.length : d.at % original.length;
  switch (d.kind) {
    case 'truncate':
      return original.subarray(0, at);
    case 'flip': {
      const copy = Buffer.from(original);
      copy[at] = (copy[at] as number) ^ d.xor;
      return copy;
    }
    case 'overwrite': {
      const copy = Buffer.from(original);
      Buffer.from(d.bytes).copy(copy, at, 0, Math.min(d.bytes.length, copy.length - at));
      return copy;
    }
    case 'append':
      return Buffer.concat([original, d.bytes]);
  }
}

/** The first byte where `a` and `b` differ (the shorter length if one is a prefix of the other); undefined if equal. */
function firstDifference(a: Buffer, b: Buffer): number | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? undefined : n;
}

describe('damaged and truncated files (real files, fast-check)', () => {
  it("the snapshots are of both kinds: the model's view writes ENTRIES, the engine's own RECORDS", () => {
    expect(modelSnapshots.snapshotSliceKind()).toBe(Kind.Entries);
    expect(engineSnapshots.snapshotSliceKind()).toBe(Kind.Records);
  });

  for (const written of [modelSnapshots, engineSnapshots]) {
    it(`the undamaged directory recovers every commit, over a snapshot (${kindName(written)}) and several segments`, async () => {
      expect(written.segments().length).toBeGreaterThanOrEqual(3);
      expect(written.snapshotName()).toBeDefined();
      written.restore('', Buffer.alloc(0));
      const opened = await written.recoverWork('strict');
      if (opened instanceof Error) throw opened;
      expect(opened.store.revision).toBe(written.finalRevision);
      expect(entriesOf(opened.store, written.keys)).toEqual(written.history[written.finalRevision]);
      await opened.persistence.close();
    });
  }

  for (const mode of ['strict', 'truncate'] as const) {
    const w = modelSnapshots;
    it(`a damaged log segment: KV_RECOVERY=${mode} ${mode === 'strict' ? 'recovers the valid prefix of a torn tail or refuses, naming file and offset' : 'recovers exactly the valid prefix'}`, async () => {
      let refused = 0;
      let recovered = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...w.segments()), damage, async (name, d) => {
          const original = w.pristine.get(name) as Buffer;
          const bytes = damaged(original, d);
          // Zeros after a segment's records are its end (the zeros the log writes ahead of them):
          // appending them damages nothing.
          const zerosAppended = d.kind === 'append' && d.bytes.every((b) => b === 0);
          const at = zerosAppended ? undefined : firstDifference(original, bytes);
          w.restore(name, bytes);
          const outcome = await w.recoverWork(mode);
          const isLast = name === w.segments().at(-1);
          if (outcome instanceof Error) {
            expect(outcome).toBeInstanceOf(DataDirError);
            expect(outcome.message).toMatch(w.refusal);
            // Only damage may be refused, and only without the operator's truncate.
            expect(mode).toBe('strict');
            expect(at).toBeDefined();
            refused++;
            return;
          }
          const expected = at === undefined ? w.finalRevision : w.validPrefixRevision(name, at);
          // Strict mode recovers a prefix only of the last segment (a torn tail).
          if (mode === 'strict' && at !== undefined) expect(isLast).toBe(true);
          expect(outcome.store.revision).toBe(expected);
          expect(entriesOf(outcome.store, w.keys)).toEqual(w.history[expected]);
          expect(outcome.store.size).toBe(w.history[expected]?.size);
          await outcome.persistence.close();
          recovered++;
        }),
        { numRuns: 250 },
      );
      if (mode === 'strict') expect(refused).toBeGreaterThan(0);
      expect(recovered).toBeGreaterThan(0);
    });
  }

  for (const w of [modelSnapshots, engineSnapshots]) {
    for (const mode of ['strict', 'truncate'] as const) {
      it(`a damaged snapshot (${kindName(w)}): KV_RECOVERY=${mode} ${mode === 'strict' ? 'refuses, naming file and offset' : 'keeps what is intact; every key present holds its right value'}`, async () => {
        let recovered = 0;
        await fc.assert(
          fc.asyncProperty(damage, async (d) => {
            const name = w.snapshotName();
            const original = w.pristine.get(name) as Buffer;
            const bytes = damaged(original, d);
            const at = firstDifference(original, bytes);
            w.restore(name, bytes);
            const outcome = await w.recoverWork(mode);
            if (outcome instanceof Error) {
              expect(outcome).toBeInstanceOf(DataDirError);
              expect(outcome.message).toMatch(w.refusal);
              expect(outcome.message).toContain(name);
              // truncate can cut a snapshot's entries, not make up for a broken header.
              if (mode === 'truncate') expect(at).toBeLessThan(recordOffsets(original)[1] as number);
              return;
            }
            expect(mode === 'truncate' || at === undefined).toBe(true);
            const final = w.history[w.finalRevision] as Map<string, Entry>;
            expect(outcome.store.revision).toBe(w.finalRevision);
            for (const [key, entry] of entriesOf(outcome.store, w.keys)) expect(entry).toEqual(final.get(key));
            expect(outcome.store.size).toBeLessThanOrEqual(final.size);
            await outcome.persistence.close();
            recovered++;
          }),
          { numRuns: 150 },
        );
        if (mode === 'truncate') expect(recovered).toBeGreaterThan(0);
      });
    }
  }
});

function kindName(w: Written): string {
  return w === engineSnapshots ? "RECORDS, the engine's" : "ENTRIES, a model's view";
}

describe('a RECORDS snapshot of many slices and several slabs, damaged (fast-check)', () => {
  it('strict refuses naming file and offset; truncate keeps exactly a prefix of its records in key order, charged as they are, and the store goes on', async () => {
    const disk = new SimDisk();
    const scheduler = new ManualScheduler();
    const built = await openDurable(disk, scheduler, { fsync: 'no' });
    // 15,000 keys, about 5 MiB of records over two 4 MiB slabs: most records under 256 bytes,
    // every 3rd past it (a record whose size class is larger than its image), two values of
    // 1.2 MiB (a slab of their own).
    const writes: Array<MaybePromise<Entry>> = [];
    for (let i = 0; i < 15_000; i++) {
      const pad = i === 100 || i === 10_000 ? 1_200_000 : i % 3 === 0 ? 300 + (i % 50) : 100 + (i % 100);
      writes.push(
        built.store.create(`key-${String(i).padStart(6, '0')}`, JSON.stringify('v'.repeat(pad)), i % 5 === 0 ? { ttlMs: 86_400_000 } : {}),
      );
    }
    await scheduler.settle();
    await Promise.all(writes);
    const expected = [...built.store.snapshot().entries()];
    const taking = built.persistence.snapshot();
    await scheduler.settle();
    const name = (await taking)?.name as string;
    await built.persistence.close();
    const path = `${DIR}/${name}`;
    const pristineBytes = disk.bytes(path);
    // The directory as written: each run starts from it (a run's own writes go to its log).
    const pristineDir = new Map(disk.list(DIR).map((n) => [n, disk.bytes(`${DIR}/${n}`)]));
    const records = recordOffsets(pristineBytes);
    // Its header, at least 15 slices (of at most 1,000 records or 1 MiB each), its END.
    expect(records.length).toBeGreaterThanOrEqual(17);
    expect(pristineBytes[(records[1] as number) + FRAME_BYTES]).toBe(Kind.Records);
    const charge = (entries: readonly Entry[]): number =>
      entries.reduce((sum, e) => sum + entryBytes(Buffer.byteLength(e.key), Buffer.byteLength(e.value), e.expiresAt !== NEVER), 0);
    const refusal = new RegExp(`^${DIR}/snapshot-\\d{16}\\.snap: .+ at offset \\d+; kv_store`);
    let kept = 0;
    await fc.assert(
      fc.asyncProperty(
        damage.filter((d) => d.kind !== 'append'),
        fc.constantFrom('strict' as const, 'truncate' as const),
        async (d, mode) => {
          const bytes = damaged(pristineBytes, d);
          const at = firstDifference(pristineBytes, bytes);
          const reopened = new ManualScheduler();
          for (const n of disk.list(DIR)) if (!pristineDir.has(n)) disk.unlink(`${DIR}/${n}`);
          for (const [n, data] of pristineDir) disk.setBytes(`${DIR}/${n}`, `${DIR}/${n}` === path ? bytes : data);
          const outcome = await openDurable(disk, reopened, { fsync: 'no', recovery: mode, clock: built.clock }).catch(
            (err: unknown) => err as Error,
          );
          if (outcome instanceof Error) {
            expect(outcome).toBeInstanceOf(DataDirError);
            expect(outcome.message).toMatch(refusal);
            if (mode === 'truncate') expect(at).toBeLessThan(records[1] as number);
            return;
          }
          expect(mode === 'truncate' || at === undefined).toBe(true);
          const loaded = [...outcome.store.snapshot().entries()];
          expect(loaded.length).toBeLessThanOrEqual(expected.length);
          // Field by field (a deep equal of 15,000 entries a run is slow); expect's diff on a mismatch.
          for (const [i, entry] of loaded.entries()) {
            const want = expected[i] as Entry;
            const fields = ['key', 'value', 'version', 'revision', 'createdAt', 'updatedAt', 'expiresAt'] as const;
            if (fields.some((f) => !Object.is(entry[f], want[f]))) expect(entry).toEqual(want);
          }
          expect(outcome.store.stats().bytes).toBe(charge(loaded));
          // The store goes on: a write, a delete of a loaded key, and maintenance.
          await logged(outcome.store.create('zz-after', '1'), reopened);
          if (loaded[0] !== undefined) expect(await logged(outcome.store.delete(loaded[0].key), reopened)).toBeGreaterThan(0);
          outcome.store.maintain();
          await outcome.persistence.close();
          if (loaded.length < expected.length) kept++;
        },
      ),
      { numRuns: 40 },
    );
    // Some runs cut the snapshot short and kept the records before the damage.
    expect(kept).toBeGreaterThan(0);
  });
});
