// bench/etcd-txn-cost.mjs: what etcd itself spends on a put, on a one-compare Txn (the shape of a
// kv_store write), on such Txns nested 4 and 16 to a batch (the shape of kv_store's writes at the
// same moment, write-batcher.ts), and on each watcher of the written prefix, through etcd's JSON
// gateway and through its gRPC API (kv_store's own client, etcd-grpc.ts, from src/kv_store/dist:
// `npm run build` first).
//
//   node bench/etcd-txn-cost.mjs [--seconds 4] [--watchers "0 2"] [--via "gateway grpc"] [--rounds 1]
//
// Starts three etcd members on free loopback ports (temp data directories, removed after), then
// for each round, each way in (--via: the watchers and the writes both take it) and each number of
// watchers (watch streams on the prefix, read and discarded) runs 50 requests in flight for
// --seconds of each kind, round-robin over the members, 1,000 keys, 300-byte values, and prints
// writes/s, the three members' CPU time per write (a batch counts its writes) and this process's
// (the client's). On a shared machine read the CPU columns, not the rate.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    watchers: { type: 'string', default: '0 2' },
    via: { type: 'string', default: 'gateway grpc' },
    rounds: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(args.seconds);
const root = mkdtempSync(join(tmpdir(), 'kv-bench-txn-'));
const b64 = (s) => Buffer.from(s).toString('base64');

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

const ports = await freePorts(6);
const members = [0, 1, 2].map((i) => ({
  name: `m${i + 1}`,
  client: `http://127.0.0.1:${ports[2 * i]}`,
  peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
}));
const initial = members.map((m) => `${m.name}=${m.peer}`).join(',');
const children = members.map((m) =>
  spawn(
    '/usr/bin/setpriv',
    [
      ...['--pdeathsig', 'SIGKILL', '--', 'etcd', '--name', m.name, '--data-dir', join(root, m.name), '--log-level', 'error'],
      ...['--listen-client-urls', m.client, '--advertise-client-urls', m.client, '--listen-peer-urls', m.peer],
      ...['--initial-advertise-peer-urls', m.peer, '--initial-cluster', initial, '--initial-cluster-token', root],
    ],
    { stdio: 'ignore' },
  ),
);

function etcdCpuMicros() {
  let ticks = 0;
  for (const child of children) {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

const pools = members.map((m) => new Pool(m.client, { connections: 20 }));
const value = b64('x'.repeat(300));
const oneCompare = (key) => ({
  compare: [{ key, target: 'MOD', result: 'GREATER', mod_revision: '-1' }],
  success: [{ request_put: { key, value } }],
  failure: [{ request_range: { key } }],
});
/** `size` one-compare Txns of consecutive keys (a batch never writes one key twice), nested in one. */
const batch = (size) => () => {
  const first = Math.floor(Math.random() * (1000 / size)) * size;
  const success = Array.from({ length: size }, (_, i) => ({ request_txn: oneCompare(b64(`w/${first + i}`)) }));
  return ['/v3/kv/txn', { success }, size];
};
// Each makes one request: its path, its body and how many writes it holds.
const bodies = {
  put: (key) => ['/v3/kv/put', { key, value }, 1],
  'txn (one compare)': (key) => ['/v3/kv/txn', oneCompare(key), 1],
  'txn, 4 nested in one': batch(4),
  'txn, 16 nested in one': batch(16),
};

async function post(pool, path, body) {
  const response = await pool.request({ method: 'POST', path, body: JSON.stringify(body) });
  const status = response.statusCode;
  await response.body.dump();
  return status;
}

try {
  for (let i = 0; ; i++) {
    const ok = await Promise.all(pools.map((p) => post(p, '/v3/kv/range', { key: b64('probe') }).catch(() => 0)));
    if (ok.every((s) => s === 200)) break;
    if (i > 200) throw new Error('etcd did not start');
    await sleep(100);
  }
  const { EtcdGrpc } = await import('../src/kv_store/dist/store/etcd/etcd-grpc.js');
  const grpc = new EtcdGrpc({ endpoints: members.map((m) => m.client) });
  const ways = {
    gateway: {
      send: (i, path, request) => post(pools[i % 3], path, request),
      watch: (w, request, signal) =>
        new Pool(members[w % 3].client, { connections: 1 })
          .request({ method: 'POST', path: '/v3/watch', body: JSON.stringify(request), signal, bodyTimeout: 0 })
          .then(async (response) => {
            for await (const _ of response.body);
          }),
    },
    grpc: {
      send: (i, path, request) => grpc.callOn(members[i % 3].client, path, request).then(() => 200),
      // A client of its own per watcher, on member w % 3 (a client watches on its current member).
      watch: (w, request, signal) => {
        const own = new EtcdGrpc({ endpoints: [members[w % 3].client] });
        return own.watch(request, signal, () => {}).finally(() => own.close());
      },
    },
  };
  console.log(
    '| via | watchers | request | writes/s | etcd CPU µs/write | client CPU µs/write |\n| --- | ---: | --- | ---: | ---: | ---: |',
  );
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const via of args.via.split(' ')) {
      const way = ways[via];
      if (way === undefined) throw new Error(`--via: gateway or grpc, not ${via}`);
      for (const watchers of args.watchers.split(' ').map(Number)) {
        const streams = [];
        for (let w = 0; w < watchers; w++) {
          const abort = new AbortController();
          streams.push(abort);
          way.watch(w, { create_request: { key: b64('w/'), range_end: b64('w0') } }, abort.signal).catch(() => {});
        }
        await sleep(300);
        for (const [name, body] of Object.entries(bodies)) {
          const cpu0 = etcdCpuMicros();
          const own0 = process.cpuUsage();
          let n = 0;
          let requests = 0;
          const ends = Date.now() + SECONDS * 1000;
          await Promise.all(
            Array.from({ length: 50 }, async () => {
              while (Date.now() < ends) {
                const [path, request, writes] = body(b64(`w/${Math.floor(Math.random() * 1000)}`));
                const status = await way.send(requests++, path, request);
                if (status !== 200) throw new Error(`etcd answered ${status} to ${path}`);
                n += writes;
              }
            }),
          );
          const own = process.cpuUsage(own0);
          const perWrite = (micros) => Math.round(micros / n);
          console.log(
            `| ${via} | ${watchers} | ${name} | ${Math.round(n / SECONDS)} | ${perWrite(etcdCpuMicros() - cpu0)} | ${perWrite(own.user + own.system)} |`,
          );
        }
        for (const abort of streams) abort.abort();
        await sleep(300);
      }
    }
  }
  await grpc.close();
} finally {
  for (const child of children) child.kill('SIGKILL');
  await sleep(200);
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}
