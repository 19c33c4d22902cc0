// Heap cost per entry of kv_store's store and of alternative entry layouts, without HTTP, so a
// layout change can be judged before it is made. Each layout is built in its own node process
// (--expose-gc) with N keys of 16 bytes and values of 100 bytes, made as fresh flat strings the
// way kv_store makes them from a request; the heap is read after full GCs before and after.
// It also times rendering the entry JSON (kv_store's own entryJson, as built, against ISO text
// kept in the entry) and overwriting a key of a large Map in place against delete-then-set.
//
//   node bench/entry-layouts.mjs [N]          (default 1,000,000; prints markdown)
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** A fresh, flat, unshared copy of s, as Buffer#toString gives kv_store for keys and values. */
const fresh = (s) => Buffer.from(s, 'latin1').toString('latin1');
const keyOf = (i) => fresh(`m${String(i).padStart(15, '0')}`);
/** Entries are written at about 35 per millisecond, as when loading over HTTP. */
const timeOf = (i) => T0 + Math.floor(i / 35);

let lastMs = -1;
let lastIso = '';
/** The ISO text of a time, shared by every entry written in the same millisecond. */
function isoOf(ms) {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

class ClassEntry {
  constructor(key, value, version, revision, createdAt, updatedAt, expiresAt) {
    this.key = key;
    this.value = value;
    this.version = version;
    this.revision = revision;
    this.createdAt = createdAt;
    this.updatedAt = updatedAt;
    this.expiresAt = expiresAt;
  }
}

/** The heap plus ArrayBuffer memory: kv_store keeps its records in ArrayBuffers, outside the heap. */
function heapAndBuffers() {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Each layout: build(n) returns what is kept alive. */
const LAYOUTS = {
  'Map<key, value> only (the reference server; the floor)': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) m.set(keyOf(i), fresh(VALUE));
    return m;
  },
  'kv_store MemoryStore.create (as built)': async (n) => {
    const { MemoryStore } = await import(new URL('../src/kv_store/dist/store/memory/memory-store.js', import.meta.url));
    let now = T0;
    const store = new MemoryStore({ clock: { now: () => now } });
    for (let i = 0; i < n; i++) {
      now = timeOf(i);
      store.create(keyOf(i), fresh(VALUE));
    }
    return store;
  },
  'object literal, 7 fields (what create stores)': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      const now = timeOf(i);
      m.set(key, { key, value: fresh(VALUE), version: 1, revision: i + 1, createdAt: now, updatedAt: now, expiresAt: null });
    }
    return m;
  },
  'class with the same 7 fields': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      const now = timeOf(i);
      m.set(key, new ClassEntry(key, fresh(VALUE), 1, i + 1, now, now, null));
    }
    return m;
  },
  'times as ISO strings shared per ms (no boxed doubles)': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      const iso = isoOf(timeOf(i));
      m.set(key, { key, value: fresh(VALUE), version: 1, revision: i + 1, createdAt: iso, updatedAt: iso, expiresAt: null });
    }
    return m;
  },
  'times as ms since store start, truncated to int32 (Smis, no boxes)': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      const t = (timeOf(i) - T0) | 0;
      m.set(key, { key, value: fresh(VALUE), version: 1, revision: i + 1, createdAt: t, updatedAt: t, expiresAt: null });
    }
    return m;
  },
  'numbers and times in one Float64Array slab, Map<key, slot>': (n) => {
    const m = new Map();
    const values = [];
    const meta = new Float64Array(n * 5);
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      m.set(key, i);
      values.push(fresh(VALUE));
      const now = timeOf(i);
      meta.set([1, i + 1, now, now, Number.NaN], i * 5);
    }
    return { m, values, meta };
  },
  'entry plus its JSON pre-rendered (reads send it as is)': (n) => {
    const m = new Map();
    for (let i = 0; i < n; i++) {
      const key = keyOf(i);
      const now = timeOf(i);
      const e = { key, value: fresh(VALUE), version: 1, revision: i + 1, createdAt: now, updatedAt: now, expiresAt: null, json: '' };
      const iso = new Date(now).toISOString();
      e.json = `{"key":${JSON.stringify(key)},"value":${e.value},"version":1,"revision":${i + 1},"createdAt":"${iso}","updatedAt":"${iso}","expiresAt":null}`;
      m.set(key, e);
    }
    return m;
  },
};

async function measureOne(name, n) {
  const gc = globalThis.gc;
  gc();
  gc();
  const before = heapAndBuffers();
  const start = process.hrtime.bigint();
  const kept = await LAYOUTS[name](n);
  const buildMs = Number(process.hrtime.bigint() - start) / 1e6;
  gc();
  gc();
  const after = heapAndBuffers();
  globalThis.kept = kept;
  return { name, n, bytesPerEntry: (after - before) / n, buildMs };
}

/**
 * Time to render an entry's JSON: kv_store's entryJson as built, and a variant with the ISO text
 * kept in the entry. n random reads of 10,000 entries, the best of 5 rounds. The entries are
 * written within one second, or (spread) over 1,000 hours, as a long-lived store's would be.
 */
async function renderTimes(n, spread) {
  const { entryJson } = await import(new URL('../src/kv_store/dist/api/answers.js', import.meta.url));
  const count = 10_000;
  const entries = Array.from({ length: count }, (_, i) => {
    const now = timeOf(i) + (spread ? (i % 1000) * 3_600_000 : 0);
    const iso = new Date(now).toISOString();
    return {
      key: keyOf(i),
      value: VALUE,
      version: 1,
      revision: i + 1,
      createdAt: now,
      updatedAt: now,
      expiresAt: Number.POSITIVE_INFINITY,
      createdIso: iso,
      updatedIso: iso,
    };
  });
  const order = Int32Array.from({ length: n }, () => Math.floor(Math.random() * count));
  const kept = (e) =>
    `{"key":"${e.key}","value":${e.value},"version":${e.version},"revision":${e.revision},"createdAt":"${e.createdIso}","updatedAt":"${e.updatedIso}","expiresAt":null}`;
  // Buffer.byteLength flattens the text, as writing it to the socket would.
  const time = (render) => {
    const start = process.hrtime.bigint();
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += Buffer.byteLength(render(entries[order[i]]));
    if (bytes === 0) throw new Error('unreachable');
    return Number(process.hrtime.bigint() - start) / n;
  };
  const best = { asBuilt: Number.POSITIVE_INFINITY, isoKept: Number.POSITIVE_INFINITY };
  for (let round = 0; round < 5; round++) {
    best.asBuilt = Math.min(best.asBuilt, time(entryJson));
    best.isoKept = Math.min(best.isoKept, time(kept));
  }
  return best;
}

/**
 * Overwriting random keys of a Map of n entries, 2n times: Map#set in place, and Map#delete then
 * Map#set (as MemoryStore.replace does through remove() and put()). Deleting leaves a hole that
 * only a rehash of the whole table reclaims. The slowest single operation shows that rehash.
 */
function overwriteTimes(n) {
  const keys = Array.from({ length: n }, (_, i) => keyOf(i));
  const result = {};
  for (const mode of ['set', 'delete+set']) {
    const m = new Map();
    for (const k of keys) m.set(k, { v: 0 });
    let max = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < 2 * n; i++) {
      const k = keys[Math.floor(Math.random() * n)];
      const t = process.hrtime.bigint();
      if (mode === 'set') {
        m.set(k, { v: i });
      } else {
        m.delete(k);
        m.set(k, { v: i });
      }
      const d = Number(process.hrtime.bigint() - t);
      if (d > max) max = d;
    }
    result[mode] = { nsPerOp: Number(process.hrtime.bigint() - start) / (2 * n), maxMs: max / 1e6 };
  }
  return result;
}

const [mode, arg1, arg2] = process.argv.slice(2);
if (mode === 'one') {
  process.stdout.write(`${JSON.stringify(await measureOne(arg1, Number(arg2)))}\n`);
} else if (mode === 'render') {
  process.stdout.write(`${JSON.stringify(await renderTimes(Number(arg1), arg2 === 'spread'))}\n`);
} else if (mode === 'overwrite') {
  process.stdout.write(`${JSON.stringify(overwriteTimes(Number(arg1)))}\n`);
} else {
  const n = Number(mode ?? 1_000_000);
  const rows = [];
  for (const name of Object.keys(LAYOUTS)) {
    const out = execFileSync(process.execPath, ['--expose-gc', SELF, 'one', name, String(n)], { encoding: 'utf8' });
    rows.push(JSON.parse(out));
    process.stderr.write(`entry-layouts: ${name}: ${rows.at(-1).bytesPerEntry.toFixed(0)} B/entry\n`);
  }
  const run = (...args) => JSON.parse(execFileSync(process.execPath, [SELF, ...args], { encoding: 'utf8' }));
  const render = run('render', '1000000');
  const renderSpread = run('render', '1000000', 'spread');
  const overwrite = run('overwrite', String(n));
  const lines = [
    `Heap per entry, ${n.toLocaleString('en-US')} entries of a 16-byte key and a 100-byte value, Node.js ${process.version}:`,
    '',
    '| layout | heap bytes per entry | build ms |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.bytesPerEntry.toFixed(0)} | ${r.buildMs.toFixed(0)} |`),
    '',
    `Rendering an entry's JSON (random reads of 10,000 entries, best of 5 rounds of 1,000,000): entries written within a second: ` +
      `${render.asBuilt.toFixed(0)} ns with kv_store's entryJson as built, ${render.isoKept.toFixed(0)} ns with the ISO text kept in the entry; ` +
      `written over 1,000 hours: ${renderSpread.asBuilt.toFixed(0)} ns as built, ${renderSpread.isoKept.toFixed(0)} ns with the ISO text kept.`,
    '',
    `Overwriting random keys of a ${n.toLocaleString('en-US')}-entry Map, ${(2 * n).toLocaleString('en-US')} times: ` +
      `Map#set in place ${overwrite.set.nsPerOp.toFixed(0)} ns/op (slowest ${overwrite.set.maxMs.toFixed(1)} ms); ` +
      `delete then set ${overwrite['delete+set'].nsPerOp.toFixed(0)} ns/op (slowest ${overwrite['delete+set'].maxMs.toFixed(1)} ms).`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
