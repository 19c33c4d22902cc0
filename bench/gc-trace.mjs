// Reads the `--trace-gc` lines of a Node process's output and summarizes its collector pauses
// (the main thread's time in each collection, the first of the two numbers after "MB,").
//
//   node bench/gc-trace.mjs <log file> [from ms] [to ms]   (ms since the isolate started, as the lines say)
//
// Prints JSON: collections and the longest pause by kind, the total paused, and the 5 longest.
import { readFileSync } from 'node:fs';

const [file, fromArg, toArg] = process.argv.slice(2);
const from = fromArg === undefined ? 0 : Number(fromArg);
const to = toArg === undefined ? Number.POSITIVE_INFINITY : Number(toArg);
const LINE =
  /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|Minor Mark-Sweep)\b.*?MB, ([\d.]+) \/ ([\d.]+) ms/;
const kinds = {};
const all = [];
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = LINE.exec(line);
  if (m === null) continue;
  const at = Number(m[1]);
  if (at < from || at > to) continue;
  const kind = m[2];
  const pause = Number(m[3]);
  if (kinds[kind] === undefined) kinds[kind] = { count: 0, maxMs: 0, totalMs: 0 };
  const k = kinds[kind];
  k.count++;
  k.totalMs = Math.round((k.totalMs + pause) * 100) / 100;
  if (pause > k.maxMs) k.maxMs = pause;
  all.push({ atMs: at, kind, ms: pause, heap: line.slice(line.indexOf(kind) + kind.length, line.indexOf('MB,') + 2).trim() });
}
all.sort((a, b) => b.ms - a.ms);
const totalMs = Math.round(all.reduce((s, x) => s + x.ms, 0) * 100) / 100;
process.stdout.write(
  `${JSON.stringify({ collections: all.length, maxMs: all[0]?.ms ?? 0, maxKind: all[0]?.kind ?? null, totalMs, kinds, longest: all.slice(0, 5) })}\n`,
);
