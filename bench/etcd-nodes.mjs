// bench/etcd-nodes.mjs: the etcd backend's bench rows (issue 15). GET and PUT through one and
// two kv_store nodes (KV_BACKEND=etcd) on a three-member etcd cluster, beside etcd's own JSON
// gateway on the same cluster and the in-memory kv_store, all from one load generator.
//
//   npm run build && node bench/etcd-nodes.mjs                 # 5 s per row after 1 s of warm-up
//   node bench/etcd-nodes.mjs --duration 2 --warmup 1         # smoke test
//   node bench/etcd-nodes.mjs --rounds 3                      # every row three times, in turn
//   options: --duration S, --warmup S, --connections N (50), --keys N (10000), --rounds N (1),
//            --main FILE (the kv_store build to run; src/kv_store/dist/kv_store.js),
//            --only TEXT (only the rows whose "target: request" contains TEXT, e.g. PUT),
//            --etcd-cpus LIST and --kv-cpus LIST (taskset CPU lists for the etcd members and the
//            kv_store processes; default: no pinning)
//
// Separate cores, as separate machines would be (etcd's members on one core, the kv_store nodes
// and the load generator on the other; docs/etcd-backend.md, "etcd on a core of its own"):
//   taskset -c 1 node bench/etcd-nodes.mjs --etcd-cpus 0 --kv-cpus 1 --only PUT --rounds 2
//
// With several rounds each row's numbers are the median of its rounds (req/s with their range),
// and the ratios the issue sets targets for are taken round by round (a row against the row
// beside it in the same round) and given as their median and range: on a shared machine the
// rows' speed drifts from minute to minute, and a ratio within one round drifts less.
//
// Everything runs on this machine, on loopback: three etcd members (their own temp data
// directories, removed after), three kv_store processes (`node dist/kv_store.js`: one in-memory, two
// on etcd), and this process, which keeps N requests in flight over keep-alive connections
// (undici), to one target or round-robin over two. GET reads a random one of N preloaded keys,
// PUT overwrites one with a 100-byte value. The etcd gateway rows are the same work done
// straight on etcd: GET is a linearizable range, PUT a put, round-robin over the three members.
// Numbers on a shared 2-core machine are smoke-test numbers; read them as such.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    keys: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '1' },
    main: { type: 'string' },
    only: { type: 'string' },
    'etcd-cpus': { type: 'string' },
    'kv-cpus': { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const CONNECTIONS = Number(args.connections);
const KEYS = Number(args.keys);
const MAIN = args.main ?? fileURLToPath(new URL('../src/kv_store/dist/kv_store.js', import.meta.url));
const VALUE = JSON.stringify('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98));
const children = [];
const root = mkdtempSync(join(tmpdir(), 'kv-bench-etcd-'));

function log(message) {
  process.stderr.write(`[bench etcd ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const server = createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** CPU time (user + system, in µs) of the processes `pids` so far. */
function cpuMicros(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /, '')
        .split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

/** `command argv`, under `taskset -c cpus` when `cpus` is given. */
const pinned = (cpus, command, argv) => (cpus === undefined ? [command, argv] : ['taskset', ['-c', cpus, command, ...argv]]);

function start([command, argv], env = {}) {
  const wrapped = existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', command, ...argv]]
    : [command, argv];
  const child = spawn(wrapped[0], wrapped[1], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
  children.push(child);
  return child;
}

async function until(what, check, withinMs = 30_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${withinMs} ms`);
    await sleep(100);
  }
}

const b64 = (s) => Buffer.from(s).toString('base64');

async function post(url, path, body) {
  const response = await fetch(url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  await response.arrayBuffer();
  return response.status;
}

const etcdPids = [];

async function startCluster() {
  const ports = await freePorts(6);
  const members = [0, 1, 2].map((i) => ({
    name: `m${i + 1}`,
    client: `http://127.0.0.1:${ports[2 * i]}`,
    peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
  }));
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(',');
  for (const m of members) {
    const child = start(
      pinned(args['etcd-cpus'], 'etcd', [
        ...['--name', m.name, '--data-dir', join(root, m.name), '--log-level', 'error', '--logger', 'zap'],
        ...['--listen-client-urls', m.client, '--advertise-client-urls', m.client],
        ...['--listen-peer-urls', m.peer, '--initial-advertise-peer-urls', m.peer],
        ...['--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', root],
      ]),
    );
    etcdPids.push(child.pid);
  }
  const endpoints = members.map((m) => m.client);
  await until('etcd', async () => {
    for (const e of endpoints) if ((await post(e, '/v3/kv/range', { key: b64('probe') })) !== 200) return false;
    return true;
  });
  return endpoints;
}

/** kv_store's node flags as its launchers pass them: in memory (npm start), and a node on etcd (make start-cluster). */
const KV_FLAGS = ['--max-semi-space-size=2', '--initial-old-space-size=64'];
const ETCD_NODE_FLAGS = ['--max-semi-space-size=16', '--initial-old-space-size=64'];

async function startKv(env) {
  const [port] = await freePorts(1);
  const flags = env.KV_BACKEND === 'etcd' ? ETCD_NODE_FLAGS : KV_FLAGS;
  const child = start(pinned(args['kv-cpus'], process.execPath, [...flags, MAIN]), {
    KV_HOST: '127.0.0.1',
    KV_PORT: String(port),
    KV_LOG_LEVEL: 'warn',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await until(`kv_store on ${port}`, async () => (await fetch(`${url}/v1/.bench-probe`)).status === 404);
  pidOf.set(url, child.pid);
  return url;
}

const pidOf = new Map();
const keyOf = (i) => `k${String(i).padStart(15, '0')}`;

/** Runs `loads` in parallel, each writing `count` keys through `write(i)`. */
async function preload(count, write) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++;
        const status = await write(i);
        if (status !== 200 && status !== 201) throw new Error(`preload answered ${status}`);
      }
    }),
  );
}

/**
 * Keeps CONNECTIONS requests in flight for WARMUP_MS, then DURATION_MS measured: `request(pool, i)`
 * makes one request and returns its status. Round-robin over `urls`.
 */
async function measure(urls, request, servers) {
  const cpu0 = servers.map(cpuMicros);
  const self0 = process.cpuUsage();
  const pools = urls.map((url) => new Pool(url, { connections: Math.ceil(CONNECTIONS / urls.length) }));
  const latencies = [];
  let errors = 0;
  let turn = 0;
  let measuring = false;
  const warmupEnds = performance.now() + WARMUP_MS;
  const ends = warmupEnds + DURATION_MS;
  const loop = async () => {
    while (performance.now() < ends) {
      const pool = pools[turn++ % pools.length];
      const t0 = performance.now();
      const status = await request(pool, Math.floor(Math.random() * KEYS)).catch(() => 0);
      const t1 = performance.now();
      if (t0 >= warmupEnds && t1 <= ends) {
        measuring = true;
        latencies.push(t1 - t0);
        if (status !== 200) errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  await Promise.all(pools.map((p) => p.close()));
  if (!measuring) throw new Error('nothing measured');
  // CPU per request over warm-up and measurement alike (every request of the row).
  const total = turn;
  const cpu = servers.map((pids, i) => (cpuMicros(pids) - cpu0[i]) / total);
  const self = process.cpuUsage(self0);
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    rps: latencies.length / (DURATION_MS / 1000),
    p50: at(0.5),
    p99: at(0.99),
    errors,
    cpu,
    client: (self.user + self.system) / total,
  };
}

async function call(pool, method, path, body) {
  const response = await pool.request({ method, path, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } });
  await response.body.dump();
  return response.statusCode;
}

const kvGet = (pool, i) => call(pool, 'GET', `/v1/${keyOf(i)}`);
const kvGetConsistent = (pool, i) => call(pool, 'GET', `/v1/${keyOf(i)}?consistent=true`);
const kvPut = (pool, i) => call(pool, 'PUT', `/v1/${keyOf(i)}`, `{"value":${VALUE}}`);
const gwRange = (pool, i) => call(pool, 'POST', '/v3/kv/range', JSON.stringify({ key: b64(`gw/${keyOf(i)}`) }));
const gwPut = (pool, i) => call(pool, 'POST', '/v3/kv/put', JSON.stringify({ key: b64(`gw/${keyOf(i)}`), value: b64(VALUE) }));

async function main() {
  log(
    `etcd cluster, three kv_store processes; ${KEYS} keys; ${CONNECTIONS} in flight; ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s per row`,
  );
  const endpoints = await startCluster();
  const memory = await startKv({});
  const nodeA = await startKv({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: endpoints.join(',') });
  const nodeB = await startKv({ KV_BACKEND: 'etcd', KV_ETCD_ENDPOINTS: [...endpoints.slice(1), endpoints[0]].join(',') });
  log('preloading');
  await preload(KEYS, (i) => post(memory, '/v1/', { key: keyOf(i), value: JSON.parse(VALUE) }));
  await preload(KEYS, (i) => post(nodeA, '/v1/', { key: keyOf(i), value: JSON.parse(VALUE) }));
  await preload(KEYS, (i) => post(endpoints[i % 3], '/v3/kv/put', { key: b64(`gw/${keyOf(i)}`), value: b64(VALUE) }));
  // Node B's cache catches up with node A's preload before it is measured.
  await until('node B caught up', async () => (await fetch(`${nodeB}/v1/${keyOf(KEYS - 1)}`)).status === 200);

  const allRows = [
    ['in-memory kv_store, 1 node', 'GET', [memory], kvGet],
    ['in-memory kv_store, 1 node', 'PUT', [memory], kvPut],
    ["etcd's JSON gateway (3 members)", 'GET (linearizable range)', endpoints, gwRange],
    ["etcd's JSON gateway (3 members)", 'PUT (put)', endpoints, gwPut],
    ['kv_store on etcd, 1 node', 'GET (node cache)', [nodeA], kvGet],
    ['kv_store on etcd, 1 node', 'GET ?consistent=true', [nodeA], kvGetConsistent],
    ['kv_store on etcd, 1 node', 'PUT', [nodeA], kvPut],
    ['kv_store on etcd, 2 nodes', 'GET (node cache)', [nodeA, nodeB], kvGet],
    ['kv_store on etcd, 2 nodes', 'PUT', [nodeA, nodeB], kvPut],
  ];
  const rows = allRows.filter(([target, load]) => args.only === undefined || `${target}: ${load}`.includes(args.only));
  // runs[row][round]
  const runs = rows.map(() => []);
  const kvPids = [memory, nodeA, nodeB].map((url) => pidOf.get(url));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, [target, load, urls, request]] of rows.entries()) {
      log(`${ROUNDS > 1 ? `round ${round}/${ROUNDS}, ` : ''}${target}: ${load}`);
      runs[i].push(await measure(urls, request, [kvPids, etcdPids]));
    }
  }
  const load1 = (await import('node:os')).loadavg()[0];
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const spread = (values, digits = 0) =>
    values.length === 1 ? '' : ` (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
  console.log(
    `\n| target | request | req/s${ROUNDS > 1 ? `, median of ${ROUNDS} (range)` : ''} | p50 ms | p99 ms | non-200 | kv_store CPU µs/req | etcd CPU µs/req | client CPU µs/req |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const [i, [target, load]] of rows.entries()) {
    const r = runs[i];
    const of = (pick) => median(r.map(pick));
    console.log(
      `| ${target} | ${load} | ${Math.round(of((x) => x.rps))}${spread(r.map((x) => x.rps))} | ${of((x) => x.p50).toFixed(2)} | ${of((x) => x.p99).toFixed(2)} | ${r.reduce((n, x) => n + x.errors, 0)} | ${Math.round(of((x) => x.cpu[0]))} | ${Math.round(of((x) => x.cpu[1]))} | ${Math.round(of((x) => x.client))} |`,
    );
  }
  // The issue's targets, as ratios of two rows of the same round.
  const rowIndex = (target, load) => rows.findIndex(([t, l]) => t === target && l === load);
  // `of` picks what is compared (req/s by default).
  const ratio = (label, [aTarget, aLoad], [bTarget, bLoad], goal, of = (x) => x.rps) => {
    const a = runs[rowIndex(aTarget, aLoad)];
    const b = runs[rowIndex(bTarget, bLoad)];
    if (a === undefined || b === undefined) return `| ${label} | (not run) | ${goal} |`;
    const ratios = a.map((x, round) => of(x) / of(b[round]));
    return `| ${label} | ${median(ratios).toFixed(2)}×${spread(ratios, 2)} | ${goal} |`;
  };
  const gatewayPut = ["etcd's JSON gateway (3 members)", 'PUT (put)'];
  const memoryGet = ['in-memory kv_store, 1 node', 'GET'];
  console.log(`\n| ratio, round by round | median (range) | target |\n| --- | ---: | --- |`);
  console.log(
    ratio(
      'GET from the node cache, 1 node, against the in-memory store',
      ['kv_store on etcd, 1 node', 'GET (node cache)'],
      memoryGet,
      '≥ 0.8×',
    ),
  );
  console.log(ratio('PUT through 1 node, against the gateway put', ['kv_store on etcd, 1 node', 'PUT'], gatewayPut, '≥ 1×'));
  console.log(ratio('PUT through 2 nodes, against the gateway put', ['kv_store on etcd, 2 nodes', 'PUT'], gatewayPut, '≥ 1×'));
  // Not a target: where etcd's own machines are the limit (the nodes on machines of their own),
  // this is how many writes through two nodes etcd's cores take for each gateway put.
  console.log(
    ratio(
      "etcd's CPU a gateway put, against its CPU a write through 2 nodes",
      gatewayPut,
      ['kv_store on etcd, 2 nodes', 'PUT'],
      '(not a target)',
      (x) => x.cpu[1],
    ),
  );
  console.log(
    `\n(${CONNECTIONS} in flight, ${DURATION_MS / 1000} s per row after ${WARMUP_MS / 1000} s warm-up, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}, ${KEYS} keys, 100-byte values; ${args['etcd-cpus'] === undefined ? 'no process pinned' : `etcd on CPU ${args['etcd-cpus']}, kv_store on CPU ${args['kv-cpus'] ?? 'any'}`}; load average ${load1.toFixed(1)} at the end)`,
  );
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
  await sleep(200);
  rmSync(root, { recursive: true, force: true });
}
