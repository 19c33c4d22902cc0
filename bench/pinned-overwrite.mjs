// What an overwrite costs while a snapshot is pinned (a durable snapshot being written, or a
// paged listing's cursor): the engine then keeps the old record for the snapshot and writes a
// new one, so the ordered index follows every overwritten key to its new record. 100,000 keys
// of 16 bytes with 100-byte values are created, a snapshot is taken, every key is overwritten
// once in a scattered order, and the snapshot is released; the minimum of five rounds, in ns an
// overwrite, through the port's methods (store.replace) as the routes call them.
//
//   taskset -c 1 node bench/pinned-overwrite.mjs src/kv_store/dist
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distArg = 'src/kv_store/dist'] = process.argv.slice(2);
const { MemoryStore } = await import(`${pathToFileURL(resolve(distArg)).href}/store/memory/memory-store.js`);
const N = 100_000;
const name = (i) => `k${String(i).padStart(15, '0')}`;
const VALUE = `"${'x'.repeat(98)}"`;
let best = Number.POSITIVE_INFINITY;
for (let round = 0; round < 5; round++) {
  const store = new MemoryStore();
  for (let i = 0; i < N; i++) store.create(name(i), VALUE);
  const snapshot = store.snapshot();
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.replace(name((i * 7919) % N), VALUE);
  best = Math.min(best, Number(process.hrtime.bigint() - started) / N);
  snapshot.release();
}
console.log(`${distArg}: an overwrite while a snapshot is pinned, min of 5 rounds: ${best.toFixed(0)} ns`);
