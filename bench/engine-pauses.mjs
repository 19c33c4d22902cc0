// The longest single operation of the memory engine while it grows and while its keys expire,
// without HTTP: what a request would wait behind, as far as the engine is concerned. Creates N
// keys (16-byte keys, 100-byte values) all with one expiry time, timing every create; then moves
// a fake clock past that time and runs the sweeper's work as its timer would (maintain() and
// sweepStep(): at most SWEEP_BATCH entries and SWEEP_STEP_MS a step), timing every step. The collector's pauses fall
// inside the operations they interrupt. One build after the other.
// Each operation is timed in CPU time (process.cpuUsage: the process's user and system time, all
// its threads) as well as wall time: on a shared machine, time spent descheduled shows in the
// wall time and not in the CPU time, so the CPU time is what the engine itself cost.
//
//   node --max-semi-space-size=2 --initial-old-space-size=64 bench/engine-pauses.mjs [keys] [distA] [distB]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const N = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 2_000_000;
const dists = args.length > 0 ? args : ['src/kv_store/dist'];
const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;

function summary(times) {
  const sorted = Float64Array.from(times).sort();
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return {
    count: sorted.length,
    p999: +q(0.999).toFixed(3),
    max: +sorted[sorted.length - 1].toFixed(2),
    over5: times.filter((t) => t > 5).length,
    over10: times.filter((t) => t > 10).length,
  };
}

for (const dist of dists) {
  const { MemoryStore } = await import(pathToFileURL(resolve(dist, 'store/memory/memory-store.js')).href);
  // A clock that runs (the sweeper's steps end on its time), moved past the expiry below.
  let offset = 1_700_000_000_000 - performance.now();
  const store = new MemoryStore({ clock: { now: () => offset + performance.now() } });
  const creates = new Float64Array(N);
  const createsCpu = new Float64Array(N);
  let cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const key = `g${String(i).padStart(15, '0')}`;
    const s = performance.now();
    store.create(key, VALUE, { ttlMs: 3_600_000 });
    creates[i] = performance.now() - s;
    const c = process.cpuUsage();
    createsCpu[i] = (c.user - cpu.user + c.system - cpu.system) / 1000;
    cpu = c;
  }
  await new Promise((r) => setImmediate(r));
  offset += 2 * 3_600_000;
  const steps = [];
  const stepsCpu = [];
  const timed = (work) => {
    const c0 = process.cpuUsage();
    const s = performance.now();
    work();
    steps.push(performance.now() - s);
    const c = process.cpuUsage(c0);
    stepsCpu.push((c.user + c.system) / 1000);
  };
  while (store.hasExpired()) {
    timed(() => store.maintain());
    // What the sweeper calls; a build from before sweepStep swept SWEEP_BATCH entries a step.
    timed(() => (store.sweepStep ? store.sweepStep() : store.sweepExpired()));
  }
  const grow = summary(creates);
  const growCpu = summary(createsCpu);
  const exp = summary(steps);
  const expCpu = summary(stepsCpu);
  process.stdout.write(
    `${dist}: ${N} creates with one TTL: wall p99.9 ${grow.p999} ms, max ${grow.max} ms, ${grow.over10} over 10 ms; ` +
      `CPU p99.9 ${growCpu.p999} ms, max ${growCpu.max} ms, ${growCpu.over5} over 5 ms, ${growCpu.over10} over 10 ms\n` +
      `${' '.repeat(dist.length)}  expiring them (${exp.count} sweeper steps): wall max ${exp.max} ms; CPU max ${expCpu.max} ms, ${expCpu.over5} over 5 ms, ${expCpu.over10} over 10 ms; ${store.size} keys left\n`,
  );
  store.close();
}
