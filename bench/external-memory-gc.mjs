// How many full collections (mark-compacts) V8 runs while a process allocates memory outside
// its heap, as kv_store's record slabs are: 500 MiB in 4 MiB steps, with a little garbage
// between steps, held as ArrayBuffers ("ab"), as one resizable ArrayBuffer grown each step
// ("rab"), or as one WebAssembly.Memory grown each step ("wasm"). Run it with --trace-gc and
// count the lines:
//   for m in ab rab wasm; do node --trace-gc bench/external-memory-gc.mjs $m | grep -c Mark-Compact; done
const mode = process.argv[2] ?? 'ab';
const STEP = 4 << 20;
const STEPS = 125;
const garbage = () => {
  for (let j = 0; j < 20_000; j++) void { j };
};
let held;
if (mode === 'ab') {
  held = [];
  for (let i = 0; i < STEPS; i++) {
    held.push(new Uint8Array(STEP).fill(1));
    garbage();
  }
} else if (mode === 'rab') {
  held = new ArrayBuffer(STEP, { maxByteLength: STEP * STEPS });
  for (let i = 1; i < STEPS; i++) {
    held.resize(STEP * (i + 1));
    new Uint8Array(held, STEP * i, STEP).fill(1);
    garbage();
  }
} else if (mode === 'wasm') {
  held = new WebAssembly.Memory({ initial: 64, maximum: 64 * STEPS });
  for (let i = 1; i < STEPS; i++) {
    held.grow(64);
    new Uint8Array(held.buffer, STEP * i, STEP).fill(1);
    garbage();
  }
} else throw new Error(`unknown mode ${mode}: ab, rab or wasm`);
console.log(`${mode}: ${STEPS * 4} MiB held, RSS ${process.memoryUsage().rss >> 20} MiB`);
