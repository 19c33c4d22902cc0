// Builds the markdown report of one bench/run.sh run from the files in its results folder.
//
//   node bench/report.mjs <results-dir>            prints the report (bench/run.sh saves it as report.md)
//   node bench/report.mjs annotate <file> <json>   merges a JSON object into a result file (used by run.sh)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TARGET_NAMES = { kv: 'kv_store', ref: 'reference', webdis: 'webdis', ceiling: 'ceiling (canned answers)' };
const LOAD_NAMES = { get: 'GET', put: 'PUT (overwrite)', post: 'POST (new key)', delete: 'DELETE', mix: '90/10 GET/PUT' };

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const maybeJson = (file) => (existsSync(file) ? readJson(file) : undefined);

if (process.argv[2] === 'annotate') {
  const [file, extra] = process.argv.slice(3);
  writeFileSync(file, JSON.stringify({ ...readJson(file), ...JSON.parse(extra) }));
  process.exit(0);
}

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: report.mjs <results-dir> | annotate <file> <json>\n');
  process.exit(2);
}
const raw = join(dir, 'raw');
const env = readJson(join(dir, 'env.json'));

// --- one measured wrk run --------------------------------------------------------------------
/** The numbers of one result file: req/s, latencies in ms, errors, CPU of others on the server core. */
function run(file) {
  const j = readJson(file);
  const e = j.errors;
  const errors = e.connect + e.read + e.write + e.status + e.timeout;
  const cpu = j.cpu;
  let othersPct = null;
  if (cpu !== undefined && cpu.coreTicks > 0) {
    const busy = cpu.coreTicks - cpu.coreIdleTicks;
    othersPct = Math.max(0, (100 * (busy - cpu.serverTicks)) / cpu.coreTicks);
  }
  // The same on the load generator's core: what did not run wrk.
  let clientOthersPct = null;
  if (cpu?.clientCoreTicks > 0 && cpu.wrkCpuS !== undefined) {
    const busy = cpu.clientCoreTicks - cpu.clientCoreIdleTicks;
    clientOthersPct = Math.max(0, (100 * (busy - cpu.wrkCpuS * (cpu.clkTck ?? 100))) / cpu.clientCoreTicks);
  }
  const l = j.latency_us;
  const durationS = j.duration_us / 1e6;
  return {
    durationS,
    ranOut: j.load === 'delete' && j.deleteKeys !== undefined && (j.deleteOffset ?? 0) + j.issued > j.deleteKeys,
    wrkCpuPct: cpu?.wrkCpuS === undefined ? null : (100 * cpu.wrkCpuS) / durationS,
    serverPct: cpu?.serverTicks === undefined ? null : (100 * cpu.serverTicks) / (cpu.clkTck ?? 100) / durationS,
    rps: j.requests / durationS,
    p50: l.p50 / 1000,
    p99: l.p99 / 1000,
    p999: l.p999 / 1000,
    max: l.max / 1000,
    errors,
    requests: j.requests,
    othersPct,
    clientOthersPct,
  };
}

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Measured throughput runs of a target and load, one per process start. */
function runsOf(target, load) {
  if (!existsSync(raw)) return [];
  return readdirSync(raw)
    .filter((f) => new RegExp(`^tp-${target}-s\\d+-${load}\\.json$`).test(f))
    .sort()
    .map((f) => run(join(raw, f)));
}

/** The median of each number over the process starts; errors are summed. */
function summary(runs) {
  if (runs.length === 0) return undefined;
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    minRps: Math.min(...runs.map((r) => r.rps)),
    maxRps: Math.max(...runs.map((r) => r.rps)),
    othersPct: median(runs.map((r) => r.othersPct)),
    clientOthersPct: median(runs.map((r) => r.clientOthersPct)),
    wrkCpuPct: median(runs.map((r) => r.wrkCpuPct)),
    ranOut: runs.filter((r) => r.ranOut).map((r) => r.durationS),
    starts: runs.length,
  };
}

const pctCell = (n) => (n === null || n === undefined ? '—' : `${n.toFixed(0)}%`);
const int = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const ms = (n) => (n === null || n === undefined ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const ratio = (a, b) => (a === undefined || b === undefined || !b ? '—' : `${(a / b).toFixed(2)}×`);
const mib = (bytes) => (bytes === null || bytes === undefined ? '—' : `${(bytes / 1048576).toFixed(1)} MiB`);
const perKey = (bytes, keys) => (bytes === null || bytes === undefined || !keys ? '—' : `${Math.round(bytes / keys)} B`);

const out = [];
const settings = env.settings;
const targets = settings.targets.split(/\s+/).filter(Boolean);
const loads = settings.loads.split(/\s+/).filter(Boolean);

out.push(`## kv_store benchmark, ${env.date}${env.quick ? ' (QUICK MODE: 2 s runs and one start; a smoke test)' : ''}`);
out.push('');
out.push(
  `\`${env.command}\` on ${env.nproc} × ${env.cpuModel}, ${Math.round(env.memTotalKb / 1048576)} GiB, ${env.os}, ` +
    `kernel ${env.kernel}; Node.js ${env.node}, wrk ${env.wrk}, redis-server ${env.redis}, webdis ${env.webdis} ` +
    `(${env.webdisThreads} thread). kv_store at commit ${env.gitCommit}${env.kvStoreSourceChanged ? ' plus uncommitted changes in src/kv_store/src' : ''}. ` +
    `Load average ${env.loadAvgStart} at the start${env.loadAvgEnd ? `, ${env.loadAvgEnd} at the end` : ''}.`,
);
out.push('');
out.push(
  `Servers on CPU ${settings.serverCpu}, wrk on CPU ${settings.clientCpu}; wrk -t${settings.threads} -c${settings.connections}, ` +
    `${settings.durationS} s measured after a ${settings.warmupS} s warm-up; ${int(settings.keys)} preloaded ${settings.keyBytes}-byte keys, ` +
    `${settings.valueBytes}-byte values, a random key per request. kv_store: the median of ${settings.starts} process start(s) ` +
    '(req/s range across starts in brackets; errors summed over the starts).',
);
if (existsSync(join(dir, 'webdis-missing.txt'))) out.push('', '**webdis was not available on this machine; its rows are missing.**');

// --- throughput ----------------------------------------------------------------------------------
out.push('', '### Throughput and latency', '');
out.push(
  '| load | server | req/s | p50 ms | p99 ms | errors | vs webdis | vs reference | of the ceiling | others on server CPU | others on wrk CPU | wrk CPU |',
);
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const ranOut = [];
for (const load of loads) {
  const s = Object.fromEntries(targets.map((t) => [t, summary(runsOf(t, load))]));
  for (const target of targets) {
    const r = s[target];
    if (r === undefined) continue;
    const range = r.starts > 1 ? ` (${int(r.minRps)}–${int(r.maxRps)})` : '';
    const mark = r.ranOut.length > 0 ? ' †' : '';
    if (mark) ranOut.push(`${TARGET_NAMES[target] ?? target}: ${r.ranOut.map((d) => `${d.toFixed(1)} s`).join(', ')}`);
    out.push(
      `| ${LOAD_NAMES[load] ?? load} | ${TARGET_NAMES[target] ?? target} | ${int(r.rps)}${range}${mark} | ${ms(r.p50)} | ${ms(r.p99)} | ${int(r.errors)} | ` +
        `${target === 'webdis' ? '—' : ratio(r.rps, s.webdis?.rps)} | ${target === 'ref' ? '—' : ratio(r.rps, s.ref?.rps)} | ` +
        `${target === 'ceiling' ? '—' : ratio(r.rps, s.ceiling?.rps)} | ` +
        `${pctCell(r.othersPct)} | ${pctCell(r.clientOthersPct)} | ${pctCell(r.wrkCpuPct)} |`,
    );
  }
}
out.push(
  '',
  '"vs" columns: this row\'s req/s divided by that server\'s for the same load. Errors: non-2xx/3xx answers and socket errors. ' +
    '"Others on server CPU" / "on wrk CPU": the share of that core used by anything but the server under test / wrk during the ' +
    'measured run (the noise of a shared machine; interrupts included). "wrk CPU": the load generator\'s CPU time over the run; near 100% it, not the server, may be the limit. ' +
    'The ceiling (bench/ceiling-server.mjs) is a Node.js process that stores and checks nothing: it frames each request and writes ' +
    'the bytes kv_store would answer, canned, so its row is the most any Node.js server makes on this machine and this load generator ' +
    '(with its wrk CPU near 100%, the load generator is the limit: then it is the most this setup can measure); ' +
    'its "vs webdis" is the highest ratio a Node.js kv_store could show here, and its p99 the lowest.',
);
if (ranOut.length > 0) {
  out.push('', `† The DELETE run used up its preloaded keys and stopped early; its rate is over the time it ran (${ranOut.join('; ')}).`);
}

// --- metrics A/B -------------------------------------------------------------------------------------
/** The measured runs of the metrics A/B for one variant (on, off) and load. */
function abRuns(variant, load) {
  if (!existsSync(raw)) return [];
  return readdirSync(raw)
    .filter((f) => new RegExp(`^ab-metrics-${variant}-s\\d+-${load}\\.json$`).test(f))
    .sort()
    .map((f) => run(join(raw, f)));
}
const abLoads = ['get', 'put'].filter((load) => abRuns('on', load).length > 0 && abRuns('off', load).length > 0);
if (abLoads.length > 0) {
  out.push('', '### Cost of metrics: KV_METRICS=on against off (A/B)', '');
  out.push(
    `kv_store as above, ${abRuns('on', abLoads[0]).length} process start(s) of each, interleaved; the median of the starts, ` +
      'the range across them in brackets. With metrics on, every answer is counted by method, route and status and timed into ' +
      'the duration histogram; /metrics is not scraped during the runs.',
  );
  out.push('');
  out.push('| load | on: req/s | off: req/s | on / off | on: p99 ms | off: p99 ms | errors |');
  out.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const load of abLoads) {
    const on = summary(abRuns('on', load));
    const off = summary(abRuns('off', load));
    const range = (s) => (s.starts > 1 ? ` (${int(s.minRps)}-${int(s.maxRps)})` : '');
    out.push(
      `| ${LOAD_NAMES[load] ?? load} | ${int(on.rps)}${range(on)} | ${int(off.rps)}${range(off)} | ${((100 * on.rps) / off.rps).toFixed(1)}% | ` +
        `${ms(on.p99)} | ${ms(off.p99)} | ${int(on.errors + off.errors)} |`,
    );
  }
}

// The same A/B in instructions per request (bench/request-count.sh under callgrind).
const instructionsFile = join(raw, 'ab-metrics-instructions.jsonl');
if (existsSync(instructionsFile)) {
  const counts = readFileSync(instructionsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const count = (label, load) => counts.find((c) => c.label === label && c.load === load)?.irPerRequest;
  const counted = ['get', 'put'].filter((load) => count('on', load) !== undefined && count('off', load) !== undefined);
  if (counted.length > 0) {
    out.push('', '### Cost of metrics, in instructions per request (callgrind)', '');
    out.push(
      `bench/request-count.sh: kv_store under valgrind's callgrind, 10,000 keys, a warm-up, then ${int(counts[0].requests)} ` +
        'requests over 50 connections; the instructions kv_store ran in user space over those requests, divided by them (the ' +
        "kernel's socket work is not counted, so the share of the whole request is smaller still). Unlike req/s, the count " +
        'hardly moves from run to run; it still moves by a few percent with how busy the machine is (a slower process takes ' +
        'fewer requests per turn of its event loop), so on and off run one after the other, under the same conditions.',
    );
    out.push('', '| load | on: instructions | off: instructions | on − off | (on − off) / off |', '|---|---:|---:|---:|---:|');
    for (const load of counted) {
      const on = count('on', load);
      const off = count('off', load);
      out.push(`| ${LOAD_NAMES[load] ?? load} | ${int(on)} | ${int(off)} | ${int(on - off)} | ${((100 * (on - off)) / off).toFixed(1)}% |`);
    }
  }
}

// --- memory ------------------------------------------------------------------------------------------
const memDir = join(dir, 'memory');
const kvSmall = maybeJson(join(memDir, 'kv-small.json'));
const kvLoaded = maybeJson(join(memDir, 'kv-loaded.json'));
const kvEmpty = maybeJson(join(memDir, 'kv-empty.json'));
const rSmall = maybeJson(join(memDir, 'redis-small.json'));
const rLoaded = maybeJson(join(memDir, 'redis-loaded.json'));
const memKeys = settings.memKeys;
if (kvLoaded !== undefined) {
  let charged = null;
  try {
    const entry = await import(new URL('../src/kv_store/dist/store/memory/entry-cost.js', import.meta.url));
    charged = entry.entryCost('k'.repeat(settings.keyBytes), 'v'.repeat(settings.valueBytes));
  } catch {
    // an older or newer kv_store without entryCost: leave the row out
  }
  const heap = (m) => m?.afterGc?.heapUsed;
  const ext = (m) => (m?.afterGc === undefined ? undefined : m.afterGc.external + m.afterGc.arrayBuffers);
  out.push('', `### Memory with ${int(memKeys)} keys (${settings.keyBytes}-byte keys, ${settings.valueBytes}-byte values)`, '');
  out.push(`Loaded over HTTP (kv_store) and with redis-cli --pipe (redis), on top of the ${int(settings.keys)} benchmark keys; `);
  out.push(
    'kv_store\'s heap is read after two full GCs. "Per key" is the growth from before the load to after it, divided by the keys loaded.',
  );
  out.push('');
  out.push('| | kv_store | redis-server |', '|---|---:|---:|');
  out.push(`| heap used / used_memory, before | ${mib(heap(kvSmall))} | ${mib(rSmall?.usedMemory)} |`);
  out.push(`| heap used / used_memory, loaded | ${mib(heap(kvLoaded))} | ${mib(rLoaded?.usedMemory)} |`);
  out.push(
    `| **heap / used_memory per key** | **${perKey(heap(kvLoaded) - heap(kvSmall), memKeys)}** | **${perKey(rLoaded?.usedMemory - rSmall?.usedMemory, memKeys)}** |`,
  );
  out.push(`| RSS (VmRSS), before | ${mib(kvSmall?.vmRssBytes)} | ${mib(rSmall?.vmRssBytes)} |`);
  out.push(`| RSS (VmRSS), loaded | ${mib(kvLoaded.vmRssBytes)} | ${mib(rLoaded?.vmRssBytes)} |`);
  out.push(
    `| RSS per key | ${perKey(kvLoaded.vmRssBytes - kvSmall?.vmRssBytes, memKeys)} | ${perKey(rLoaded?.vmRssBytes - rSmall?.vmRssBytes, memKeys)} |`,
  );
  out.push(`| peak RSS (VmHWM) | ${mib(kvLoaded.vmHwmBytes)} | ${mib(rLoaded?.vmHwmBytes)} |`);
  out.push(`| kv_store external + array buffers, loaded | ${mib(ext(kvLoaded))} | |`);
  out.push(
    `| empty process: heap / RSS | ${mib(heap(kvEmpty))} / ${mib(kvEmpty?.vmRssBytes)} | ${mib(maybeJson(join(memDir, 'redis-empty.json'))?.usedMemory)} / ${mib(maybeJson(join(memDir, 'redis-empty.json'))?.vmRssBytes)} |`,
  );
  if (charged !== null) out.push(`| kv_store's own estimate (entryCost, counted against KV_MAX_MEMORY_BYTES) | ${charged} B | |`);
  const load = maybeJson(join(raw, 'load-mem-m.json'));
  if (load !== undefined) {
    out.push(
      '',
      `Loading ${int(memKeys)} keys into kv_store over HTTP (POST, wrk -c${settings.connections}): ${int(load.requests / (load.duration_us / 1e6))} req/s.`,
    );
  }
}

// --- scale -------------------------------------------------------------------------------------------
const scaleRows = [
  ['kv_store', int(settings.keys), join(raw, 'scale-kv-small.json')],
  ['kv_store', `${int(settings.keys)} + ${int(memKeys)}`, join(raw, 'scale-kv-large.json')],
  ['webdis', int(settings.keys), join(raw, 'tp-webdis-s1-get.json')],
  ['webdis', `${int(settings.keys)} + ${int(memKeys)}`, join(raw, 'scale-webdis-large.json')],
].filter(([, , f]) => existsSync(f));
if (scaleRows.length > 0) {
  out.push('', '### Scale: GET on a small and a large store', '');
  out.push('Random keys from the whole key space of that size (kv_store: one process, before and after the load above).', '');
  out.push(
    '| server | keys | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | others on server / wrk CPU |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const [name, keys, f] of scaleRows) {
    const r = run(f);
    out.push(
      `| ${name} | ${keys} | ${int(r.rps)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.p999)} | ${ms(r.max)} | ${int(r.errors)} | ${pctCell(r.othersPct)} / ${pctCell(r.clientOthersPct)} |`,
    );
  }
}

// --- listing and watch --------------------------------------------------------------------------------
const lwDir = join(dir, 'listwatch');
const pageFile = join(raw, 'scale-kv-large-list.json');
const getFile = join(raw, 'scale-kv-large.json');
const listAll = ['kv', 'redis', 'etcd'].map((m) => [m, maybeJson(join(lwDir, `list-all-${m}.json`))]).filter(([, r]) => r !== undefined);
const watchNone = join(raw, 'watch-none.json');
const watchMany = join(raw, 'watch-many.json');
if (existsSync(pageFile) || listAll.length > 0 || existsSync(watchMany)) {
  out.push('', '### Listing and watch', '');
  if (existsSync(pageFile) && existsSync(getFile)) {
    // Rounds of a GET run then a page run (bench/run.sh): round 1 is scale-kv-large(-list), then -r2, -r3.
    const rounds = [];
    for (const suffix of ['', '-r2', '-r3']) {
      const g = join(raw, `scale-kv-large${suffix}.json`);
      const p = join(raw, `scale-kv-large-list${suffix}.json`);
      if (existsSync(g) && existsSync(p)) rounds.push({ get: run(g), page: run(p) });
    }
    const ratios = rounds.map((r) => r.get.rps / r.page.rps);
    out.push(
      `A 100-key page (\`GET /v1/?limit=100&start=<random key>\`: keys and their numbers, no values) against a single GET, both on kv_store with ${int(settings.keys)} + ${int(memKeys)} keys, the same process: ${rounds.length} round(s) of a GET run then a page run, each page compared with the GET run just before it; the cost is the median of the rounds.`,
      '',
      '| round | GET req/s | GET p99 ms | page req/s | page p50 ms | page p99 ms | errors | cost vs a GET (GET req/s ÷ page req/s) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rounds.map(
        (r, i) =>
          `| ${i + 1} | ${int(r.get.rps)} | ${ms(r.get.p99)} | ${int(r.page.rps)} | ${ms(r.page.p50)} | ${ms(r.page.p99)} | ${int(r.get.errors + r.page.errors)} | ${(ratios[i] ?? 0).toFixed(2)}× |`,
      ),
      `| **median** | | | | | | | **${median(ratios).toFixed(2)}×** (target ≤ 3×) |`,
    );
  }
  if (listAll.length > 0) {
    const name = {
      kv: 'kv_store: GET /v1/?limit=1000, following cursors (one revision)',
      redis: 'redis-server: SCAN, COUNT 1000 (keys may repeat)',
      etcd: "etcd: range through its JSON gateway, limit 1000, keys_only, pinned to the first page's revision",
    };
    const etcdVersion = existsSync(join(lwDir, 'etcd-version.txt'))
      ? readFileSync(join(lwDir, 'etcd-version.txt'), 'utf8').trim()
      : undefined;
    out.push(
      '',
      `Listing every key (${int(settings.keys)} + ${int(memKeys)}), one client on the load generator's CPU, the server on its own${etcdVersion === undefined ? '' : `; etcd ${etcdVersion}`}:`,
      '',
      '| how | keys | seconds | keys/s | vs kv_store |',
      '|---|---:|---:|---:|---:|',
    );
    const kvRate = listAll.find(([m]) => m === 'kv')?.[1]?.keysPerS;
    for (const [m, r] of listAll)
      out.push(
        `| ${name[m]} | ${int(r.keys)} | ${r.seconds.toFixed(2)} | ${int(r.keysPerS)} | ${m === 'kv' ? '—' : ratio(kvRate, r.keysPerS)} |`,
      );
    if (existsSync(join(lwDir, 'etcd-missing.txt'))) out.push('', '(etcd is not installed: its row is missing.)');
  }
  if (existsSync(watchMany) && existsSync(watchNone)) {
    // Rounds of a run without watchers then one with them (bench/run.sh): round 1 is
    // watch-none / watch-many, then -r2, -r3; each with its own watchers(-rN).json.
    const rounds = [];
    for (const suffix of ['', '-r2', '-r3']) {
      const n = join(raw, `watch-none${suffix}.json`);
      const m = join(raw, `watch-many${suffix}.json`);
      if (existsSync(n) && existsSync(m)) rounds.push({ none: run(n), many: run(m), w: maybeJson(join(lwDir, `watchers${suffix}.json`)) });
    }
    const kept = rounds.map((r) => r.many.rps / r.none.rps);
    const first = rounds[0].w;
    const watchers = int(first?.watchers ?? settings.watchers);
    out.push(
      '',
      `PUT (overwrite) throughput of wrk on ${int(settings.keys)} keys, without watchers and with ${watchers} SSE watchers of the prefix \`w/\`, ` +
        `to which a probe writer PUTs one key every ${settings.probeMs} ms during the run; delivery latency is from the probe's answer ` +
        "to its event on each watcher (watchers and probe in one process on the load generator's CPU; an event before the answer counts as 0). " +
        `The same kv_store process: ${rounds.length} round(s) of a run without watchers and then one with them (connected for that run only), ` +
        'each compared with the run just before it; what writes keep is the median of the rounds.',
      '',
      '| round | no watchers: PUT req/s | p99 ms | with watchers (streaming): PUT req/s | p99 ms | errors | kv_store CPU (none / with) | wrk CPU (none / with) | others on server / wrk CPU (with) | kept | delivery p50 / p99 ms |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rounds.map(
        (r, i) =>
          `| ${i + 1} | ${int(r.none.rps)} | ${ms(r.none.p99)} | ${int(r.many.rps)} (${int(r.w?.streaming)}) | ${ms(r.many.p99)} | ${int(r.none.errors + r.many.errors)} | ` +
          `${pctCell(r.none.serverPct)} / ${pctCell(r.many.serverPct)} | ${pctCell(r.none.wrkCpuPct)} / ${pctCell(r.many.wrkCpuPct)} | ` +
          `${pctCell(r.many.othersPct)} / ${pctCell(r.many.clientOthersPct)} | ${(100 * kept[i]).toFixed(0)}% | ${ms(r.w?.p50Ms)} / ${ms(r.w?.p99Ms)} |`,
      ),
      `| **median** | | | | | | | | | **${(100 * median(kept)).toFixed(0)}%** (target ≥ 80%) | |`,
      '',
      '"kv_store CPU" and "wrk CPU": the share of one core each used over the run. When kv_store is far from a full core while wrk ' +
        'is starved (the watchers share its core), the write rate measures the load generator, not kv_store.',
    );
    const ws = rounds.map((r) => r.w).filter((w) => w !== undefined);
    if (ws.length > 0) {
      const sum = (pick) => ws.reduce((n, w) => n + (pick(w) ?? 0), 0);
      const p99s = ws.map((w) => w.p99Ms);
      out.push(
        '',
        `Delivery, all rounds: ${int(sum((w) => w.probes))} probe writes, ${int(sum((w) => w.deliveries))} events received (${int(sum((w) => w.missing))} missing, ` +
          `${int(sum((w) => w.cutOff))} watchers cut off as slow consumers); latency p50 ${ws.map((w) => ms(w.p50Ms)).join(' / ')} ms, ` +
          `**p99 ${p99s.map((v) => ms(v)).join(' / ')} ms** by round (target ≤ 50 ms; highest **${ms(Math.max(...p99s))} ms**), max ${ms(Math.max(...ws.map((w) => w.maxMs)))} ms.`,
      );
      // Older results have no request times.
      if (ws.every((w) => w.sentP99Ms !== undefined)) {
        out.push(
          '',
          `${int(sum((w) => w.beforeAnswer))} of the ${int(sum((w) => w.deliveries))} events reached their watcher before the probe had read the write's answer. ` +
            `From the probe's request (sent before the answer and the event), by round: p50 ${ws.map((w) => ms(w.sentP50Ms)).join(' / ')} ms, ` +
            `p99 ${ws.map((w) => ms(w.sentP99Ms)).join(' / ')} ms, max ${ms(Math.max(...ws.map((w) => w.sentMaxMs)))} ms.`,
        );
      }
    }
  }
}

// --- expiry ------------------------------------------------------------------------------------------
const expDir = join(dir, 'expiry');
const window = join(raw, 'exp-kv-window.json');
if (existsSync(window)) {
  const check = maybeJson(join(expDir, 'kv-check.json'));
  const before = maybeJson(join(expDir, 'kv-before.json'));
  const after = maybeJson(join(expDir, 'kv-after.json'));
  const start = maybeJson(join(expDir, 'kv-window-start.json'));
  const end = maybeJson(join(expDir, 'kv-window-end.json'));
  const invalid = maybeJson(join(expDir, 'invalid.json'));
  out.push('', `### Expiry: ${int(memKeys)} keys expiring in the same millisecond`, '');
  out.push(
    `kv_store holds ${int(settings.keys)} plain keys and ${int(memKeys)} keys whose TTLs all end at one instant; wrk GETs the plain keys. ` +
      `The window run starts ${check ? check.leadMs / 1000 : '?'} s before that instant and lasts ${settings.durationS} s. ` +
      'Event-loop delay is measured inside kv_store (perf_hooks, 10 ms resolution).',
  );
  if (invalid !== undefined) out.push('', `**Not valid: ${invalid.error}.**`);
  out.push(
    '',
    '| run | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | event-loop delay max / p99 ms | others on server / wrk CPU |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const base = join(raw, 'exp-kv-baseline.json');
  if (existsSync(base)) {
    const r = run(base);
    const el = start?.eventLoop;
    out.push(
      `| keys live (baseline) | ${int(r.rps)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.p999)} | ${ms(r.max)} | ${int(r.errors)} | ${el ? `${el.maxMs} / ${el.p99Ms}` : '—'} | ${pctCell(r.othersPct)} / ${pctCell(r.clientOthersPct)} |`,
    );
  }
  const r = run(window);
  const el = end?.eventLoop;
  out.push(
    `| **across the expiry** | ${int(r.rps)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.p999)} | ${ms(r.max)} | ${int(r.errors)} | ${el ? `${el.maxMs} / ${el.p99Ms}` : '—'} | ${pctCell(r.othersPct)} / ${pctCell(r.clientOthersPct)} |`,
  );
  out.push(
    '',
    `Heap after GC: ${mib(before?.afterGc?.heapUsed)} with the keys live, ${mib(after?.afterGc?.heapUsed)} after they expired; ` +
      `RSS ${mib(before?.vmRssBytes)} → ${mib(after?.vmRssBytes)}. An expired key then answers ${check?.expiredKeyStatus ?? '?'}.`,
  );
}

// --- pauses (bench/pauses.sh) ---------------------------------------------------------------------------
const pauseDir = join(dir, 'pauses');
if (existsSync(pauseDir) && readdirSync(pauseDir).some((f) => f.endsWith('-probe.json'))) {
  const p = (name) => maybeJson(join(pauseDir, name));
  const growKeys = p('kv-grow-rss.json')?.keys ?? p('redis-grow-rss.json')?.keys;
  const expKeys = p('kv-expiry-check.json')?.keys ?? p('redis-expiry-check.json')?.keys;
  out.push('', '### Pauses: what a request waits while the store grows and while keys expire at once', '');
  out.push(
    'An external probe (bench/pause-probe.mjs) GETs one key every 2 ms on a connection of its own, one request in flight, ' +
      "on the load generator's CPU; the server runs on its own CPU. kv_store runs with `--trace-gc` (its longest collector pause, " +
      'from bench/gc-trace.mjs, is for the whole process run); redis-server is reached through webdis, and `redis-cli --latency` ' +
      'samples redis-server directly during the same window. Targets (issue 17, quiet machine): probe p99.9 ≤ 5 ms and no request over 10 ms. ' +
      '"> 10 ms after 1 s" leaves out the first second of a window that begins with a fresh process, which compiles its request path while the load starts. ' +
      '"others / steal / iowait" is the server core\'s time taken by other processes, stolen by the hypervisor, and waiting for I/O: ' +
      "a busy machine's pauses are not the server's.",
  );
  out.push(
    '',
    '| window | server | probes | p50 ms | p99 ms | p99.9 ms | max ms | > 5 ms | > 10 ms | > 10 ms after 1 s | longest GC pause ms (kind) | redis-cli --latency max / avg ms | others / steal / iowait on server core | load avg |',
  );
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const windows = [
    // The last: whether the window begins with a fresh process (a warm-up to leave out).
    ['grow', `growing 0 → ${int(growKeys ?? 0)} keys`, 'grow', true],
    ['expiry-load', `loading ${int(expKeys ?? 0)} keys with one expiry time`, 'expiry', true],
    ['expiry-instant', `${int(expKeys ?? 0)} keys expiring (from 1 s before the instant, 6 s)`, 'expiry', false],
  ];
  for (const [window, label, gcOf, fresh] of windows) {
    for (const target of ['kv', 'redis']) {
      const probe = p(`${target}-${window}-probe.json`);
      if (probe === undefined) continue;
      const cpu = p(`${target}-${window}-cpu.json`);
      const gc = target === 'kv' ? p(`kv-${gcOf}-gc.json`) : undefined;
      const lat = target === 'redis' ? p(`redis-${window}-latency.json`) : undefined;
      out.push(
        `| ${label} | ${target === 'kv' ? 'kv_store' : 'redis-server via webdis'} | ${int(probe.count)} | ${ms(probe.p50)} | ${ms(probe.p99)} | ${ms(probe.p999)} | ${ms(probe.max)} | ${int(probe.over5ms)} | ${int(probe.over10ms)} | ` +
          `${probe.over10 === undefined || !fresh ? '—' : int(probe.over10.filter((r) => r.atMs >= 1000).length)} | ` +
          `${gc ? `${ms(gc.maxMs)} (${gc.maxKind ?? '—'})` : '—'} | ${lat ? `${ms(lat.maxMs)} / ${ms(lat.avgMs)}` : '—'} | ` +
          `${cpu ? `${pctCell(cpu.othersPct)} / ${pctCell(cpu.stealPct)} / ${pctCell(cpu.iowaitPct)}` : '—'} | ${cpu ? `${cpu.loadAvgStart} → ${cpu.loadAvgEnd}` : '—'} |`,
      );
    }
  }
  const kvRss = p('kv-grow-rss.json');
  const redisRss = p('redis-grow-rss.json');
  const kvExp = p('kv-expiry-check.json');
  const redisExp = p('redis-expiry-check.json');
  const notes = [];
  if (kvRss && redisRss)
    notes.push(`RSS after growing: kv_store ${mib(kvRss.rssKiB * 1024)}, redis-server ${mib(redisRss.rssKiB * 1024)}.`);
  if (kvExp) notes.push(`After the expiry window an expired key answers ${kvExp.expiredKeyStatus} from kv_store.`);
  if (redisExp) notes.push(`redis-server holds ${int(redisExp.keysLeft)} keys after its window (its active expiry works in cycles).`);
  const gcs = ['grow', 'expiry'].map((w) => [w, p(`kv-${w}-gc.json`)]).filter(([, g]) => g !== undefined);
  for (const [w, g] of gcs) {
    const kinds = Object.entries(g.kinds)
      .map(([k, v]) => `${v.count} ${k} (max ${ms(v.maxMs)} ms, ${ms(v.totalMs)} ms in all)`)
      .join(', ');
    notes.push(`kv_store's collections in the ${w} run: ${kinds || 'none'}.`);
  }
  if (notes.length > 0) out.push('', notes.join(' '));
}

// --- durability ------------------------------------------------------------------------------------
/** A durability row: the median of a server's starts (`dur-<kv|webdis>-<mode>-s<n>-put`; one older `dur-<target>-<mode>-put`). */
const durRow = (target, mode) => {
  if (!existsSync(raw)) return undefined;
  const pattern = new RegExp(`^dur-${target}-${mode}(-s\\d+)?-put\\.json$`);
  return summary(
    readdirSync(raw)
      .filter((f) => pattern.test(f))
      .sort()
      .map((f) => run(join(raw, f))),
  );
};
if (['memory', 'always', 'everysec', 'no'].some((m) => durRow('kv', m) !== undefined)) {
  out.push('', "### Durability: writes with KV_DATA_DIR beside redis-server's AOF", '');
  out.push(
    `PUT (overwrite) of ${int(settings.keys)} preloaded keys, wrk -c${settings.connections}. Each server: the median of its process starts per setting, ` +
      'every setting of both started in turn in each round (req/s range across starts in brackets). kv_store with KV_DATA_DIR ' +
      'on the same disk as the results and each KV_FSYNC setting; redis-server with `appendonly yes` and the matching `appendfsync`, ' +
      'through webdis. "vs in memory": req/s over kv_store without KV_DATA_DIR; "vs redis": over webdis + redis-server with the same setting.',
  );
  out.push('', '| server | fsync | req/s | p50 ms | p99 ms | errors | vs in memory | vs redis, same fsync | others on server / wrk CPU |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  const memory = durRow('kv', 'memory');
  for (const [target, mode] of [
    ['kv', 'memory'],
    ['kv', 'always'],
    ['kv', 'everysec'],
    ['kv', 'no'],
    ['webdis', 'always'],
    ['webdis', 'everysec'],
    ['webdis', 'no'],
  ]) {
    const r = durRow(target, mode);
    if (r === undefined) continue;
    const name = target === 'kv' ? 'kv_store' : 'webdis + redis-server (AOF)';
    const fsync = mode === 'memory' ? '— (in memory)' : target === 'kv' ? `KV_FSYNC=${mode}` : `appendfsync ${mode}`;
    const vsMemory = target === 'kv' && mode !== 'memory' ? ratio(r.rps, memory?.rps) : '—';
    const vsRedis = target === 'kv' && mode !== 'memory' ? ratio(r.rps, durRow('webdis', mode)?.rps) : '—';
    out.push(
      `| ${name} | ${fsync} | ${int(r.rps)}${r.starts > 1 ? ` (${int(r.minRps)}–${int(r.maxRps)})` : ''} | ${ms(r.p50)} | ${ms(r.p99)} | ${int(r.errors)} | ${vsMemory} | ${vsRedis} | ${pctCell(r.othersPct)} / ${pctCell(r.clientOthersPct)} |`,
    );
  }
}
const durDir = join(dir, 'durability');
const restarts = existsSync(durDir)
  ? readdirSync(durDir)
      .filter((f) => /^restart-.*\.json$/.test(f))
      .sort()
      .map((f) => readJson(join(durDir, f)))
  : [];
if (restarts.length > 0) {
  const LOADS = {
    // redis-server 7 rewrites its AOF by itself once it passes 64 MB: part of a large load is then an RDB base.
    'redis-aof': 'its AOF as the load left it (every SET, or an RDB base and the SETs after it)',
    'redis-rdb': 'its AOF after BGREWRITEAOF (an RDB preamble)',
  };
  out.push('', `### Restart with ${int(restarts[0].keys)} keys`, '');
  out.push(
    'Keys loaded (16-byte keys, 100-byte values), then the time from starting the process to its first answer ' +
      '(kv_store: GET /healthz, served once recovery is done; redis-server: PONG, not LOADING). kv_store starts after a kill -9 ' +
      '(its last snapshot and the log after it) and after a clean stop (a stop writes a snapshot when commits were logged since the last: ' +
      '`KV_SNAPSHOT_ON_STOP`); redis-server after SHUTDOWN, from its AOF and from its RDB-preamble AOF. In each round the four start in turn, ' +
      'each on a fresh copy of its directory as it was left. Recovery: what kv_store logs it took. "stop before": how long the stop ' +
      'before that start took. "cores": the CPUs the server could run on (`taskset`). kv_store\'s recovery faults the memory it will fill ' +
      'in on a second thread when it has two cores; redis-server loads on one thread either way.',
  );
  out.push(
    '',
    '| server | after | loads | keys | cores | start to first answer | recovery | stop before | RSS after | data on disk |',
    '|---|---|---|---:|---|---:|---:|---:|---:|---:|',
  );
  const kvLoads = (r) => {
    if (!(r.snapshotEntries > 0)) return `its log (${int(r.logCommits)} commits)`;
    if (!(r.logCommits > 0)) return `its snapshot (${int(r.snapshotEntries)} entries), no log`;
    return `its snapshot (${int(r.snapshotEntries)} entries) and the log after it (${int(r.logCommits)} commits)`;
  };
  for (const r of restarts) {
    const kv = r.server === 'kv';
    out.push(
      `| ${kv ? `kv_store (start ${r.run})` : `redis-server (start ${r.run})`} | ${kv ? (r.after ?? 'clean stop') : 'SHUTDOWN'} | ${kv ? kvLoads(r) : (LOADS[r.server] ?? r.server)} | ${int(r.keys)} | ${r.cpus ?? '—'} | ${int(r.startMs)} ms | ${r.recoveryMs == null ? '—' : `${int(r.recoveryMs)} ms`} | ${r.stopMs == null ? '—' : `${int(r.stopMs)} ms`} | ${mib(r.rssBytes)} | ${mib(r.diskBytes)} |`,
    );
  }
  // Medians of each kind of start, and kv_store's against redis-server's with both cores.
  const medianMs = (rows) => (rows.length === 0 ? undefined : median(rows.map((r) => r.startMs)));
  const both = (r) => r.cpus === undefined || r.cpus.includes(',');
  const kvKill = medianMs(restarts.filter((r) => r.server === 'kv' && r.after === 'kill -9' && both(r)));
  const kvClean = medianMs(restarts.filter((r) => r.server === 'kv' && r.after === 'clean stop' && both(r)));
  const kvOneCore = medianMs(restarts.filter((r) => r.server === 'kv' && !both(r)));
  const aof = medianMs(restarts.filter((r) => r.server === 'redis-aof'));
  const rdb = medianMs(restarts.filter((r) => r.server === 'redis-rdb'));
  const msCell = (v) => (v === undefined ? '—' : `${int(v)} ms`);
  out.push(
    '',
    'Medians of each kind of start: ' +
      `kv_store after a kill -9 ${msCell(kvKill)} against redis-server from its AOF ${msCell(aof)} (${ratio(kvKill, aof)}); ` +
      `kv_store after a clean stop ${msCell(kvClean)} against redis-server from its RDB-preamble AOF ${msCell(rdb)} (${ratio(kvClean, rdb)}); ` +
      `kv_store after a clean stop on one core ${msCell(kvOneCore)} (${ratio(kvOneCore, rdb)} of the RDB-preamble load).`,
  );
  // Each kv_store start against redis-server's start of the same round (bench/run.sh starts them in turn).
  const pairs = (after, server) =>
    restarts
      .filter((r) => r.server === 'kv' && r.after === after && both(r) && r.round !== undefined)
      .map((kv) => [kv, restarts.find((r) => r.server === server && r.round === kv.round)])
      .filter(([, redis]) => redis !== undefined)
      .map(([kv, redis]) => kv.startMs / redis.startMs);
  const pairCell = (ratios) =>
    ratios.length === 0 ? '—' : `${ratios.map((x) => `${x.toFixed(2)}×`).join(' / ')}, median **${median(ratios).toFixed(2)}×**`;
  const killPairs = pairs('kill -9', 'redis-aof');
  const cleanPairs = pairs('clean stop', 'redis-rdb');
  if (killPairs.length + cleanPairs.length > 0) {
    out.push(
      '',
      'Round by round (each kv_store start against the redis-server start next to it; target: no slower, ≤ 1×): ' +
        `after a kill -9 against the AOF load ${pairCell(killPairs)}; after a clean stop against the RDB-preamble load ${pairCell(cleanPairs)}.`,
    );
  }
}

// --- transactions ----------------------------------------------------------------------------------
const txnRow = (target, n) => {
  const f = join(raw, `txn-${target}-${n}-${n === 1 ? 'put' : 'txn'}.json`);
  return existsSync(f) ? run(f) : undefined;
};
if (txnRow('kv', 1) !== undefined) {
  out.push('', '### Transactions: POST /txn beside a single PUT, and Redis scripts through webdis', '');
  out.push(
    `Random keys among ${int(settings.keys)} preloaded ones, each set to the 100-byte value, wrk -c${settings.connections}, one process start. ` +
      'kv_store: `PUT /v1/<key>`, then `POST /txn` with 2 and with 10 `set` ops (all or nothing, one revision). webdis + redis-server: ' +
      '`SET`, then an `EVAL` of a script that SETs 2 and 10 keys (Redis runs a script atomically, as it runs MULTI/EXEC; ' +
      'webdis cannot hold MULTI and EXEC on one connection). "keys/s": req/s × keys written per request.',
  );
  out.push('', '| server | request | req/s | keys/s | p50 ms | p99 ms | errors | vs its single write | vs webdis, same keys |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const target of ['kv', 'webdis']) {
    const single = txnRow(target, 1);
    for (const n of [1, 2, 10]) {
      const r = txnRow(target, n);
      if (r === undefined) continue;
      const request =
        target === 'kv' ? (n === 1 ? 'PUT (one key)' : `POST /txn, ${n} sets`) : n === 1 ? 'SET (one key)' : `EVAL, ${n} SETs`;
      const vsSingle = n === 1 ? '—' : ratio(r.rps, single?.rps);
      const vsWebdis = target === 'kv' ? ratio(r.rps, txnRow('webdis', n)?.rps) : '—';
      out.push(
        `| ${target === 'kv' ? 'kv_store' : 'webdis + redis-server'} | ${request} | ${int(r.rps)} | ${int(r.rps * n)} | ${ms(r.p50)} | ${ms(r.p99)} | ${int(r.errors)} | ${vsSingle} | ${vsWebdis} |`,
      );
    }
  }
}

// --- profile -----------------------------------------------------------------------------------------
for (const load of ['get', 'put']) {
  const f = join(dir, 'profile', `${load}-summary.md`);
  if (!existsSync(f)) continue;
  const r = existsSync(join(raw, `prof-${load}.json`)) ? run(join(raw, `prof-${load}.json`)) : undefined;
  out.push('', `### CPU profile: kv_store under ${LOAD_NAMES[load]}${r ? ` (${int(r.rps)} req/s while profiled)` : ''}`, '');
  out.push(readFileSync(f, 'utf8').trimEnd());
}

// --- entry layouts (BENCH_PHASES with "layouts") -----------------------------------------------------
if (existsSync(join(dir, 'layouts.md'))) {
  out.push('', '### Entry layouts (bench/entry-layouts.mjs, no HTTP)', '');
  out.push(readFileSync(join(dir, 'layouts.md'), 'utf8').trimEnd());
}

process.stdout.write(`${out.join('\n')}\n`);
