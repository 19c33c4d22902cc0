// bench/etcd-client.mjs: the ways kv_store could talk to etcd, measured in one run against one
// cluster: the npm package etcd3 (gRPC over HTTP/2, @grpc/grpc-js), the same gRPC stubs called on
// grpc-js directly (what gRPC itself costs), and etcd's own JSON gateway (HTTP/1.1 POST
// /v3/kv/put, /v3/kv/range) driven by undici. docs/etcd-backend.md has the numbers.
//
//   bash scripts/etcd-cluster.sh start
//   node bench/etcd-client.mjs [--endpoints URL,URL,URL] [--duration 5] [--inflight 1,64] [--rounds 2]
//   bash scripts/etcd-cluster.sh stop
//
// Each cell is one client, one operation, N requests in flight, for --duration seconds after a
// one-second warm-up; requests go round-robin over every endpoint (etcd3: its own host shuffle).
// Operations: put (one of 1,000 keys, a 100-byte value), range (one key, linearizable: etcd's
// default), range-serializable (one key, answered by the member itself). A client whose package
// is not installed is skipped with a note: undici is kv_store's dependency; etcd3 is not
// (`npm install --no-save etcd3@1.1.2` adds it, with @grpc/grpc-js and cockatiel under it).
// CPU columns: the bench process's own CPU time, and the three members' (read from /proc through
// the pid files scripts/etcd-cluster.sh writes in $ETCD_CLUSTER_DIR), each divided by requests.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    endpoints: {
      type: 'string',
      default: process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379,http://127.0.0.1:2381,http://127.0.0.1:2383',
    },
    duration: { type: 'string', default: '5' },
    inflight: { type: 'string', default: '1,64' },
    rounds: { type: 'string', default: '2' },
  },
});
const endpoints = args.endpoints.split(',');
const durationMs = Number(args.duration) * 1000;
const inflights = args.inflight.split(',').map(Number);
const rounds = Number(args.rounds);
const KEYS = 1000;
const value = 'v'.repeat(100);
const keyOf = (i) => `bench/key-${i % KEYS}`;
const clusterDir = process.env.ETCD_CLUSTER_DIR ?? '.etcd-cluster';
const etcdPids = ['m1', 'm2', 'm3']
  .map((m) => join(clusterDir, `${m}.pid`))
  .filter(existsSync)
  .map((f) => readFileSync(f, 'utf8').trim());

/** CPU time (µs, user + system) the etcd members have used so far; NaN without their pids. */
function etcdCpuUs() {
  if (etcdPids.length === 0) return Number.NaN;
  let ticks = 0;
  for (const pid of etcdPids) {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

/** The etcd3 package: raw KV RPCs (no builder), automatic retries off so each call is one request. */
async function grpcClient() {
  const { Etcd3, KVClient } = await import('etcd3');
  const { noop } = await import('cockatiel');
  const client = new Etcd3({ hosts: endpoints, faultHandling: { global: noop } });
  const kv = new KVClient(client.pool);
  return {
    name: 'etcd3 (gRPC)',
    put: (k) => kv.put({ key: Buffer.from(k), value: Buffer.from(value) }),
    range: (k) => kv.range({ key: Buffer.from(k) }),
    rangeSerializable: (k) => kv.range({ key: Buffer.from(k), serializable: true }),
    close: () => client.close(),
  };
}

/**
 * The same gRPC stubs etcd3 loads, called directly on grpc-js (round-robin over one channel per
 * endpoint), without etcd3's per-call pool, policies and metadata: what gRPC itself costs.
 */
async function grpcDirectClient() {
  const { Etcd3 } = await import('etcd3');
  const { Metadata } = await import('@grpc/grpc-js');
  const client = new Etcd3({ hosts: endpoints });
  const stubs = client.pool.hosts.map((host) => host.getServiceClient('KV'));
  let next = 0;
  const call = (method, req) =>
    new Promise((resolve, reject) => stubs[next++ % stubs.length][method](req, new Metadata(), {}, (e, r) => (e ? reject(e) : resolve(r))));
  return {
    name: 'grpc-js direct',
    put: (k) => call('put', { key: Buffer.from(k), value: Buffer.from(value) }),
    range: (k) => call('range', { key: Buffer.from(k) }),
    rangeSerializable: (k) => call('range', { key: Buffer.from(k), serializable: true }),
    close: () => client.close(),
  };
}

/** etcd's JSON gateway through undici: one keep-alive pool per endpoint, round-robin. */
async function gatewayClient() {
  const { Pool } = await import('undici');
  const pools = endpoints.map((url) => new Pool(url, { connections: 128 }));
  const b64 = (s) => Buffer.from(s).toString('base64');
  const b64value = b64(value);
  let next = 0;
  const post = async (path, body) => {
    const pool = pools[next++ % pools.length];
    const res = await pool.request({ method: 'POST', path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const answer = await res.body.json();
    if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    name: 'JSON gateway (undici)',
    put: (k) => post('/v3/kv/put', { key: b64(k), value: b64value }),
    range: (k) => post('/v3/kv/range', { key: b64(k) }),
    rangeSerializable: (k) => post('/v3/kv/range', { key: b64(k), serializable: true }),
    close: () => Promise.all(pools.map((p) => p.close())),
  };
}

/** Runs `op` with `inflight` concurrent loops for `ms`: req/s, latency percentiles (ms), client and etcd CPU µs a request. */
async function measure(op, inflight, ms) {
  const latencies = [];
  let counter = 0;
  const deadline = performance.now() + ms;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const etcdCpu = etcdCpuUs();
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await op(keyOf(counter++));
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  const etcdUs = (etcdCpuUs() - etcdCpu) / latencies.length;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), cpuUs: (user + system) / latencies.length, etcdUs };
}

const clients = [];
for (const make of [grpcClient, grpcDirectClient, gatewayClient]) {
  try {
    clients.push(await make());
  } catch (error) {
    console.log(`skipped ${make.name}: ${error.message}`);
  }
}
// Seed the keys so ranges find a value.
for (const client of clients) for (let i = 0; i < KEYS; i++) await client.put(keyOf(i));

console.log(`etcd endpoints ${endpoints.join(' ')}; ${args.duration} s a cell; Node ${process.version}`);
console.log('| round | client | operation | in flight | req/s | p50 ms | p99 ms | client CPU µs/req | etcd CPU µs/req |');
console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
for (let round = 1; round <= rounds; round++) {
  for (const operation of ['put', 'range', 'rangeSerializable']) {
    for (const inflight of inflights) {
      // Alternate which client goes first, so neither always gets the warmer machine.
      const order = round % 2 ? clients : [...clients].reverse();
      for (const client of order) {
        await measure(client[operation], inflight, 1000);
        const r = await measure(client[operation], inflight, durationMs);
        const name = operation === 'rangeSerializable' ? 'range (serializable)' : operation;
        console.log(
          `| ${round} | ${client.name} | ${name} | ${inflight} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUs.toFixed(0)} | ${r.etcdUs.toFixed(0)} |`,
        );
      }
    }
  }
}
await Promise.all(clients.map((c) => c.close()));
