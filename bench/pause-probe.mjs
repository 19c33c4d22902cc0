// An external pause probe: one GET every 2 ms on a connection of its own, for as long as it
// runs, recording what each request waited. A request is sent at its scheduled time, or as soon
// as the previous one is answered if that is later (one request in flight: what a user's next
// request would wait behind a pause); `lateMs` also counts from the scheduled time, so a pause
// that swallowed several scheduled requests shows in full.
//
//   node bench/pause-probe.mjs <kv|webdis> <host:port> <key> <out.json> [interval ms] [stop file]
//
// It stops on SIGTERM/SIGINT or once the stop file exists, and writes a JSON summary: count,
// p50/p99/p99.9/max of the request latency (ms), the requests over 5 and 10 ms, the largest
// lateness, the 20 slowest requests with their time (ms since the probe started), and every
// request over 10 ms (the first 2,000) the same way.
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';

const [flavor, hostPort, key, outFile, intervalArg, stopFile] = process.argv.slice(2);
if (outFile === undefined) {
  process.stderr.write('usage: pause-probe.mjs <kv|webdis> <host:port> <key> <out.json> [interval ms] [stop file]\n');
  process.exit(2);
}
const [host, port] = hostPort.split(':');
const intervalMs = Number(intervalArg ?? 2);
const path = flavor === 'webdis' ? `/GET/${key}` : `/v1/${key}`;
const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\n`);

const latencies = [];
const slowest = [];
/** Every request over 10 ms (the first 2,000), with when it was sent: to line them up with the server's GC log. */
const over10 = [];
let maxLate = 0;
let errors = 0;
const started = performance.now();
let scheduled = started;
let sentAt = 0;
let intended = 0;
let buffer = Buffer.alloc(0);
let stopping = false;

const socket = connect({ host, port: Number(port), noDelay: true });
socket.on('error', (err) => {
  process.stderr.write(`pause-probe: ${err.message}\n`);
  errors++;
  finish();
});

function send() {
  if (stopping) return;
  if (stopFile !== undefined && existsSync(stopFile)) {
    finish();
    return;
  }
  intended = scheduled;
  sentAt = performance.now();
  socket.write(request);
}

function schedule() {
  scheduled += intervalMs;
  const now = performance.now();
  if (scheduled < now) scheduled = now; // behind: the next one goes at once (one in flight)
  setTimeout(send, Math.max(0, scheduled - now));
}

socket.on('connect', () => {
  scheduled = performance.now();
  send();
});

socket.on('data', (chunk) => {
  buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return;
  const head = buffer.subarray(0, end).toString('latin1');
  const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (buffer.length < end + 4 + length) return;
  const now = performance.now();
  if (!head.startsWith('HTTP/1.1 200')) errors++;
  buffer = buffer.subarray(end + 4 + length);
  const ms = now - sentAt;
  latencies.push(ms);
  maxLate = Math.max(maxLate, now - intended);
  if (ms > 10 && over10.length < 2000) over10.push({ atMs: Math.round(sentAt - started), ms: Math.round(ms * 100) / 100 });
  if (slowest.length < 20 || ms > slowest[slowest.length - 1].ms) {
    slowest.push({ atMs: Math.round(sentAt - started), ms: Math.round(ms * 100) / 100 });
    slowest.sort((a, b) => b.ms - a.ms);
    if (slowest.length > 20) slowest.pop();
  }
  schedule();
});

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function finish() {
  if (stopping) return;
  stopping = true;
  socket.destroy();
  const sorted = Float64Array.from(latencies).sort();
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  const summary = {
    flavor,
    intervalMs,
    durationS: Math.round(performance.now() - started) / 1000,
    count: sorted.length,
    errors,
    p50: round(quantile(sorted, 0.5)),
    p99: round(quantile(sorted, 0.99)),
    p999: round(quantile(sorted, 0.999)),
    max: round(sorted.length === 0 ? null : sorted[sorted.length - 1]),
    over5ms: latencies.filter((x) => x > 5).length,
    over10ms: latencies.filter((x) => x > 10).length,
    maxLateMs: round(maxLate),
    slowest,
    over10,
  };
  writeFileSync(outFile, `${JSON.stringify(summary)}\n`);
  process.exit(0);
}

process.on('SIGTERM', finish);
process.on('SIGINT', finish);
// The stop file is also checked while waiting for an answer that does not come.
if (stopFile !== undefined) setInterval(() => existsSync(stopFile) && finish(), 100).unref();
