// List-all throughput for bench/run.sh: every key of a store, page by page (1000 a page, keys
// only), through each system's own way of listing; prints one JSON line {keys, seconds, keysPerS}.
//
//   node bench/list-all.mjs kv <base-url>            GET /v1/?limit=1000 following cursors (one revision)
//   node bench/list-all.mjs etcd <gateway-url>       POST /v3/kv/range, 1000 a page, keys_only, pinned to the first page's revision
//   node bench/list-all.mjs redis <port>             SCAN cursor COUNT 1000 over one connection (may repeat keys)
//   node bench/list-all.mjs etcd-load <gateway-url> <prefix> <count>   loads keys into etcd (txns of 128 puts)
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

const VALUE = `"${'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(2).slice(0, 98)}"`;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function http(method, target, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(target);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const req = request({ agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`${method} ${target}: ${res.statusCode} ${text.slice(0, 200)}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const b64 = (s) => Buffer.from(s).toString('base64');

async function kv(base) {
  let keys = 0;
  let cursor;
  const started = performance.now();
  do {
    const page = await http('GET', `${base}/v1/?limit=1000${cursor === undefined ? '' : `&cursor=${cursor}`}`);
    keys += page.items.length;
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return { keys, seconds: (performance.now() - started) / 1000 };
}

async function etcd(base) {
  let keys = 0;
  let from = '\0';
  let revision;
  const started = performance.now();
  for (;;) {
    const body = { key: b64(from), range_end: b64('\0'), limit: 1000, keys_only: true };
    if (revision !== undefined) body.revision = revision;
    const page = await http('POST', `${base}/v3/kv/range`, body);
    revision ??= page.header.revision;
    const kvs = page.kvs ?? [];
    keys += kvs.length;
    if (!page.more || kvs.length === 0) break;
    from = `${Buffer.from(kvs.at(-1).key, 'base64').toString('latin1')}\0`;
  }
  return { keys, seconds: (performance.now() - started) / 1000 };
}

/** SCAN 0 COUNT 1000 ... until the cursor is 0 again, over one connection (keys may come twice: SCAN's guarantee). */
function redis(port) {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const started = performance.now();
    let keys = 0;
    let buffer = Buffer.alloc(0);
    const scan = (cursor) => socket.write(`*4\r\n$4\r\nSCAN\r\n$${cursor.length}\r\n${cursor}\r\n$5\r\nCOUNT\r\n$4\r\n1000\r\n`);
    /** One SCAN reply from the buffer: [cursor, count] or undefined if it is not all in yet. */
    const reply = () => {
      let at = 0;
      const line = () => {
        const end = buffer.indexOf('\r\n', at);
        if (end === -1) return undefined;
        const text = buffer.toString('latin1', at, end);
        at = end + 2;
        return text;
      };
      if (line() !== '*2') throw new Error('unexpected reply');
      const len = line();
      if (len === undefined) return undefined;
      const cursor = line();
      const n = line();
      if (cursor === undefined || n === undefined) return undefined;
      for (let i = 0; i < Number(n.slice(1)); i++) {
        const l = line();
        if (l === undefined || buffer.length < at + Number(l.slice(1)) + 2) return undefined;
        at += Number(l.slice(1)) + 2;
      }
      buffer = buffer.subarray(at);
      return [cursor, Number(n.slice(1))];
    };
    socket.on('data', (data) => {
      buffer = Buffer.concat([buffer, data]);
      let r;
      try {
        r = reply();
      } catch (err) {
        reject(err);
        return;
      }
      if (r === undefined) return;
      keys += r[1];
      if (r[0] === '0') {
        socket.end();
        resolve({ keys, seconds: (performance.now() - started) / 1000 });
      } else scan(r[0]);
    });
    socket.on('error', reject);
    scan('0');
  });
}

async function etcdLoad(base, prefix, count) {
  const ops = [];
  const flush = async () => {
    if (ops.length === 0) return;
    await http('POST', `${base}/v3/kv/txn`, { success: ops.splice(0) });
  };
  const pending = [];
  for (let i = 0; i < count; i++) {
    ops.push({ request_put: { key: b64(`${prefix}${String(i).padStart(15, '0')}`), value: b64(VALUE) } });
    if (ops.length === 128) {
      pending.push(flush());
      if (pending.length === 4) await Promise.all(pending.splice(0));
    }
  }
  pending.push(flush());
  await Promise.all(pending);
  return { keys: count, seconds: 0 };
}

const [mode, target, ...rest] = process.argv.slice(2);
const result =
  mode === 'kv'
    ? await kv(target)
    : mode === 'etcd'
      ? await etcd(target)
      : mode === 'redis'
        ? await redis(target)
        : mode === 'etcd-load'
          ? await etcdLoad(target, rest[0], Number(rest[1]))
          : undefined;
if (result === undefined) {
  process.stderr.write(
    'usage: list-all.mjs kv <base-url> | etcd <gateway-url> | redis <port> | etcd-load <gateway-url> <prefix> <count>\n',
  );
  process.exit(2);
}
process.stdout.write(
  `${JSON.stringify({ mode, ...result, keysPerS: result.seconds > 0 ? Math.round(result.keys / result.seconds) : null })}\n`,
);
agent.destroy();
