import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/*
 * Fresh memory costs a page fault the first time each 4 KiB page of it is written. On the VM the
 * benchmarks run on that is about 12 µs a page, so filling the slabs of a million-key snapshot
 * (about 170 MB, 41,000 pages) spends some 500 ms of recovery in the kernel before a byte is
 * copied. A fault touches the process's page tables, not the thread's: a page one thread has
 * written is mapped for every thread. So while the engine reads the data directory on the main
 * thread, a worker on another core writes one byte of every page of the slabs the engine will
 * take next, and by the time it takes one, the copy into it runs at memory speed.
 *
 * The engine hands the worker slabs LOOKAHEAD ahead of the one it will take next (postMessage
 * shares a SharedArrayBuffer; the worker's own event loop receives it while the main thread is
 * busy), so at most LOOKAHEAD slabs are faulted in and then not used. Which thread may write a
 * slab is decided by a counter in shared memory, READY: the worker is done with every slab below
 * it and never writes those again. `take()` hands out slab k only if k is below READY; if the
 * worker is not that far yet, the engine allocates a fresh slab of its own and asks again for
 * slab k next time (so a worker that falls behind is not raced slab after slab). So a slab is
 * written by the worker, then by the engine, never by both: the worker's writes happen before
 * its Atomics.store of READY, and the engine's after the Atomics.load that read it (the order
 * Atomics give a SharedArrayBuffer). A second counter, STOP, tells the worker to skip what is
 * still queued once the load is over. With one core there is nothing to gain (the faults cost
 * the same wherever they run), and no worker is started. Nor is one when this process may not
 * start threads or share memory: the load then runs as it would on one core.
 */

const READY = 0;
const STOP = 1;
/** Slabs handed to the worker ahead of the engine: 32 MiB of 4 MiB slabs, the most faulted in for nothing. */
const LOOKAHEAD = 8;
/** Bytes between the writes that fault a slab in: the smallest page size of the machines we run on. */
const PAGE_BYTES = 4096;

/** Slabs whose pages a worker faults in ahead of their use, handed out in order. */
export interface SlabPrefaulter {
  /** The next slab, its pages faulted in (all zero), or undefined if the worker is not done with it yet. */
  take(): SharedArrayBuffer | undefined;
  /** Stops the worker and drops the slabs not taken. */
  close(): void;
}

/**
 * The worker's handler for slab `k`, run in the worker (its source is the worker's code, so it
 * may use nothing from this module): faults it in unless the load is over (STOP).
 */
function faultIn(k: number, slab: SharedArrayBuffer, control: Int32Array, pageBytes: number): void {
  if (Atomics.load(control, 1) === 0) {
    const bytes = new Uint8Array(slab);
    for (let i = 0; i < bytes.length; i += pageBytes) bytes[i] = 0;
  }
  Atomics.store(control, 0, k + 1);
}

const WORKER_SOURCE = `const { parentPort, workerData: w } = require('node:worker_threads');
const faultIn = ${faultIn.toString()};
parentPort.on('message', (m) => faultIn(m.k, m.slab, w.control, w.pageBytes));`;

/**
 * Starts a worker that faults in slabs of `slabBytes` ahead of their use, or returns undefined
 * when this process has one core to run on (os.availableParallelism, which follows CPU affinity)
 * or may not start a thread.
 */
export function startPrefaulter(slabBytes: number, cores = availableParallelism()): SlabPrefaulter | undefined {
  if (cores < 2) return undefined;
  let control: Int32Array;
  let worker: Worker;
  try {
    control = new Int32Array(new SharedArrayBuffer(8));
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { control, pageBytes: PAGE_BYTES },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
  } catch {
    return undefined; // e.g. the permission model without --allow-worker, or no shared memory
  }
  worker.unref();
  // A worker that fails (out of memory, say) only means no slab is ever ready.
  worker.on('error', () => {});
  const handed: Array<SharedArrayBuffer | undefined> = new Array(LOOKAHEAD);
  let posted = 0;
  let next = 0;
  let stopped = false;
  const stop = () => {
    stopped = true;
    Atomics.store(control, STOP, 1);
    handed.fill(undefined);
    worker.terminate().catch(() => {});
  };
  const hand = () => {
    const slab = new SharedArrayBuffer(slabBytes);
    handed[posted % LOOKAHEAD] = slab;
    worker.postMessage({ k: posted, slab });
    posted++;
  };
  try {
    for (let i = 0; i < LOOKAHEAD; i++) hand();
  } catch {
    stop(); // out of memory for the slabs: load as if on one core
    return undefined;
  }
  return {
    take() {
      if (stopped || next >= Atomics.load(control, READY)) return undefined;
      const slab = handed[next % LOOKAHEAD];
      next++;
      try {
        hand();
      } catch {
        stop(); // the slabs handed so far stay the worker's; the rest of the load goes without
      }
      return slab;
    },
    close: stop,
  };
}
