import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startPrefaulter } from '../src/store/memory/slab-prefaulter.js';

/*
 * The prefaulter's worker is a real thread writing into shared memory, so these tests use it as
 * the engine does: slabs taken in order, each written as soon as it is taken. What must hold
 * whatever the timing: a slab handed out is whole, zeroed and never handed out twice, and
 * nothing the engine writes into it is overwritten afterwards. How many slabs are ready when
 * asked for depends on the machine; the tests wait (at most 10 s) rather than assume.
 */

const SLAB = 64 * 1024;

/** Takes until a slab comes back ready, sleeping between tries; fails after 10 s. */
async function takeReady(prefaulter: NonNullable<ReturnType<typeof startPrefaulter>>): Promise<SharedArrayBuffer> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const slab = prefaulter.take();
    if (slab !== undefined) return slab;
    if (Date.now() > deadline) throw new Error('no slab was ready within 10 s');
    await sleep(5);
  }
}

describe('slab prefaulter', () => {
  it('starts no worker on one core', () => {
    expect(startPrefaulter(SLAB, 1)).toBeUndefined();
  });

  it('hands out zeroed slabs of the size asked for, each once, once its worker has been at them', async () => {
    const prefaulter = startPrefaulter(SLAB, 2);
    expect(prefaulter).toBeDefined();
    if (prefaulter === undefined) return;
    try {
      const seen = new Set<SharedArrayBuffer>();
      for (let i = 0; i < 20; i++) {
        const slab = await takeReady(prefaulter);
        expect(slab.byteLength).toBe(SLAB);
        expect(seen.has(slab)).toBe(false);
        seen.add(slab);
        expect(new Uint8Array(slab).every((b) => b === 0)).toBe(true);
      }
      expect(seen.size).toBe(20);
    } finally {
      prefaulter.close();
    }
  });

  it('never writes into a slab once it is handed out, however fast the slabs are taken', async () => {
    const prefaulter = startPrefaulter(SLAB, 2);
    if (prefaulter === undefined) throw new Error('no prefaulter on two cores');
    const written: Uint8Array[] = [];
    try {
      // Taken as fast as the engine could, and as slowly as a worker that is ahead: every byte
      // the worker would fault in (each 4,096th) and its neighbours get a mark at once.
      for (let round = 0; round < 400; round++) {
        const slab = round % 50 === 49 ? await takeReady(prefaulter) : prefaulter.take();
        if (slab === undefined) continue;
        const bytes = new Uint8Array(slab);
        for (let i = 0; i < bytes.length; i += 4096) {
          bytes[i] = 0xab;
          bytes[i + 1] = 0xcd;
        }
        written.push(bytes);
      }
    } finally {
      prefaulter.close();
    }
    // Give a worker that misbehaved time to do it, then look.
    await sleep(200);
    expect(written.length).toBeGreaterThanOrEqual(8);
    let overwritten = 0;
    for (const bytes of written) {
      for (let i = 0; i < bytes.length; i += 4096) if (bytes[i] !== 0xab || bytes[i + 1] !== 0xcd) overwritten++;
    }
    expect(overwritten).toBe(0);
  });
});
