import { describe, expect, it, vi } from 'vitest';
import { EntryModel, entriesOf, logged, openDurable } from '../support/durable.js';
import { ManualScheduler, SimDisk } from '../support/sim-disk.js';

/*
 * A data directory of 32 MiB or more is loaded with a worker faulting in the slabs ahead of the
 * engine (slab-prefaulter.ts). The prefaulter is the real one; the mock only counts what it
 * does, so the test knows the worker was started, how many slabs were asked for and how many
 * came from it (that number depends on the machine's timing, so it is reported, not asserted).
 */
const prefaults = vi.hoisted(() => ({ started: 0, taken: 0, ready: 0, closed: 0 }));
vi.mock('../../src/store/memory/slab-prefaulter.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/store/memory/slab-prefaulter.js')>();
  return {
    ...original,
    startPrefaulter: (slabBytes: number) => {
      // Two cores as far as the prefaulter knows, whatever runs the test.
      const prefaulter = original.startPrefaulter(slabBytes, 2);
      if (prefaulter === undefined) return undefined;
      prefaults.started++;
      return {
        take: () => {
          const slab = prefaulter.take();
          prefaults.taken++;
          if (slab !== undefined) prefaults.ready++;
          return slab;
        },
        close: () => {
          prefaults.closed++;
          prefaulter.close();
        },
      };
    },
  };
});

/** Writes `count` entries of about 4 KiB (some overwritten, some deleted) and returns the model. */
async function fill(count: number) {
  const disk = new SimDisk();
  const scheduler = new ManualScheduler();
  const opened = await openDurable(disk, scheduler, { fsync: 'no', snapshotOnClose: false });
  const { store, clock } = opened;
  const model = new EntryModel(store);
  for (let i = 0; i < count; i++) {
    const value = JSON.stringify({ i, fill: String.fromCharCode(97 + (i % 26)).repeat(4000) });
    await logged(store.create(`key/${String(i).padStart(6, '0')}`, value, i % 7 === 0 ? { ttlMs: 3_600_000 } : undefined), scheduler);
    const older = (back: number) => `key/${String(i - back).padStart(6, '0')}`;
    if (i % 10 === 9 && model.entries.has(older(5))) await logged(store.replace(older(5), `{"again":${i}}`), scheduler);
    if (i % 13 === 12) await logged(store.delete(older(1)), scheduler);
  }
  await opened.persistence.close();
  return { disk, scheduler, model, clock, revision: store.revision };
}

describe('recovery of a large data directory, its memory faulted in ahead', () => {
  it('loads the log, and then a snapshot of it, to exactly the state written', async () => {
    const { disk, scheduler, model, clock, revision } = await fill(9_000);
    expect(model.entries.size).toBe(9_000 - Math.floor(9_000 / 13));

    const fromLog = await openDurable(disk, scheduler, { clock, fsync: 'no' });
    expect(prefaults).toMatchObject({ started: 1, closed: 1 });
    expect(prefaults.taken).toBeGreaterThanOrEqual(8);
    expect(fromLog.store.revision).toBe(revision);
    expect(fromLog.store.size).toBe(model.entries.size);
    expect(entriesOf(fromLog.store, model.entries.keys())).toEqual(model.entries);
    await fromLog.persistence.close(); // writes a snapshot

    const fromSnapshot = await openDurable(disk, scheduler, { clock, fsync: 'no' });
    expect(prefaults).toMatchObject({ started: 2, closed: 2 });
    expect(fromSnapshot.store.revision).toBe(revision);
    expect(entriesOf(fromSnapshot.store, model.entries.keys())).toEqual(model.entries);
    // The store goes on as usual in slabs it took from the worker: writes, and reads back.
    const next = await logged(fromSnapshot.store.replace('key/000003', '"after"'), scheduler);
    expect(next.revision).toBe(revision + 1);
    expect(fromSnapshot.store.get('key/000003')).toMatchObject({ value: '"after"', version: 2 });
    console.info(`prefault: ${prefaults.ready} of ${prefaults.taken} slabs came from the worker faulted in`);
    await fromSnapshot.persistence.close();
  }, 60_000);
});
