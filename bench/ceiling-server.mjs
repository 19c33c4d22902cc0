// The ceiling for bench/run.sh: the most a Node.js process answers on this machine. It stores
// nothing and checks nothing: it finds where each request ends (the head's blank line, then
// Content-Length bytes of body) and writes one canned answer per request, with the bytes
// kv_store writes for the bench's entry (the same headers, a body of the same length). It trusts
// its client (wrk, bench/lua), so a request it cannot frame closes the connection.
//
//   GET, PUT -> 200 and the entry's JSON; POST -> 201 and the entry's JSON; DELETE -> 204.
//
// What kv_store does beyond this (parse the head, route, validate the key and the value, store,
// count, log) is what its req/s lose against this row. Environment: CEILING_HOST (127.0.0.1),
// CEILING_PORT (8091).
import { createServer } from 'node:net';
import { key, VALUE } from './preload.mjs';

const host = process.env.CEILING_HOST || '127.0.0.1';
const port = Number(process.env.CEILING_PORT || 8091);
const time = new Date().toISOString();
const ENTRY = `{"key":"${key('k', 1)}","value":${VALUE},"version":2,"revision":10001,"createdAt":"${time}","updatedAt":"${time}","expiresAt":null}`;
const STORE_ID = '7c1e4f0a-5b2d-4c3e-9f8a-1d2e3f4a5b6c';

let answers;
function canAnswers() {
  const date = new Date().toUTCString();
  const head = (status, length) =>
    `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${length}\r\nETag: "10001"\r\n` +
    `KV-Revision: 10001\r\nKV-Store-Id: ${STORE_ID}\r\nX-Request-Id: coLLBU0p-1\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`;
  answers = {
    ok: Buffer.from(head('200 OK', ENTRY.length) + ENTRY, 'latin1'),
    created: Buffer.from(head('201 Created', ENTRY.length) + ENTRY, 'latin1'),
    deleted: Buffer.from(
      `HTTP/1.1 204 No Content\r\nKV-Revision: 10001\r\nKV-Store-Id: ${STORE_ID}\r\nX-Request-Id: coLLBU0p-1\r\nDate: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`,
      'latin1',
    ),
  };
}
canAnswers();
setInterval(canAnswers, 1000).unref();

const P = 0x50;
const D = 0x44;
const O = 0x4f;

const server = createServer((socket) => {
  let pending = null;
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    const out = [];
    let start = 0;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', start, 'latin1');
      if (end === -1) break;
      let length = 0;
      const at = buf.indexOf('ength:', start, 'latin1'); // Content-Length, however it is cased
      if (at !== -1 && at < end) {
        length = Number.parseInt(buf.toString('latin1', at + 6, buf.indexOf('\r\n', at, 'latin1')), 10);
        if (!Number.isSafeInteger(length) || length < 0) return socket.destroy();
      }
      if (end + 4 + length > buf.length) break;
      const first = buf[start];
      out.push(first === D ? answers.deleted : first === P && buf[start + 1] === O ? answers.created : answers.ok);
      start = end + 4 + length;
    }
    pending = start < buf.length ? buf.subarray(start) : null;
    if (out.length === 1) socket.write(out[0]);
    else if (out.length > 1) socket.write(Buffer.concat(out));
  });
  socket.on('error', () => {});
});

server.listen(port, host, () => process.stderr.write(`ceiling-server listening on ${host}:${port}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
