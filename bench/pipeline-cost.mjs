// bench/pipeline-cost.mjs: a running kv_store's CPU time per request, with requests sent one at
// a time on each connection (one read and one write a request, as wrk sends them) or many at
// once (pipelined: one read and one write for a whole batch). The difference between the two is
// what a request costs for arriving alone: its system calls, and its code running on caches the
// kernel's work in between has cooled (docs/performance.md, "A request alone").
//
//   node bench/pipeline-cost.mjs <port> <server pid> <get|put> [--depth 1] [--conns 50] [--rounds 2000]
//
// The keys are bench/preload.mjs's k000000000000000 to k000000000009999 (load them first, as
// bench/ab.sh does); a PUT overwrites one with bench/preload.mjs's 100-byte value. Each
// connection sends `depth` requests in one write, waits for their answers, and repeats `rounds`
// times. Prints req/s and the server's user + system CPU time per request (from /proc).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { key, VALUE } from './preload.mjs';

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    depth: { type: 'string', default: '1' },
    conns: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2000' },
  },
});
const [port, pid, load] = positionals;
if (port === undefined || pid === undefined || !['get', 'put'].includes(load ?? '')) {
  console.error('usage: node bench/pipeline-cost.mjs <port> <server pid> <get|put> [--depth N] [--conns N] [--rounds N]');
  process.exit(2);
}
const depth = Number(options.depth);
const conns = Number(options.conns);
const rounds = Number(options.rounds);
const HZ = 100; // USER_HZ

function request(i) {
  const k = key('k', (i * 7919) % 10_000);
  if (load === 'get') return `GET /v1/${k} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const body = `{"value":${VALUE}}`;
  return `PUT /v1/${k} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** The server's user + system CPU time so far, in µs. */
function cpuUs() {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / HZ;
}

/** One connection: `rounds` times, `depth` requests in one write, then all their answers. */
async function connection(c) {
  const batch = Buffer.from(Array.from({ length: depth }, (_, i) => request(c * depth + i)).join(''));
  const socket = net.connect(Number(port), '127.0.0.1');
  let failed;
  socket.on('error', (err) => failed?.(err));
  await new Promise((resolve, reject) => {
    failed = reject;
    socket.once('connect', resolve);
  });
  socket.setNoDelay(true);
  for (let r = 0; r < rounds; r++) {
    await new Promise((resolve, reject) => {
      failed = reject;
      let answers = 0;
      let carried = '';
      const onData = (data) => {
        // Every answer begins with its status line (a body never holds "HTTP/1.1 "), which may
        // be split between two reads: the last 8 characters of one are searched with the next.
        const text = carried + data.toString('latin1');
        for (let at = text.indexOf('HTTP/1.1 '); at !== -1; at = text.indexOf('HTTP/1.1 ', at + 9)) answers++;
        carried = text.slice(-8);
        if (answers >= depth) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write(batch);
    });
  }
  socket.destroy();
}

const before = cpuUs();
const started = performance.now();
await Promise.all(Array.from({ length: conns }, (_, c) => connection(c)));
const seconds = (performance.now() - started) / 1000;
const requests = rounds * depth * conns;
console.log(
  `${load} depth ${depth} × ${conns} connections: ${Math.round(requests / seconds)} req/s, server CPU ${((cpuUs() - before) / requests).toFixed(1)} µs/request`,
);
