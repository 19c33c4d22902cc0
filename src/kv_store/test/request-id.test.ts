import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { MAX_REQUEST_ID_LENGTH, RequestIds } from '../src/api/request-id.js';
import { loadConfig } from '../src/config.js';
import { Readiness } from '../src/readiness.js';
import { FakeClock, JSON_HEADERS, listen, testApp } from './helpers.js';

const MADE = /^[A-Za-z0-9_-]{8}-[0-9a-z]+$/;

describe('X-Request-Id', () => {
  it("keeps the client's id on the answer, whatever the answer", async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '16', KV_AUTH_TOKEN: 'write-token-1' });
    const w = { authorization: 'Bearer write-token-1' };
    const answers = [
      await t.post({ key: 'a', value: 1 }, { ...w, 'x-request-id': 'r-201' }),
      await t.post({ key: 'a', value: 1 }, { ...w, 'x-request-id': 'r-409' }),
      await t.get('/v1/a', { 'x-request-id': 'r-401' }),
      await t.get('/v1/a', { ...w, 'x-request-id': 'r-200' }),
      await t.get('/nowhere', { 'x-request-id': 'r-404' }),
      await t.inject({ method: 'PATCH', url: '/v1/a', headers: { ...w, 'x-request-id': 'r-405' } }),
      await t.inject({
        method: 'PUT',
        url: '/v1/a',
        headers: { ...w, ...JSON_HEADERS, 'x-request-id': 'r-413' },
        payload: 'x'.repeat(70_000),
      }),
      await t.get('/healthz', { 'x-request-id': 'r-health' }),
      await t.get('/readyz', { 'x-request-id': 'r-ready' }),
      await t.get('/metrics', { ...w, 'x-request-id': 'r-metrics' }),
    ];
    expect(answers.map((a) => [a.statusCode, a.headers['x-request-id']])).toEqual([
      [201, 'r-201'],
      [409, 'r-409'],
      [401, 'r-401'],
      [200, 'r-200'],
      [404, 'r-404'],
      [405, 'r-405'],
      [413, 'r-413'],
      [200, 'r-health'],
      [200, 'r-ready'],
      [200, 'r-metrics'],
    ]);
  });

  it('makes an id when the client sends none, or one that is not printable ASCII or is too long; each is new', async () => {
    const t = testApp();
    const ids: string[] = [];
    for (const given of [undefined, '', 'has space', 'tab\there', 'ü-nicode', 'x'.repeat(MAX_REQUEST_ID_LENGTH + 1)]) {
      const res = await t.get('/healthz', given === undefined ? {} : { 'x-request-id': given });
      const id = res.headers['x-request-id'] ?? '';
      expect(id, JSON.stringify(given)).toMatch(MADE);
      ids.push(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const longest = 'x'.repeat(MAX_REQUEST_ID_LENGTH);
    expect((await t.get('/healthz', { 'x-request-id': longest })).headers['x-request-id']).toBe(longest);
    expect((await t.get('/healthz', { 'x-request-id': '!~"{}' })).headers['x-request-id']).toBe('!~"{}');
  });

  it('two kv_store processes (two id makers) make different ids', () => {
    const a = new RequestIds();
    const b = new RequestIds();
    expect(a.make()).not.toBe(b.make());
    expect(a.make()).toMatch(MADE);
  });

  it("is on the stored resources' answers beside KV-Revision and KV-Store-Id", async () => {
    const t = testApp();
    const res = await t.post({ key: 'a', value: 1 }, { 'x-request-id': 'abc' });
    expect(res.headers).toMatchObject({ 'kv-revision': '1', 'kv-store-id': t.app.store.id, 'x-request-id': 'abc' });
  });
});

/** kv_store on a real socket, logging at `level` into an array of parsed lines. */
async function logging(level: string, env: Record<string, string> = {}, readiness?: Readiness) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({ KV_LOG_LEVEL: 'silent', ...env });
  const app = buildApp({ config, logger: pino({ level }, sink), clock: new FakeClock(), ...(readiness ? { readiness } : {}) });
  const url = await listen(app);
  return { app, url, lines };
}

describe('request logs', () => {
  it('at debug: one line per request with its id, method, route, status, duration and target; never a value or a token', async () => {
    const { url, lines } = await logging('debug', { KV_AUTH_TOKEN: 'write-token-1' });
    const headers = { authorization: 'Bearer write-token-1', 'content-type': 'application/json', 'x-request-id': 'trace-me' };
    await (await fetch(`${url}/v1/`, { method: 'POST', headers, body: '{"key":"users/42","value":"s3cret-value"}' })).text();
    await (await fetch(`${url}/v1/users%2F42`, { headers: { authorization: 'Bearer write-token-1' } })).text();
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ level: 20, requestId: 'trace-me', method: 'POST', route: '/v1/', status: 201, url: '/v1/' });
    expect(requests[1]).toMatchObject({ method: 'GET', route: '/v1/{key}', status: 200, url: '/v1/users%2F42' });
    expect(requests[1]?.requestId).toMatch(MADE);
    for (const line of requests) expect(typeof line.durationMs === 'number' && line.durationMs >= 0).toBe(true);
    const all = JSON.stringify(lines);
    expect(all).not.toContain('s3cret-value');
    expect(all).not.toContain('write-token-1');
  });

  it('at info: no line for a request answered below 500; a 500 gets a warn line and its error line, both with the request id and route, neither with the key', async () => {
    const { app, url, lines } = await logging('info');
    await (await fetch(`${url}/v1/`, { method: 'POST', headers: JSON_HEADERS, body: '{"key":"secret-key","value":1}' })).text();
    await (await fetch(`${url}/v1/secret-key`)).text();
    expect(lines).toEqual([]);
    app.store.get = () => {
      throw new Error('boom');
    };
    const res = await fetch(`${url}/v1/secret-key`, { headers: { 'x-request-id': 'broken-1' } });
    expect({ status: res.status, id: res.headers.get('x-request-id'), body: await res.json() }).toEqual({
      status: 500,
      id: 'broken-1',
      body: { error: { code: 'internal', message: 'internal error' } },
    });
    expect(lines.map((l) => [l.level, l.msg, l.requestId, l.route, l.status])).toEqual([
      [50, 'request failed', 'broken-1', '/v1/{key}', 500],
      [40, 'request answered with a server error', 'broken-1', '/v1/{key}', 500],
    ]);
    expect(lines[0]).toMatchObject({ err: { message: 'boom' } });
    expect(JSON.stringify(lines)).not.toContain('secret-key');
  });

  it("/readyz's 503 is its answer, not a server error: no warn line per probe at info, a request line at debug", async () => {
    for (const level of ['info', 'debug']) {
      const readiness = new Readiness();
      readiness.add('backend', () => 'etcd not reached yet');
      const { url, lines } = await logging(level, {}, readiness);
      for (let probe = 0; probe < 3; probe++) {
        const res = await fetch(`${url}/readyz`);
        expect({ status: res.status, body: await res.json() }).toEqual({
          status: 503,
          body: {
            status: 'not_ready',
            checks: [{ name: 'backend', ok: false, reason: 'etcd not reached yet' }],
          },
        });
      }
      expect(lines.map((l) => [l.level, l.msg, l.route, l.status])).toEqual(
        level === 'info' ? [] : Array.from({ length: 3 }, () => [20, 'request', '/readyz', 503]),
      );
    }
  });
});
