// What the memory engine's ordered index (src/kv_store/src/store/memory/ordered-index.ts) costs:
// the store from dist/ filled with N keys (16-byte keys, 100-byte values, as bench/run.sh loads
// them), with its ordered index and without it (OrderedIndex's writes patched to do nothing), each
// in a fresh process, measured after two full GCs. Prints a markdown table on stdout.
//
//   node bench/ordered-index-memory.mjs [keys]        (default 1000000; build kv_store first)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIST = new URL('../src/kv_store/dist/store/memory/', import.meta.url);
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;

function rss() {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? null : Number(m[1]) * 1024;
}

async function child(keys, withIndex) {
  const { MemoryStore } = await import(new URL('memory-store.js', DIST));
  const { OrderedIndex } = await import(new URL('ordered-index.js', DIST));
  if (!withIndex) {
    for (const method of ['add', 'move', 'remove']) OrderedIndex.prototype[method] = () => undefined;
  }
  globalThis.gc();
  globalThis.gc();
  const before = { ...process.memoryUsage(), rss: rss() };
  // No change history: it is bounded (KV_WATCH_HISTORY_BYTES) and not what is measured here.
  const store = new MemoryStore({ history: { maxRevisions: 0 } });
  const started = performance.now();
  for (let i = 0; i < keys; i++) store.create(`m${String(i).padStart(15, '0')}`, VALUE);
  const loadMs = performance.now() - started;
  globalThis.gc();
  globalThis.gc();
  const after = { ...process.memoryUsage(), rss: rss() };
  process.stdout.write(
    JSON.stringify({
      keys: store.size,
      heapBytes: after.heapUsed - before.heapUsed,
      arrayBufferBytes: after.arrayBuffers - before.arrayBuffers,
      rssBytes: after.rss - before.rss,
      chargedBytes: store.usedBytes,
      loadMs,
    }),
  );
}

const [, , first, second] = process.argv;
if (first === '--child') {
  await child(Number(second), process.argv[4] === 'with');
} else {
  const keys = Number(first ?? 1_000_000);
  const run = (mode) =>
    JSON.parse(
      execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', String(keys), mode], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      }),
    );
  const without = run('without');
  const withIndex = run('with');
  const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  const per = (b) => `${(b / keys).toFixed(1)} B`;
  const rows = [
    ['JS heap', 'heapBytes'],
    ['ArrayBuffers (record slabs, hash index)', 'arrayBufferBytes'],
    ['RSS', 'rssBytes'],
  ];
  const out = [
    `Memory of the memory engine with ${keys.toLocaleString('en-US')} keys (16-byte keys, 100-byte values), after two full GCs; node ${process.version}.`,
    '',
    '| | without the ordered index | with it | the ordered index | per key |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const [label, field] of rows) {
    const d = withIndex[field] - without[field];
    out.push(`| ${label} | ${mib(without[field])} | ${mib(withIndex[field])} | ${mib(d)} | ${per(d)} |`);
  }
  out.push(
    `| charged (KV_MAX_MEMORY_BYTES) | | ${mib(withIndex.chargedBytes)} | | ${per(withIndex.chargedBytes)} an entry |`,
    '',
    `Loading took ${Math.round(without.loadMs)} ms without the index and ${Math.round(withIndex.loadMs)} ms with it (one run each; not a benchmark).`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
