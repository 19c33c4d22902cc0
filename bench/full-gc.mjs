// How long a full garbage collection takes with the memory engine holding N keys: what a
// mark-compact has to mark grows with what the engine keeps on the JS heap. Creates N keys
// (16-byte keys, 100-byte values), then times five forced full collections.
//
//   node --expose-gc bench/full-gc.mjs [dist] [keys]     (default src/kv_store/dist, 1000000)
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2] ?? 'src/kv_store/dist';
const N = Number(process.argv[3] ?? 1e6);
const { MemoryStore } = await import(pathToFileURL(resolve(dist, 'store/memory/memory-store.js')).href);
const VALUE = `"${'x'.repeat(98)}"`;
const store = new MemoryStore();
for (let i = 0; i < N; i++) store.create(`k${String(i).padStart(15, '0')}`, VALUE);
globalThis.gc();
globalThis.gc();
const times = [];
for (let r = 0; r < 5; r++) {
  const started = process.hrtime.bigint();
  globalThis.gc();
  times.push(Number(process.hrtime.bigint() - started) / 1e6);
}
const m = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    keys: store.size,
    fullGcMs: times.map((x) => +x.toFixed(1)),
    heapUsedMiB: +(m.heapUsed / 1048576).toFixed(1),
    arrayBuffersMiB: +(m.arrayBuffers / 1048576).toFixed(1),
    rssMiB: +(m.rss / 1048576).toFixed(1),
  })}\n`,
);
