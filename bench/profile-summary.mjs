// Summarises a V8 .cpuprofile (node --cpu-prof): where the samples of a time window went.
//
//   node bench/profile-summary.mjs <file.cpuprofile> [--from <us>] [--to <us>] [--top N] [--json <out.json>]
//
// --from/--to are timestamps on the profile's clock (process.hrtime in microseconds, as
// bench/heap-probe.cjs reports them), so the window can be exactly the measured wrk run.
// Prints markdown: a breakdown by category, the top functions by self time, and the inclusive
// time of kv_store's own functions (its dist/ files).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) {
  process.stderr.write('usage: profile-summary.mjs <file.cpuprofile> [--from us] [--to us] [--top N] [--json out.json]\n');
  process.exit(2);
}
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const from = Number(option('--from', '-Infinity'));
const to = Number(option('--to', 'Infinity'));
const top = Number(option('--top', '20'));
const jsonOut = option('--json', undefined);

const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Where a frame's code lives, for the category table. */
function category(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/native (program)';
  if (url.includes('/kv_store/dist/')) return 'kv_store';
  if (url.includes('/node_modules/pino') || url.includes('/node_modules/thread-stream')) return 'pino (logging)';
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, '');
    if (/^_http|^http/.test(mod)) return 'node http';
    if (/^(net|stream|streams\/)/.test(mod)) return 'node net/stream';
    return 'node other';
  }
  if (url === '') return 'builtins (JSON, strings, Date, ...)';
  return 'other JS';
}

function where(frame) {
  const url = frame.url.includes('/kv_store/dist/')
    ? `kv_store/${frame.url.split('/kv_store/dist/')[1]}`
    : frame.url.replace(/^file:\/\/.*\//, '');
  return url === '' ? '(native)' : `${url}:${frame.lineNumber + 1}`;
}

// Sample timestamps: startTime plus the running sum of timeDeltas.
let t = profile.startTime;
const self = new Map();
const inclusive = new Map();
const byCategory = new Map();
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  if (t < from || t > to) continue;
  const node = nodes.get(profile.samples[i]);
  const frame = node.callFrame;
  total++;
  const cat = category(frame);
  if (cat === 'idle') {
    idle++;
    continue;
  }
  byCategory.set(cat, (byCategory.get(cat) ?? 0) + 1);
  const key = `${frame.functionName || '(anonymous)'}\t${where(frame)}`;
  self.set(key, (self.get(key) ?? 0) + 1);
  // Inclusive time of kv_store functions: each function once per sample, however deep.
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const f = nodes.get(id).callFrame;
    if (!f.url.includes('/kv_store/dist/')) continue;
    const k = `${f.functionName || '(anonymous)'}\t${where(f)}`;
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
  }
}

const busy = total - idle;
const interval = profile.samples.length > 1 ? (profile.endTime - profile.startTime) / profile.samples.length : 0;
const pct = (n) => (busy === 0 ? '0.0' : ((100 * n) / busy).toFixed(1));
const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);

const lines = [];
lines.push(
  `Profile \`${basename(file)}\`: ${total} samples in the window (about ${(interval / 1000).toFixed(2)} ms each), ` +
    `${busy} busy (${total === 0 ? 0 : ((100 * busy) / total).toFixed(1)}%), ${idle} idle. Percentages are of the busy samples.`,
);
lines.push('', '| where | self % |', '|---|---:|');
for (const [cat, n] of sorted(byCategory)) lines.push(`| ${cat} | ${pct(n)} |`);
lines.push('', `| top ${top} functions by self time | at | self % |`, '|---|---|---:|');
for (const [key, n] of sorted(self).slice(0, top)) {
  const [fn, at] = key.split('\t');
  lines.push(`| \`${fn}\` | ${at} | ${pct(n)} |`);
}
lines.push('', '| kv_store functions, inclusive (self + callees) | at | incl. % |', '|---|---|---:|');
for (const [key, n] of sorted(inclusive).slice(0, 12)) {
  const [fn, at] = key.split('\t');
  lines.push(`| \`${fn}\` | ${at} | ${pct(n)} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);

if (jsonOut !== undefined) {
  const list = (m) => sorted(m).map(([key, n]) => ({ fn: key.split('\t')[0], at: key.split('\t')[1], samples: n, pct: Number(pct(n)) }));
  writeFileSync(
    jsonOut,
    JSON.stringify(
      {
        file,
        samples: total,
        busy,
        idle,
        categories: Object.fromEntries(sorted(byCategory).map(([c, n]) => [c, Number(pct(n))])),
        self: list(self).slice(0, 50),
        inclusive: list(inclusive).slice(0, 30),
      },
      null,
      2,
    ),
  );
}
