// kv_store's own code for one request, without a socket: the request's bytes go to a Connection
// (the parser, the API, the store, the answer) whose socket is a stand-in that only counts what
// is written. No syscall, no stream machinery, no event loop: what is left is what kv_store's
// code costs, for bench/request-path.sh to count in instructions, or to profile
// (node --cpu-prof bench/request-path.mjs ...).
//
//   node bench/request-path.mjs <dist> <get|put|miss|list> [n]
// <dist> is a build's src/kv_store/dist. 10,000 keys of bench/preload.mjs's shape are created,
// `miss` GETs keys that were never written (404 key_not_found), and `list` asks for the 100-key
// page the bench's page row asks for (GET /v1/?limit=100&start=<key>, no values).
// 50,000 requests warm the code up, then n (300,000) are timed; with KV_DATA_DIR set, the store
// is durable there (KV_FSYNC, default no).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { key, VALUE } from './preload.mjs';

const [distArg, load = 'get', n = '300000'] = process.argv.slice(2);
if (distArg === undefined || !['get', 'put', 'miss', 'list'].includes(load)) {
  console.error('usage: node bench/request-path.mjs <src/kv_store/dist> <get|put|miss|list> [n]');
  process.exit(2);
}
const dist = pathToFileURL(resolve(distArg)).href;
const { buildApp, openStore } = await import(`${dist}/app.js`);
const { loadConfig } = await import(`${dist}/config.js`);
const { createLogger } = await import(`${dist}/logger.js`);
const { Connection, flushConnections } = await import(`${dist}/http/connection.js`);

const durable = process.env.KV_DATA_DIR ? { KV_DATA_DIR: process.env.KV_DATA_DIR, KV_FSYNC: process.env.KV_FSYNC ?? 'no' } : {};
const config = loadConfig({ KV_LOG_LEVEL: 'warn', KV_WARM_UP_MS: '0', ...durable });
const logger = createLogger('warn');
const { store } = await openStore(config, logger);
const app = buildApp({ config, logger, store });
const KEYS = 10_000;
for (let i = 0; i < KEYS; i++) await app.store.create(key('k', i), VALUE);

let written = 0;
const socket = {
  write(text) {
    written += text.length;
    return true;
  },
  cork() {},
  uncork() {},
  writableLength: 0,
  writableNeedDrain: false,
  destroyed: false,
  isPaused: () => false,
  pause() {},
  resume() {},
  end() {},
  once() {},
  destroy() {},
};
const connection = new Connection(socket, app.server, Date.now());
const requests = [];
for (let i = 0; i < 1000; i++) {
  const k = key('k', (i * 7919) % KEYS);
  const body = `{"value":${VALUE}}`;
  requests.push(
    Buffer.from(
      load === 'list'
        ? `GET /v1/?limit=100&start=${k} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`
        : load === 'get' || load === 'miss'
          ? `GET /v1/${load === 'miss' ? key('z', i) : k} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`
          : `PUT /v1/${k} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ),
  );
}
// A server writes its answers at the end of the event loop's turn; here each request is a turn.
// (A build from before flushConnections wrote them in onData.)
const endOfTurn = flushConnections ?? (() => {});
function run(count) {
  for (let i = 0; i < count; i++) {
    connection.onData(requests[i % requests.length]);
    endOfTurn();
  }
}
run(50_000);
const N = Number(n);
const t0 = process.hrtime.bigint();
run(N);
const ns = Number(process.hrtime.bigint() - t0) / N;
console.log(`${load} ${ns.toFixed(0)} ns/request (${(written / (N + 50_000)).toFixed(0)} characters an answer)`);
process.exit(0);
