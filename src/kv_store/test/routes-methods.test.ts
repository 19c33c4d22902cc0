import { describe, expect, it, vi } from 'vitest';
import { expectError, JSON_TYPE, testApp } from './helpers.js';

describe('405 method_not_allowed', () => {
  it('on /v1/ for anything but GET, HEAD and POST, with Allow: GET, HEAD, POST', async () => {
    const t = testApp();
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await t.inject({ method, url: '/v1/' });
      expectError(res, 405, 'method_not_allowed', `method ${method} is not allowed here; allowed: GET, HEAD, POST`);
      expect(res.headers.allow).toBe('GET, HEAD, POST');
    }
    const head = await t.head('/v1/');
    expect({ status: head.statusCode, type: head.headers['content-type'], body: head.body }).toEqual({
      status: 200,
      type: JSON_TYPE,
      body: '',
    });
  });

  it('on /v1/<key> for POST, PATCH and OPTIONS, with Allow: GET, HEAD, PUT, DELETE', async () => {
    const t = testApp();
    for (const method of ['POST', 'PATCH', 'OPTIONS']) {
      const res = await t.inject({ method, url: '/v1/foo', headers: { 'content-type': 'application/json' }, payload: '{}' });
      expectError(res, 405, 'method_not_allowed', `method ${method} is not allowed here; allowed: GET, HEAD, PUT, DELETE`);
      expect(res.headers.allow).toBe('GET, HEAD, PUT, DELETE');
    }
  });
});

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok"}', async () => {
    const t = testApp();
    const res = await t.get('/healthz');
    expect({ status: res.statusCode, type: res.headers['content-type'], body: res.body }).toEqual({
      status: 200,
      type: JSON_TYPE,
      body: '{"status":"ok"}',
    });
    expect((await t.get('/healthz?probe=1')).body).toBe('{"status":"ok"}');
  });

  it('answers HEAD with no body', async () => {
    const t = testApp();
    const res = await t.head('/healthz');
    expect({ status: res.statusCode, body: res.body }).toEqual({ status: 200, body: '' });
  });

  it('refuses other methods with 405 and Allow: GET, HEAD', async () => {
    const t = testApp();
    const res = await t.inject({ method: 'POST', url: '/healthz' });
    expectError(res, 405, 'method_not_allowed', 'method POST is not allowed here; allowed: GET, HEAD');
    expect(res.headers.allow).toBe('GET, HEAD');
  });
});

describe('404 not_found', () => {
  it('answers any path outside /v1/ and /healthz', async () => {
    const t = testApp();
    for (const path of ['/', '/v1', '/v2/foo', '/V1/foo', '/healthz/x', '/favicon.ico']) {
      expectError(await t.get(path), 404, 'not_found', `no resource at '${path}'; keys live under /v1/`);
    }
    expectError(await t.inject({ method: 'DELETE', url: '/v1?x' }), 404, 'not_found', "no resource at '/v1'; keys live under /v1/");
  });
});

describe('500 internal', () => {
  it('an unexpected error answers a generic 500 without a stack trace or the error text', async () => {
    const t = testApp();
    vi.spyOn(t.app.store, 'get').mockImplementation(() => {
      throw new Error('boom: secret detail');
    });
    const res = await t.get('/v1/foo');
    expectError(res, 500, 'internal', 'internal error');
    expect(res.body).not.toContain('boom');
    expect(res.body).not.toContain('at ');
  });
});
