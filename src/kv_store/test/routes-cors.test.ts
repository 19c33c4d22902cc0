import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, listen, testApp } from './helpers.js';

/**
 * CORS (KV_CORS_ORIGINS), through the API's door and once over a real socket: off by default
 * (OPTIONS is 405, no CORS header anywhere); on, a preflight from an allowed origin is 204 with
 * what the browser asks about, and every answer to an allowed origin, errors included, names it
 * and exposes ETag, Location and the KV-* headers.
 */

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.net';
const EXPOSED = 'ETag, Location, KV-Revision, KV-Store-Id, X-Request-Id, Allow, WWW-Authenticate, Retry-After';
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID';

/** The CORS response headers of an answer, by lower-case name. */
function corsHeaders(headers: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-') || name === 'vary'));
}

function preflight(method: string, headers: Record<string, string> = {}): Record<string, string> {
  return { origin: APP, 'access-control-request-method': method, ...headers };
}

describe('CORS off (the default)', () => {
  it('a preflight is an OPTIONS like any other: 405 method_not_allowed with Allow, and no CORS header', async () => {
    const t = testApp();
    const res = await t.inject({
      method: 'OPTIONS',
      url: '/v1/k',
      headers: preflight('PUT', { 'access-control-request-headers': 'content-type' }),
    });
    expectError(res, 405, 'method_not_allowed', 'method OPTIONS is not allowed here; allowed: GET, HEAD, PUT, DELETE');
    expect(res.headers.allow).toBe('GET, HEAD, PUT, DELETE');
    expect(corsHeaders(res.headers)).toEqual({});
  });

  it('an answer to a request with an Origin has no CORS header', async () => {
    const t = testApp();
    const res = await t.post({ key: 'k', value: 1 }, { origin: APP });
    expectEntry(res, 201, entry({ key: 'k', value: 1, version: 1, revision: 1 }));
    expect(corsHeaders(res.headers)).toEqual({});
  });
});

describe(`CORS for a list of origins (KV_CORS_ORIGINS=${APP},http://localhost:5173)`, () => {
  const env = { KV_CORS_ORIGINS: `${APP},http://localhost:5173` };

  it('a preflight from an allowed origin is 204, allowing the path methods and the headers the API reads', async () => {
    const t = testApp(env);
    for (const [url, methods] of [
      ['/v1/', 'GET, HEAD, POST'],
      ['/v1/users/42', 'GET, HEAD, PUT, DELETE'],
      ['/healthz', 'GET, HEAD'],
    ] as const) {
      const res = await t.inject({
        method: 'OPTIONS',
        url,
        headers: preflight('PUT', { 'access-control-request-headers': 'if-match, content-type' }),
      });
      expect({ status: res.statusCode, body: res.body }, url).toEqual({ status: 204, body: '' });
      expect(corsHeaders(res.headers), url).toEqual({
        'access-control-allow-origin': APP,
        'access-control-allow-methods': methods,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': '600',
        'access-control-expose-headers': EXPOSED,
        vary: 'Origin',
      });
    }
  });

  it('a preflight needs no token, even with access control on; the request after it does', async () => {
    const t = testApp({ ...env, KV_AUTH_TOKEN: 'write-token-1' });
    const res = await t.inject({
      method: 'OPTIONS',
      url: '/v1/k',
      headers: preflight('DELETE', { 'access-control-request-headers': 'authorization' }),
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP);

    const refused = await t.delete('/v1/k', { origin: APP });
    expectError(refused, 401, 'unauthorized', 'this store requires Authorization: Bearer <token>');
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="kv_store"');
    // The app can read why it was refused.
    expect(corsHeaders(refused.headers)).toEqual({
      'access-control-allow-origin': APP,
      'access-control-expose-headers': EXPOSED,
      vary: 'Origin',
    });
  });

  it('every answer to an allowed origin names it and exposes ETag, Location and the KV-* headers: writes, reads, refusals', async () => {
    const t = testApp(env);
    const allowed = { 'access-control-allow-origin': APP, 'access-control-expose-headers': EXPOSED, vary: 'Origin' };
    const created = await t.post({ key: 'k', value: 'v' }, { origin: APP });
    expectEntry(created, 201, entry({ key: 'k', value: 'v', version: 1, revision: 1 }));
    expect(created.headers.location).toBe('/v1/k');
    expect(created.headers['kv-revision']).toBe('1');
    expect(corsHeaders(created.headers)).toEqual(allowed);

    const read = await t.get('/v1/k', { origin: 'http://localhost:5173' });
    expectEntry(read, 200, entry({ key: 'k', value: 'v', version: 1, revision: 1 }));
    expect(corsHeaders(read.headers)).toEqual({ ...allowed, 'access-control-allow-origin': 'http://localhost:5173' });

    const stale = await t.put('/v1/k', { value: 'w' }, { origin: APP, 'if-match': '"7"' });
    expectError(stale, 412, 'version_mismatch', expect.any(String));
    expect(corsHeaders(stale.headers)).toEqual(allowed);

    const head = await t.head('/v1/k', { origin: APP });
    expect({ status: head.statusCode, etag: head.headers.etag }).toEqual({ status: 200, etag: '"1"' });
    expect(corsHeaders(head.headers)).toEqual(allowed);

    const missing = await t.get('/nowhere', { origin: APP });
    expectError(missing, 404, 'not_found', "no resource at '/nowhere'; keys live under /v1/");
    expect(corsHeaders(missing.headers)).toEqual(allowed);
  });

  it('an OPTIONS that is not a preflight stays 405 (with the CORS headers, so the app can read it)', async () => {
    const t = testApp(env);
    const res = await t.inject({ method: 'OPTIONS', url: '/v1/k', headers: { origin: APP } });
    expectError(res, 405, 'method_not_allowed', 'method OPTIONS is not allowed here; allowed: GET, HEAD, PUT, DELETE');
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('another origin gets no CORS header: its preflight is a 405, its requests are answered but not readable to its scripts', async () => {
    const t = testApp(env);
    const pre = await t.inject({ method: 'OPTIONS', url: '/v1/k', headers: { ...preflight('PUT'), origin: OTHER } });
    expectError(pre, 405, 'method_not_allowed', 'method OPTIONS is not allowed here; allowed: GET, HEAD, PUT, DELETE');
    expect(corsHeaders(pre.headers)).toEqual({ vary: 'Origin' });
    const res = await t.get('/healthz', { origin: OTHER });
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 200, body: { status: 'ok' } });
    expect(corsHeaders(res.headers)).toEqual({ vary: 'Origin' });
    // An origin differs from an allowed one by scheme or port, or is not one at all: not allowed.
    for (const origin of ['http://app.example.com', 'https://app.example.com:8443', 'null']) {
      const other = await t.get('/healthz', { origin });
      expect(other.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });
});

describe('CORS for any origin (KV_CORS_ORIGINS=*)', () => {
  it('answers every origin with Access-Control-Allow-Origin: * and no Vary', async () => {
    const t = testApp({ KV_CORS_ORIGINS: '*' });
    const pre = await t.inject({ method: 'OPTIONS', url: '/v1/', headers: { ...preflight('POST'), origin: OTHER } });
    expect(pre.statusCode).toBe(204);
    expect(corsHeaders(pre.headers)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
      'access-control-expose-headers': EXPOSED,
    });
    const created = await t.post({ key: 'k', value: 1 }, { origin: OTHER });
    expect(created.statusCode).toBe(201);
    expect(corsHeaders(created.headers)).toEqual({ 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSED });
    // A request without an Origin (curl, a server) is not a cross-origin one: no CORS header.
    expect(corsHeaders((await t.get('/v1/k')).headers)).toEqual({});
  });
});

describe('CORS over a real socket', () => {
  it('a browser-like preflight then PUT, pipelined on one connection, get the 204 and the 200 with their CORS headers', async () => {
    const t = testApp({ KV_CORS_ORIGINS: APP });
    const base = new URL(await listen(t.app));
    expect((await t.post({ key: 'k', value: 1 })).statusCode).toBe(201);
    const body = '{"value":2}';
    const requests =
      `OPTIONS /v1/k HTTP/1.1\r\nHost: kv\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type,if-match\r\n\r\n` +
      `PUT /v1/k HTTP/1.1\r\nHost: kv\r\nOrigin: ${APP}\r\nContent-Type: application/json\r\nIf-Match: "1"\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: base.hostname, port: Number(base.port) });
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
      socket.write(requests);
    });
    // The 204 has no body: the PUT's answer starts right after its head.
    const cut = text.indexOf('\r\n\r\n') + 4;
    const preflightHead = text.slice(0, cut);
    const rest = text.slice(cut);
    expect(preflightHead).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(preflightHead).toContain(`\r\nAccess-Control-Allow-Origin: ${APP}\r\n`);
    expect(preflightHead).toContain('\r\nAccess-Control-Allow-Methods: GET, HEAD, PUT, DELETE\r\n');
    expect(preflightHead).toContain(`\r\nAccess-Control-Allow-Headers: ${ALLOWED_HEADERS}\r\n`);
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(rest).toContain(`\r\nAccess-Control-Allow-Origin: ${APP}\r\n`);
    expect(rest).toContain(`\r\nAccess-Control-Expose-Headers: ${EXPOSED}\r\n`);
    expect(rest).toContain('\r\nETag: "2"\r\n');
    expect(JSON.parse(rest.slice(rest.indexOf('\r\n\r\n') + 4))).toEqual(entry({ key: 'k', value: 2, version: 2, revision: 2 }));
  });
});
