// Watchers for bench/run.sh: N SSE watchers of one prefix on kv_store, and a probe writer that
// PUTs a key of that prefix every few milliseconds, timing each change from the write's answer
// to its event on every watcher (an event that came first counts as 0), and from the write's
// request, sent before either. Runs for the given seconds; writes `<out>.ready` once every
// watcher is streaming, and the result as one JSON line on stdout.
//
//   node bench/watch-load.mjs <base-url> <watchers> <seconds> <prefix> <probe-interval-ms> <ready-file>
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

const [base, watchersArg, secondsArg, prefix, intervalArg, readyFile] = process.argv.slice(2);
const url = new URL(base);
const watchers = Number(watchersArg);
const intervalMs = Number(intervalArg);
const probeKey = `${prefix}probe`;
const path = `/v1/?watch=true&prefix=${encodeURIComponent(prefix)}`;

/** Per probe: when its PUT was sent, when it was answered, and when each watcher saw it. */
const sent = new Map();
const acked = new Map();
const seen = new Map();
let streaming = 0;
let cutOff = 0;
let closed = 0;
const sockets = [];

const PROGRESS = Buffer.from('event: progress');
const SLOW = Buffer.from('slow_consumer');
const MARK = Buffer.from('"value":"probe-');

/** One watcher: a raw socket reading the SSE stream as bytes, noting when each probe's event arrives (cheaply: no strings). */
function watch() {
  const socket = connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  let live = false;
  socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`));
  socket.on('data', (data) => {
    const now = performance.now();
    if (!live && data.indexOf(PROGRESS) !== -1) {
      live = true;
      streaming++;
    }
    // Events are small and written whole, each in one chunk; a probe's number ends at its quote.
    for (let at = data.indexOf(MARK); at !== -1; at = data.indexOf(MARK, at + MARK.length)) {
      let seq = 0;
      for (let i = at + MARK.length; i < data.length && data[i] >= 48 && data[i] <= 57; i++) seq = seq * 10 + data[i] - 48;
      const times = seen.get(seq);
      if (times === undefined) seen.set(seq, [now]);
      else times.push(now);
    }
    if (data.indexOf(SLOW) !== -1) cutOff++;
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => closed++);
  sockets.push(socket);
}

for (let i = 0; i < watchers; i++) watch();
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function put(seq) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ value: `probe-${seq}` });
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `/v1/${encodeURIComponent(probeKey)}`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) acked.set(seq, performance.now());
          resolve();
        });
      },
    );
    req.on('error', () => resolve());
    sent.set(seq, performance.now());
    req.end(body);
  });
}

// The probe key must exist before it is overwritten.
await new Promise((resolve) => {
  const body = JSON.stringify({ key: probeKey, value: 'probe-start' });
  const req = request(
    {
      agent,
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/v1/',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    },
    (res) => {
      res.resume();
      res.on('end', resolve);
    },
  );
  req.on('error', resolve);
  req.end(body);
});

const connectDeadline = Date.now() + 30_000;
while (streaming < watchers && Date.now() < connectDeadline) await new Promise((r) => setTimeout(r, 50));
writeFileSync(readyFile, String(streaming));

const end = Date.now() + Number(secondsArg) * 1000;
let seq = 0;
while (Date.now() < end) {
  const started = performance.now();
  await put(seq++);
  const wait = intervalMs - (performance.now() - started);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
await new Promise((r) => setTimeout(r, 1000)); // the last events on their way

const latencies = [];
const fromSent = [];
let beforeAnswer = 0;
let missing = 0;
for (const [s, ackAt] of acked) {
  const times = seen.get(s) ?? [];
  const sentAt = sent.get(s);
  missing += Math.max(0, streaming - times.length);
  for (const at of times) {
    latencies.push(Math.max(0, at - ackAt));
    if (at < ackAt) beforeAnswer++;
    fromSent.push(at - sentAt);
  }
}
const byTime = (a, b) => a - b;
latencies.sort(byTime);
fromSent.sort(byTime);
const pct = (list, p) => (list.length === 0 ? null : list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))]);
process.stdout.write(
  `${JSON.stringify({
    watchers,
    streaming,
    probes: acked.size,
    deliveries: latencies.length,
    missing,
    cutOff,
    closed,
    intervalMs,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    maxMs: latencies.at(-1) ?? null,
    beforeAnswer,
    sentP50Ms: pct(fromSent, 50),
    sentP99Ms: pct(fromSent, 99),
    sentMaxMs: fromSent.at(-1) ?? null,
  })}\n`,
);
for (const s of sockets) s.destroy();
agent.destroy();
