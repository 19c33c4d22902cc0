// The bare reference for bench/run.sh: node:http and a Map, nothing else. No validation, no
// metadata, no logging: the floor a Node.js HTTP key/value server cannot go below, so kv_store's
// numbers can be read as "what its contract costs on top of Node itself".
//
//   POST /v1/        body {"key": k, "value": v}  -> 201, the value's JSON text
//   GET /v1/<k>                                   -> 200, the value's JSON text (404 if missing)
//   PUT /v1/<k>      body {"value": v}            -> 200, the value's JSON text
//   DELETE /v1/<k>                                -> 204 (404 if missing)
//   GET /healthz                                  -> 200
//
// Environment: REF_HOST (127.0.0.1), REF_PORT (8090).
import { createServer } from 'node:http';

const host = process.env.REF_HOST || '127.0.0.1';
const port = Number(process.env.REF_PORT || 8090);
const store = new Map();
const JSON_TYPE = 'application/json';

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function withBody(req, res, handle) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let parsed;
    try {
      parsed = JSON.parse(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString());
    } catch {
      send(res, 400, '{"error":"invalid_json"}');
      return;
    }
    handle(parsed);
  });
}

const server = createServer((req, res) => {
  const url = req.url;
  if (url === '/healthz') {
    send(res, 200, '{"status":"ok"}');
    return;
  }
  if (!url.startsWith('/v1/')) {
    send(res, 404, '{"error":"not_found"}');
    return;
  }
  const key = url.slice(4);
  switch (req.method) {
    case 'GET': {
      const value = store.get(key);
      send(res, value === undefined ? 404 : 200, value ?? '{"error":"key_not_found"}');
      return;
    }
    case 'DELETE':
      if (store.delete(key)) send(res, 204);
      else send(res, 404, '{"error":"key_not_found"}');
      return;
    case 'PUT':
      withBody(req, res, (body) => {
        const value = JSON.stringify(body.value);
        store.set(key, value);
        send(res, 200, value);
      });
      return;
    case 'POST':
      withBody(req, res, (body) => {
        const value = JSON.stringify(body.value);
        store.set(String(body.key), value);
        send(res, 201, value);
      });
      return;
    default:
      send(res, 405, '{"error":"method_not_allowed"}');
  }
});

server.listen(port, host, () => process.stderr.write(`reference-server listening on ${host}:${port}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
