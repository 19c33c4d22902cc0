// One memory-engine operation, N times, for counting instructions with callgrind (repeatable
// whatever the machine's load, unlike time). Run it at two N and take the difference over the
// difference of N: what one more operation costs, start-up and warm-up cancelled out.
//
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p node --single-threaded \
//     bench/engine-op-count.mjs <dist> <op> <n>
//   op: create | overwrite | get | delete | create-ttl | txn-incr
// bench/engine-op-ab.sh runs it for two builds and prints instructions per operation.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist = 'src/kv_store/dist', op = 'overwrite', n = '20000'] = process.argv.slice(2);
const N = Number(n);
const { MemoryStore } = await import(pathToFileURL(resolve(dist, 'store/memory/memory-store.js')).href);
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const KEYS = 5_000;
const keys = Array.from({ length: KEYS + N }, (_, i) => `k${String(i).padStart(15, '0')}`);
// A fixed clock: the same instructions on every run.
let t = 1_700_000_000_000;
const store = new MemoryStore({ clock: { now: () => t } });
for (let i = 0; i < KEYS; i++) store.create(keys[i], VALUE);
const pick = (i) => keys[(i * 7919) % KEYS];
switch (op) {
  case 'create':
    for (let i = 0; i < N; i++) store.create(keys[KEYS + i], VALUE);
    break;
  case 'create-ttl':
    for (let i = 0; i < N; i++) store.create(keys[KEYS + i], VALUE, { ttlMs: 3_600_000 });
    break;
  case 'overwrite':
    for (let i = 0; i < N; i++) store.replace(pick(i), VALUE);
    break;
  case 'get':
    for (let i = 0; i < N; i++) store.get(pick(i));
    break;
  case 'delete':
    for (let i = 0; i < N; i++) store.delete(keys[i % KEYS]) && store.create(keys[i % KEYS], VALUE);
    break;
  case 'txn-incr':
    for (let i = 0; i < N; i++) store.txn({ checks: [], ops: [{ op: 'incr', key: 'counter', by: '1' }] });
    break;
  default:
    throw new Error(`unknown op ${op}`);
}
t += 1;
store.close();
