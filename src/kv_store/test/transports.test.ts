import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildApp, memoryStore } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { FakeClock, iso, JSON_TYPE } from './helpers.js';

/**
 * The API over each real transport, on a real socket of 127.0.0.1: kv_store's own HTTP/1.1
 * server (production) and the node:http adapter (embedding). The same requests, the same
 * answers, byte for byte where the transport does not own the bytes.
 */

const BODY_LIMIT = 8192;

type Listen = () => Promise<string>;

function app() {
  const config = loadConfig({ KV_LOG_LEVEL: 'silent', KV_MAX_VALUE_BYTES: '1024', KV_MAX_BODY_BYTES: String(BODY_LIMIT) });
  const built = buildApp({ config, store: memoryStore(config, new FakeClock(), 'transport-test-store') });
  onTestFinished(() => built.close());
  return built;
}

async function listenOn(server: Server | ReturnType<typeof app>['server']): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const transports: Array<[string, Listen]> = [
  ['the wire server (wire-server.ts)', () => listenOn(app().server)],
  ['node:http with the adapter (node-adapter.ts)', () => listenOn(createServer(app().handler))],
];

interface Seen {
  status: number;
  type: string | null;
  headers: Record<string, string | null>;
  body: unknown;
}

async function call(
  url: string,
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<Seen> {
  const res = await fetch(`${url}${path}`, { method, body: init.body, headers: init.headers });
  const text = await res.text();
  const headers: Record<string, string | null> = {};
  for (const name of ['etag', 'location', 'allow', 'kv-revision', 'kv-store-id']) headers[name] = res.headers.get(name);
  return { status: res.status, type: res.headers.get('content-type'), headers, body: text === '' ? '' : JSON.parse(text) };
}

const json = { 'content-type': 'application/json' };
const entry = (value: unknown, version: number, revision: number) => ({
  key: 'a/b',
  value,
  version,
  revision,
  createdAt: iso(),
  updatedAt: iso(),
  expiresAt: null,
});
const store = (revision: number) => ({ 'kv-revision': String(revision), 'kv-store-id': 'transport-test-store' });

describe.each(transports)('the API over %s', (_name, listen) => {
  it('creates, reads, overwrites with If-Match, refuses a stale one, deletes: statuses, headers and bodies', async () => {
    const url = await listen();
    expect(await call(url, 'POST', '/v1/', { body: '{"key":"a/b","value":{"n":1}}', headers: json })).toEqual({
      status: 201,
      type: JSON_TYPE,
      headers: { etag: '"1"', location: '/v1/a%2Fb', allow: null, ...store(1) },
      body: entry({ n: 1 }, 1, 1),
    });
    expect(await call(url, 'GET', '/v1/a/b')).toEqual({
      status: 200,
      type: JSON_TYPE,
      headers: { etag: '"1"', location: null, allow: null, ...store(1) },
      body: entry({ n: 1 }, 1, 1),
    });
    expect(await call(url, 'HEAD', '/v1/a%2Fb')).toMatchObject({ status: 200, headers: { etag: '"1"' }, body: '' });
    expect(await call(url, 'GET', '/v1/a/b', { headers: { 'if-none-match': '"1"' } })).toMatchObject({ status: 304, body: '' });
    expect(await call(url, 'PUT', '/v1/a/b', { body: '{"value":2}', headers: { ...json, 'if-match': '"1"' } })).toEqual({
      status: 200,
      type: JSON_TYPE,
      headers: { etag: '"2"', location: null, allow: null, ...store(2) },
      body: entry(2, 2, 2),
    });
    expect(await call(url, 'PUT', '/v1/a/b', { body: '{"value":3}', headers: { ...json, 'if-match': '"1"' } })).toEqual({
      status: 412,
      type: JSON_TYPE,
      headers: { etag: null, location: null, allow: null, ...store(2) },
      body: { error: { code: 'version_mismatch', message: `key 'a/b' is at revision 2 (ETag "2"), but If-Match asked for "1"` } },
    });
    expect(await call(url, 'DELETE', '/v1/a/b', { headers: { 'if-none-match': '*' } })).toMatchObject({ status: 412 });
    expect(await call(url, 'DELETE', '/v1/a/b')).toEqual({
      status: 204,
      type: null,
      headers: { etag: null, location: null, allow: null, ...store(3) },
      body: '',
    });
    expect(await call(url, 'GET', '/v1/a/b')).toMatchObject({
      status: 404,
      body: { error: { code: 'key_not_found', message: "key 'a/b' not found" } },
    });
  });

  it('a listing page (a body written as bytes): whole, with its Content-Length; HEAD answers the length and no body', async () => {
    const url = await listen();
    const keys = ['a"q', 'b\\s', 'cé', 'd🔑', 'e'];
    for (const key of keys) await call(url, 'POST', '/v1/', { body: JSON.stringify({ key, value: key }), headers: json });
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Response = await fetch(`${url}/v1/?limit=2&values=true${cursor === null ? '' : `&cursor=${cursor}`}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect([res.status, res.headers.get('content-type'), res.headers.get('content-length')]).toEqual([
        200,
        JSON_TYPE,
        String(bytes.length),
      ]);
      const page = JSON.parse(bytes.toString('utf8'));
      pages.push(...page.items.map((item: { key: string; value: string }) => `${item.key}=${item.value}`));
      cursor = page.cursor;
      const head = await fetch(`${url}/v1/?limit=2&values=true${cursor === null ? '' : `&cursor=${cursor}`}`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-length') !== null, await head.text()]).toEqual([200, true, '']);
    } while (cursor !== null);
    expect(pages).toEqual(keys.map((k) => `${k}=${k}`));
    const get = await fetch(`${url}/v1/?prefix=c`);
    const head = await fetch(`${url}/v1/?prefix=c`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(Buffer.from(await get.arrayBuffer()).length));
  });

  it('refuses what the contract refuses: 405 with Allow, 415, 413 for a body past the limit, 404 elsewhere; /healthz answers', async () => {
    const url = await listen();
    expect(await call(url, 'PATCH', '/v1/k')).toMatchObject({
      status: 405,
      headers: { allow: 'GET, HEAD, PUT, DELETE', ...store(0) },
      body: { error: { code: 'method_not_allowed', message: 'method PATCH is not allowed here; allowed: GET, HEAD, PUT, DELETE' } },
    });
    expect(await call(url, 'POST', '/v1/', { body: 'key=a', headers: { 'content-type': 'text/plain' } })).toMatchObject({
      status: 415,
      body: { error: { code: 'unsupported_media_type', message: "Content-Type must be application/json, got 'text/plain'" } },
    });
    expect(await call(url, 'POST', '/v1/', { body: `{"key":"k","value":"${'x'.repeat(BODY_LIMIT)}"}`, headers: json })).toMatchObject({
      status: 413,
      body: {
        error: { code: 'payload_too_large', message: `request body is larger than the limit of ${BODY_LIMIT} bytes (KV_MAX_BODY_BYTES)` },
      },
    });
    expect(await call(url, 'GET', '/nowhere')).toMatchObject({
      status: 404,
      headers: { 'kv-revision': null },
      body: { error: { code: 'not_found', message: "no resource at '/nowhere'; keys live under /v1/" } },
    });
    expect(await call(url, 'GET', '/healthz')).toEqual({
      status: 200,
      type: JSON_TYPE,
      headers: { etag: null, location: null, allow: null, 'kv-revision': null, 'kv-store-id': null },
      body: { status: 'ok' },
    });
  });
});
