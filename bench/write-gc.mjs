// The collector's work under writes in the memory engine, without HTTP: 200,000 creates and
// 1,000,000 overwrites of 16-byte keys with 100-byte values (previous values recorded, the
// default history of 10,000 revisions), as kv_store runs (--max-semi-space-size=2 --initial-old-space-size=64). Run it with
// --trace-gc and read the pauses with bench/gc-trace.mjs:
//
//   node --max-semi-space-size=2 --initial-old-space-size=64 --trace-gc bench/write-gc.mjs [dist] > /tmp/gc.log
//   node bench/gc-trace.mjs /tmp/gc.log
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2] ?? 'src/kv_store/dist';
const { MemoryStore } = await import(pathToFileURL(resolve(dist, 'store/memory/memory-store.js')).href);
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const KEYS = 200_000;
const store = new MemoryStore();
const keys = Array.from({ length: KEYS }, (_, i) => `k${String(i).padStart(15, '0')}`);
for (const key of keys) store.create(key, VALUE, { ttlMs: 3_600_000 });
for (let i = 0; i < 1_000_000; i++) store.replace(keys[(i * 7919) % KEYS], VALUE, { ttlMs: 3_600_000 });
const m = process.memoryUsage();
process.stderr.write(
  `${store.size} keys; heap used ${(m.heapUsed / 1048576).toFixed(1)} MiB of ${(m.heapTotal / 1048576).toFixed(1)} MiB\n`,
);
