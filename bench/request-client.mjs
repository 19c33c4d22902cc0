// Sends exactly N requests of one kind to a kv_store over C keep-alive connections (one request
// in flight on each), for bench/request-count.sh: the server runs under callgrind, so how fast
// this client is does not matter, only that every run sends the same requests.
//
//   node bench/request-client.mjs <port> <get|put|post|list|load> <n> [connections]
// list asks for a 100-key page (GET /v1/?limit=100&start=<key>, as bench/lua/list.lua); get, put and list use keys k<15 digits>, 10,000 of them, which load POSTs first; post makes new keys
// p<15 digits>, numbered from REQ_FIRST (0). Keys and the 100-byte value are bench/preload.mjs's.
import net from 'node:net';
import { key, VALUE } from './preload.mjs';

const [port, kind, n, conns = '50'] = process.argv.slice(2);
const N = Number(n);
const KEYS = 10_000;
let issued = 0;
let answered = 0;
let failed = 0;

// post numbers its new keys from REQ_FIRST (0): request-count.sh runs it twice, warm-up then
// measured, and the second run starts where the first ended, so each POST is a 201, not a 409.
const POST_START = kind === 'post' ? Number(process.env.REQ_FIRST ?? 0) : 0;

function request(i) {
  const creates = kind === 'post' || kind === 'load';
  const k = key(kind === 'post' ? 'p' : 'k', creates ? POST_START + i : (i * 7919) % KEYS);
  if (kind === 'get') return `GET /v1/${k} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  if (kind === 'list') return `GET /v1/?limit=100&start=${k} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const [method, path, body] = creates ? ['POST', '/v1/', `{"key":"${k}","value":${VALUE}}`] : ['PUT', `/v1/${k}`, `{"value":${VALUE}}`];
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** Reads whole answers (Content-Length framed) off one connection, sending the next request after each. */
function drive(socket) {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const next = () => {
      if (issued >= N) return socket.end();
      socket.write(request(issued++));
    };
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.slice(0, end);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.slice(end + 4 + length);
        answered++;
        if (!/^HTTP\/1\.1 (200|201)/.test(head)) failed++;
        next();
      }
    });
    socket.on('end', resolve);
    socket.on('error', reject);
    next();
  });
}

const sockets = Array.from({ length: Number(conns) }, () => net.connect(Number(port), '127.0.0.1'));
await Promise.all(sockets.map(drive));
if (answered !== N || failed > 0) {
  console.error(`request-client: ${answered} of ${N} answered, ${failed} not 200/201`);
  process.exit(1);
}
