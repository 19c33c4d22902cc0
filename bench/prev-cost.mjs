// What recording each change's previous value (`prev`, for watch's prev=true) costs a writer in
// the memory engine, without HTTP: overwrites of 10,000 keys with 100-byte values, with
// previousValues on (the default) and off, in alternating rounds; prints ns per overwrite.
//
//   node bench/prev-cost.mjs [rounds]        (default 7; build kv_store first)
const { MemoryStore } = await import(new URL('../src/kv_store/dist/store/memory/memory-store.js', import.meta.url));

const KEYS = 10_000;
const WRITES = 200_000;
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const rounds = Number(process.argv[2] ?? 7);

function round(previousValues) {
  const store = new MemoryStore({ previousValues });
  const keys = Array.from({ length: KEYS }, (_, i) => `k${String(i).padStart(15, '0')}`);
  for (const key of keys) store.create(key, VALUE);
  const started = process.hrtime.bigint();
  for (let i = 0; i < WRITES; i++) store.replace(keys[(i * 7919) % KEYS], VALUE);
  return Number(process.hrtime.bigint() - started) / WRITES;
}

const times = { on: [], off: [] };
round(true); // warm-up
round(false);
for (let r = 0; r < rounds; r++) {
  times.on.push(round(true));
  times.off.push(round(false));
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const on = median(times.on);
const off = median(times.off);
process.stdout.write(
  `overwrite in the memory engine (${KEYS} keys, 100-byte values, ${WRITES} writes a round, median of ${rounds} rounds; node ${process.version}):\n` +
    `  previous values recorded: ${on.toFixed(0)} ns\n  not recorded:             ${off.toFixed(0)} ns\n` +
    `  cost: ${(on - off).toFixed(0)} ns an overwrite (${((100 * (on - off)) / off).toFixed(1)}%)\n`,
);
