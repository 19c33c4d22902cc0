// Measures what stored entries really cost on the V8 heap against what MemoryStore charges them
// (store.usedBytes). Run as `node --expose-gc heap-probe.mjs <dist dir>`; prints one JSON line.
// It uses the built modules, the way kv_store's handler does: parseWriteBody for bodies and
// keyFromPath for keys in the path.
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
if (typeof globalThis.gc !== 'function' || dist === undefined) {
  process.stderr.write('usage: node --expose-gc heap-probe.mjs <src/kv_store/dist>\n');
  process.exit(2);
}
const load = (path) => import(pathToFileURL(`${dist}/${path}`).href);
const { MemoryStore } = await load('store/memory/memory-store.js');
const { parseWriteBody } = await load('api/write-body.js');
const { keyFromPath } = await load('api/keys.js');
const { ENTRY_OVERHEAD_BYTES } = await load('store/memory/entry-cost.js');

const limits = { maxKeyBytes: 512, maxValueBytes: 1_048_576 };

/** The heap plus ArrayBuffer memory, where the store keeps its number columns. */
function heapUsed() {
  globalThis.gc();
  globalThis.gc();
  const { heapUsed: heap, arrayBuffers } = process.memoryUsage();
  return heap + arrayBuffers;
}

/** Stores n entries made by make(i) -> [key, value]; compares heap growth with the charge. */
function measure(name, n, make) {
  // Without change history: a bounded cost of the store (KV_WATCH_HISTORY_BYTES), not one of each entry.
  const store = new MemoryStore({ history: { maxRevisions: 0 } });
  const before = heapUsed();
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const [key, value] = make(i);
    chars += key.length + value.length;
    store.create(key, value);
  }
  const growth = heapUsed() - before;
  const result = {
    name,
    entries: n,
    chargedBytes: store.usedBytes,
    heapGrowthBytes: growth,
    // The record slabs (ArrayBuffers, reserved 4 MiB at a time) are part of the growth.
    recordSlabBytes: store.reservedBytes,
    ratio: growth / store.usedBytes,
    heapBytesPerEntry: growth / n,
    chargedBytesPerEntry: store.usedBytes / n,
    // What a fixed per-entry overhead would have to be for the charge to match the heap.
    impliedOverheadBytes: (growth - chars) / n,
  };
  keep.push(store);
  return result;
}

const keep = [];
const body = (obj) => parseWriteBody(Buffer.from(JSON.stringify(obj)), limits);
const results = [
  measure('small ASCII entries (key ~16, value ~12 chars)', 100_000, (i) => {
    const b = body({ key: `user:${i}:profile`, value: `value-${i}` });
    return [b.key, b.value];
  }),
  measure('small JSON objects via parseWriteBody', 100_000, (i) => {
    const b = body({ key: `key-${i}-abcdefgh`, value: { n: i, s: 'hello world', ok: true } });
    return [b.key, b.value];
  }),
  measure('1 KiB ASCII values', 20_000, (i) => {
    const b = body({ key: `key-${i}`, value: `${'v'.repeat(1000)}${i}` });
    return [b.key, b.value];
  }),
  measure('64 KiB ASCII values', 400, (i) => {
    const b = body({ key: `key-${i}`, value: `${'v'.repeat(65_536)}${i}` });
    return [b.key, b.value];
  }),
  measure('1 KiB two-byte (CJK) values', 20_000, (i) => {
    const b = body({ key: `key-${i}`, value: `${'キー値'.repeat(340)}${i}` });
    return [b.key, b.value];
  }),
  measure('small values in bodies padded with 100 KB of whitespace', 2_000, (i) => {
    const b = parseWriteBody(Buffer.from(`{"key":"padded-${i}","value":"abcdefghijklmnopqrstuvwxyz"${' '.repeat(100_000)}}`), limits);
    return [b.key, b.value];
  }),
];

// PUT /v1/<key>?<10 KB query>: the key taken from the path must not keep the URL alive. The
// overwrites do not change the charge, so what counts is the heap kept per overwrite.
{
  const n = 5_000;
  const store = new MemoryStore();
  for (let i = 0; i < n; i++) store.create(`long-key-number-${i}`, '1');
  const charged = store.usedBytes;
  const before = heapUsed();
  for (let i = 0; i < n; i++) {
    const url = `/v1/long-key-number-${i}?pad=${'x'.repeat(10_000)}`.slice(0); // flat, as the parser gives it
    const q = url.indexOf('?');
    const key = keyFromPath(url.slice(0, q).slice(4), limits.maxKeyBytes);
    const b = parseWriteBody(Buffer.from('{"value":2}'), limits, key);
    store.replace(key, b.value);
  }
  const growth = heapUsed() - before;
  results.push({
    name: 'PUT with a 10 KB query string (same-size overwrite)',
    entries: n,
    chargedBytes: charged,
    heapGrowthBytes: growth,
    ratio: (charged + growth) / charged,
    heapBytesPerEntry: (charged + growth) / n,
    chargedBytesPerEntry: charged / n,
    impliedOverheadBytes: null,
    retainedBytesPerOverwrite: growth / n,
  });
  keep.push(store);
}

process.stdout.write(`${JSON.stringify({ entryOverheadBytes: ENTRY_OVERHEAD_BYTES, node: process.version, results })}\n`);
