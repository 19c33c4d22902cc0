// The memory engine's own cost per operation, without HTTP: create, overwrite, get, delete and
// create with a TTL, on 16-byte keys and 100-byte values, through the port's methods
// (store.create / replace / get / delete) as the routes call them. With two builds, rounds
// alternate between them (A, B, B, A, ...) so a busy machine's drift falls on both, and each
// build's figure is the minimum over its rounds (the least disturbed run).
//
//   node bench/engine-ops.mjs [distA] [distB] [rounds]   (default: src/kv_store/dist only, 9 rounds)
//   node bench/engine-ops.mjs src/kv_store/dist-base src/kv_store/dist 15
//
// For instruction counts instead of time, run one build under callgrind, e.g.
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node --single-threaded \
//     bench/engine-ops.mjs src/kv_store/dist 1 1
// (a single build and a rounds count: `node bench/engine-ops.mjs <dist> <rounds> [ops scale]`).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const dists = args.filter((a) => !/^\d+$/.test(a));
const numbers = args.filter((a) => /^\d+$/.test(a)).map(Number);
if (dists.length === 0) dists.push('src/kv_store/dist');
const rounds = numbers[0] ?? 9;
const scale = numbers[1] ?? 10;

const N = 10_000 * scale;
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const keys = Array.from({ length: N }, (_, i) => `k${String(i).padStart(15, '0')}`);
const order = Array.from({ length: N }, (_, i) => keys[(i * 7919) % N]);

const builds = [];
for (const dist of dists) {
  const url = pathToFileURL(resolve(dist, 'store/memory/memory-store.js')).href;
  builds.push({ dist, MemoryStore: (await import(url)).MemoryStore });
}

/** ns per op of each operation, on a fresh store of one build. */
function round(MemoryStore) {
  const store = new MemoryStore();
  const t = {};
  let started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.create(keys[i], VALUE);
  t.create = Number(process.hrtime.bigint() - started) / N;
  started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.replace(order[i], VALUE);
  t.overwrite = Number(process.hrtime.bigint() - started) / N;
  started = process.hrtime.bigint();
  let found = 0;
  for (let i = 0; i < N; i++) if (store.get(order[i]) !== undefined) found++;
  t.get = Number(process.hrtime.bigint() - started) / N;
  if (found !== N) throw new Error(`get found ${found} of ${N}`);
  started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.delete(order[i]);
  t.delete = Number(process.hrtime.bigint() - started) / N;
  started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) store.create(keys[i], VALUE, { ttlMs: 3_600_000 });
  t.createTtl = Number(process.hrtime.bigint() - started) / N;
  store.close();
  return t;
}

const results = builds.map(() => []);
for (const b of builds) round(b.MemoryStore); // warm-up
for (let r = 0; r < rounds; r++) {
  const seq = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => i).reverse();
  for (const i of seq) results[i].push(round(builds[i].MemoryStore));
}
const ops = ['create', 'overwrite', 'get', 'delete', 'createTtl'];
const min = (rs, op) => Math.min(...rs.map((r) => r[op]));
const median = (rs, op) => {
  const v = rs.map((r) => r[op]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
let out = `memory engine, ns per op (${N} keys, 100-byte values, ${rounds} rounds; min / median; node ${process.version})\n`;
out += `${'op'.padEnd(10)}${builds.map((b) => b.dist.padStart(32)).join('')}${builds.length === 2 ? '   B/A (min)' : ''}\n`;
for (const op of ops) {
  out += op.padEnd(10);
  for (const rs of results) out += `${min(rs, op).toFixed(0)} / ${median(rs, op).toFixed(0)}`.padStart(32);
  if (builds.length === 2) out += `   ${(min(results[1], op) / min(results[0], op)).toFixed(3)}`;
  out += '\n';
}
process.stdout.write(out);
