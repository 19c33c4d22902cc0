import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { entry, expectEntry, expectError, FakeClock, testApp } from './helpers.js';
import { callApi as inject } from './support/call-api.js';

const RW = 'rw-token-0123456789';
const RO = 'ro-token-0123456789';
const BOTH = { KV_AUTH_TOKEN: RW, KV_READ_TOKEN: RO };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const MISSING = 'this store requires Authorization: Bearer <token>';
const CHALLENGE = 'Bearer realm="kv_store"';
const INVALID = 'the bearer token is not valid';
const INVALID_CHALLENGE = 'Bearer realm="kv_store", error="invalid_token"';
const READ_ONLY = 'the bearer token is read-only; writes need the read-write token (KV_AUTH_TOKEN)';

describe('access control', () => {
  it('is off unless a token is configured', async () => {
    const t = testApp();
    expect((await t.post({ key: 'foo', value: 1 })).statusCode).toBe(201);
    expect((await t.get('/v1/foo')).statusCode).toBe(200);
  });

  it('a request without Authorization is 401 unauthorized with WWW-Authenticate: Bearer, on every /v1/ route', async () => {
    const t = testApp(BOTH);
    const responses = [
      await t.get('/v1/foo'),
      await t.head('/v1/foo'),
      await t.post({ key: 'foo', value: 1 }),
      await t.put('/v1/foo', { value: 1 }),
      await t.delete('/v1/foo'),
      await t.inject({ method: 'PATCH', url: '/v1/foo' }),
      await t.get('/v1/'),
    ];
    for (const res of responses) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(CHALLENGE);
      if (res.body !== '') expect(res.json()).toEqual({ error: { code: 'unauthorized', message: MISSING } });
    }
    expect(responses[1]?.body).toBe('');
  });

  it('is checked before the body: a POST of bad JSON without a token is 401', async () => {
    const t = testApp(BOTH);
    expectError(await t.post('{nope'), 401, 'unauthorized', MISSING);
  });

  it('a wrong token, or another scheme, is 401', async () => {
    const t = testApp(BOTH);
    const wrong = await t.get('/v1/foo', bearer('not-the-token'));
    expectError(wrong, 401, 'unauthorized', INVALID);
    expect(wrong.headers['www-authenticate']).toBe(INVALID_CHALLENGE);
    const prefix = await t.get('/v1/foo', bearer(RW.slice(0, -1)));
    expectError(prefix, 401, 'unauthorized', INVALID);
    for (const authorization of [`Basic ${Buffer.from(`u:${RW}`).toString('base64')}`, RW, 'Bearer', 'Bearer ']) {
      const res = await t.get('/v1/foo', { authorization });
      expectError(res, 401, 'unauthorized', MISSING);
      expect(res.headers['www-authenticate']).toBe(CHALLENGE);
    }
  });

  it('the read-write token may do everything', async () => {
    const t = testApp(BOTH);
    const auth = bearer(RW);
    expectEntry(await t.post({ key: 'foo', value: 1 }, auth), 201, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.get('/v1/foo', auth), 200, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.put('/v1/foo', { value: 2 }, auth), 200, entry({ key: 'foo', value: 2, version: 2, revision: 2 }));
    expect((await t.delete('/v1/foo', auth)).statusCode).toBe(204);
  });

  it('accepts the scheme in any case', async () => {
    const t = testApp(BOTH);
    await t.post({ key: 'foo', value: 1 }, bearer(RW));
    expect((await t.get('/v1/foo', { authorization: `bearer ${RO}` })).statusCode).toBe(200);
  });

  it('the read-only token may GET and HEAD, and a write with it is 403 forbidden', async () => {
    const t = testApp(BOTH);
    await t.post({ key: 'foo', value: 1 }, bearer(RW));
    const auth = bearer(RO);
    expectEntry(await t.get('/v1/foo', auth), 200, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
    const head = await t.head('/v1/foo', auth);
    expect({ status: head.statusCode, etag: head.headers.etag, body: head.body }).toEqual({ status: 200, etag: '"1"', body: '' });
    expectError(await t.post({ key: 'bar', value: 1 }, auth), 403, 'forbidden', READ_ONLY);
    expectError(await t.put('/v1/foo', { value: 2 }, auth), 403, 'forbidden', READ_ONLY);
    expectError(await t.delete('/v1/foo', auth), 403, 'forbidden', READ_ONLY);
    expectEntry(await t.get('/v1/foo', auth), 200, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
  });

  it('with only KV_READ_TOKEN the store is read-only', async () => {
    const t = testApp({ KV_READ_TOKEN: RO });
    expectError(await t.post({ key: 'foo', value: 1 }, bearer(RO)), 403, 'forbidden', READ_ONLY);
    expectError(await t.get('/v1/foo', bearer(RO)), 404, 'key_not_found', "key 'foo' not found");
    expectError(await t.get('/v1/foo'), 401, 'unauthorized', MISSING);
  });

  it('with only KV_AUTH_TOKEN that token is required for reads too', async () => {
    const t = testApp({ KV_AUTH_TOKEN: RW });
    expectError(await t.get('/v1/foo'), 401, 'unauthorized', MISSING);
    expect((await t.post({ key: 'foo', value: 1 }, bearer(RW))).statusCode).toBe(201);
    expect((await t.get('/v1/foo', bearer(RW))).statusCode).toBe(200);
  });

  it('/healthz and unknown paths stay open', async () => {
    const t = testApp(BOTH);
    const health = await t.get('/healthz');
    expect({ status: health.statusCode, body: health.body }).toEqual({ status: 200, body: '{"status":"ok"}' });
    expectError(await t.get('/nope'), 404, 'not_found', "no resource at '/nope'; keys live under /v1/");
  });

  it('never logs a token, even at trace level and on an internal error', async () => {
    let logged = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += String(chunk);
        done();
      },
    });
    const app = buildApp({ config: loadConfig(BOTH), logger: pino({ level: 'trace' }, sink), clock: new FakeClock() });
    try {
      const run = (method: string, url: string, token: string, payload?: string) =>
        inject(app.door, {
          method,
          url,
          headers: { ...bearer(token), 'content-type': 'application/json' },
          ...(payload ? { payload } : {}),
        });
      await run('POST', '/v1/', RW, '{"key":"foo","value":1}');
      await run('GET', '/v1/foo', RO);
      await run('PUT', '/v1/foo', RO, '{"value":2}');
      await run('GET', '/v1/foo', 'wrong-token-xyz');
      app.store.get = () => {
        throw new Error('boom');
      };
      expect((await run('GET', '/v1/foo', RW)).statusCode).toBe(500);
    } finally {
      app.close();
    }
    expect(logged).toContain('request failed');
    // The error line names the route, not the key (keys are logged only at debug, in request lines).
    expect(logged).toContain('"route":"/v1/{key}"');
    for (const secret of [RW, RO, 'wrong-token-xyz']) expect(logged).not.toContain(secret);
  });
});
