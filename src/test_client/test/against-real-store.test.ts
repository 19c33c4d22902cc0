import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../src/run/report.js';
import { type RealStore, startRealStore } from '../../client/test/real-store.js';
import { type RunningTestClient, runEndpoint, startTestClient } from './helpers/test-client.js';

let store: RealStore;
let client: RunningTestClient;

beforeAll(async () => {
  store = await startRealStore();
  client = await startTestClient(store.url);
});
afterAll(async () => {
  await client.close();
  await store.close();
});

function expectPassed(report: TestReport, test: string): void {
  expect(report).toMatchObject({ test, status: 'passed', kvStoreUrl: store.url });
  expect(report.error).toBeUndefined();
  expect(report.runId).toMatch(/^[0-9a-f-]{36}$/);
  expect(report.key).toBe(`test_client/${report.runId}/${test.replace('test_', '')}`);
  expect(typeof report.durationMs).toBe('number');
  for (const step of report.steps) expect(step, step.name).toMatchObject({ ok: true });
}

describe('test_client against the real kv_store', () => {
  it('GET /test_overwrite answers 200 passed, every step ok, and leaves no key behind', async () => {
    const { status, report } = await runEndpoint(client.url, '/test_overwrite');
    expect(status).toBe(200);
    expectPassed(report, 'test_overwrite');
    expect(report.steps.map((s) => [s.request.method, s.actual.status])).toEqual([
      ['POST', 201],
      ['POST', 409],
      ['PUT', 200],
      ['GET', 200],
      ['PUT', 412],
      ['GET', 200],
      ['DELETE', 204],
    ]);
    const [created, , replaced, read, stale] = report.steps;
    expect(created?.actual.headers?.location).toBe(`/v1/${encodeURIComponent(report.key)}`);
    expect(created?.actual.body).toMatchObject({ key: report.key, version: 1 });
    expect(replaced?.actual.body).toMatchObject({ key: report.key, version: 2 });
    expect(read?.actual.body).toEqual(replaced?.actual.body);
    expect(stale?.request.headers).toEqual({ 'if-match': created?.actual.headers?.etag });
    expect(stale?.actual.body).toMatchObject({ error: { code: 'version_mismatch' } });
    expect(report.steps.at(-1)).toMatchObject({ cleanup: true, request: { method: 'DELETE' } });
    expect(store.store.get(report.key)).toBeUndefined();
  });

  it('GET /test_delete answers 200 passed, every step ok, and leaves no key behind', async () => {
    const { status, report } = await runEndpoint(client.url, '/test_delete');
    expect(status).toBe(200);
    expectPassed(report, 'test_delete');
    expect(report.steps.map((s) => [s.request.method, s.actual.status])).toEqual([
      ['POST', 201],
      ['DELETE', 204],
      ['GET', 404],
      ['DELETE', 404],
      ['PUT', 404],
      ['POST', 201],
      ['DELETE', 204],
    ]);
    expect(report.steps[2]?.actual.body).toMatchObject({ error: { code: 'key_not_found' } });
    expect(report.steps[5]?.actual.body).toMatchObject({ key: report.key, version: 1 });
    expect(store.store.get(report.key)).toBeUndefined();
  });

  it('each step records its request, expectation and answer', async () => {
    const { report } = await runEndpoint(client.url, '/test_overwrite');
    expect(report.steps[1]).toEqual({
      name: 'a second POST of the key is refused',
      request: {
        method: 'POST',
        path: '/v1/',
        body: { key: report.key, value: { test: 'test_overwrite', runId: report.runId, write: 2, list: [1, 'two', null, true] } },
      },
      expected: { status: 409, shape: 'error', body: { 'error.code': 'key_exists' } },
      actual: {
        status: 409,
        body: {
          error: {
            code: 'key_exists',
            message: `key '${report.key}' already exists; use PUT /v1/${encodeURIComponent(report.key)} to overwrite it`,
          },
        },
      },
      ok: true,
      durationMs: expect.any(Number),
    });
  });

  it('GET /test_list answers 200 passed, every step ok, and leaves no key behind', async () => {
    const { status, report } = await runEndpoint(client.url, '/test_list');
    expect(status).toBe(200);
    expectPassed(report, 'test_list');
    expect(report.steps.filter((s) => s.cleanup === true).map((s) => s.actual.status)).toEqual([404, 204, 204, 204, 204, 204, 204]);
    for (const key of [report.key, ...['a', 'b', 'bb', 'c/1', 'c/2', 'd'].map((n) => `${report.key}/${n}`)]) {
      expect(await store.store.get(key), key).toBeUndefined();
    }
  });

  it('GET /test_watch answers 200 passed, every step ok, and leaves no key behind', async () => {
    const { status, report } = await runEndpoint(client.url, '/test_watch');
    expect(status).toBe(200);
    expectPassed(report, 'test_watch');
    expect(report.steps.map((s) => s.name)).toEqual([
      'create a fresh key',
      'a long-poll after the creation has no changes yet',
      'open an SSE watch of the key',
      'PUT a new value',
      'DELETE the key',
      'the SSE stream delivered the PUT and the DELETE, in order, with id = revision',
      'a long-poll from the creation gets both changes at once',
      'reconnect as a browser does, with Last-Event-ID of the PUT',
      'the reconnected stream resumes at the DELETE, and nothing before it',
      'a watch that names neither SSE, NDJSON nor wait is refused',
      'clean up: delete the key',
    ]);
    expect(await store.store.get(report.key)).toBeUndefined();
  });

  it('GET /test_txn answers 200 passed, every step ok, and leaves no key behind', async () => {
    const { status, report } = await runEndpoint(client.url, '/test_txn');
    expect(status).toBe(200);
    expectPassed(report, 'test_txn');
    expect(report.steps.map((s) => [s.name, s.request.method, s.actual.status])).toEqual([
      ['create the key holding the token', 'POST', 201],
      ['a transaction whose last op fails is refused, naming that op', 'POST', 409],
      ["GET shows the failed transaction's set did not happen", 'GET', 404],
      ["GET shows the failed transaction's incr did not happen", 'GET', 404],
      ["GET shows the failed transaction's delete did not happen: the token is as it was", 'GET', 200],
      ['a transaction whose check fails is refused, naming the check with expected and actual', 'POST', 409],
      ['move the token (delete it here, create it there, count the move) if it is still at its revision', 'POST', 200],
      ['GET shows the token gone from where it was', 'GET', 404],
      ["GET shows the token where it went, at the move's revision", 'GET', 200],
      ["GET shows the counter at 1, at the move's revision too", 'GET', 200],
      ["a watch from before the move gets the move's three changes, all at its revision", 'GET', 200],
      ['incr by 2, then get, in one transaction: the get sees the incr', 'POST', 200],
      ['a transaction that increments the counter, then fails to increment a value that is not a number, is refused', 'POST', 409],
      ['GET shows the counter still at 3', 'GET', 200],
      ...['', 'source', 'destination', 'counter', 'extra', 'missing'].map((n) => [
        'clean up: delete the key',
        'DELETE',
        ['destination', 'counter'].includes(n) ? 204 : 404,
      ]),
    ]);
    const move = report.steps[6]?.actual.body as { revision: number; results: Array<{ revision?: number }> };
    expect(move.results.map((r) => r.revision)).toEqual([undefined, move.revision, move.revision]);
    for (const n of ['source', 'destination', 'counter', 'extra', 'missing'])
      expect(await store.store.get(`${report.key}/${n}`), n).toBeUndefined();
  });

  it('overlapping runs each use their own key and all pass', async () => {
    const runs = await Promise.all([
      runEndpoint(client.url, '/test_overwrite'),
      runEndpoint(client.url, '/test_delete'),
      runEndpoint(client.url, '/test_txn'),
      runEndpoint(client.url, '/test_overwrite'),
      runEndpoint(client.url, '/test_delete'),
      runEndpoint(client.url, '/test_txn'),
    ]);
    expect(runs.map((r) => [r.status, r.report.status, r.report.error])).toEqual(Array(6).fill([200, 'passed', undefined]));
    expect(new Set(runs.map((r) => r.report.key)).size).toBe(6);
  });

  it('GET /test_all runs every test and answers 200 when all passed', async () => {
    const res = await fetch(`${client.url}/test_all`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { test: string; status: string; results: TestReport[] };
    expect(body).toMatchObject({ test: 'test_all', status: 'passed', kvStoreUrl: store.url });
    expect(body.results.map((r) => [r.test, r.status])).toEqual([
      ['test_overwrite', 'passed'],
      ['test_delete', 'passed'],
      ['test_list', 'passed'],
      ['test_watch', 'passed'],
      ['test_txn', 'passed'],
    ]);
  });

  it('every kv_store call and every result is one log line with the run id', async () => {
    const { report } = await runEndpoint(client.url, '/test_delete');
    const lines = client.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.runId === report.runId);
    const calls = lines.filter((l) => l.msg === 'kv_store call');
    expect(calls.map((l) => [l.method, l.status])).toEqual(report.steps.map((s) => [s.request.method, s.actual.status]));
    for (const call of calls) {
      expect(call).toMatchObject({ test: 'test_delete', url: expect.stringMatching(`^${store.url}/v1/`), durationMs: expect.any(Number) });
    }
    expect(lines.filter((l) => l.msg === 'test result')).toEqual([
      expect.objectContaining({ test: 'test_delete', status: 'passed', durationMs: expect.any(Number), level: 30 }),
    ]);
  });
});

describe('test_client routes', () => {
  it('GET /healthz answers 200 {"status":"ok"} without touching kv_store', async () => {
    const before = client.logs.filter((l) => l.includes('kv_store call')).length;
    const res = await fetch(`${client.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status":"ok"}');
    expect(client.logs.filter((l) => l.includes('kv_store call')).length).toBe(before);
  });

  it('GET / lists the tests', async () => {
    const res = await fetch(`${client.url}/`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tests: { name: string; path: string }[]; endpoints: { path: string }[] };
    expect(body).toMatchObject({ service: 'test_client', kvStoreUrl: store.url });
    expect(body.tests.map((t) => [t.name, t.path])).toEqual([
      ['test_overwrite', '/test_overwrite'],
      ['test_delete', '/test_delete'],
      ['test_list', '/test_list'],
      ['test_watch', '/test_watch'],
      ['test_txn', '/test_txn'],
    ]);
    expect(body.endpoints.map((e) => e.path)).toEqual([
      '/test_overwrite',
      '/test_delete',
      '/test_list',
      '/test_watch',
      '/test_txn',
      '/test_all',
      '/healthz',
      '/',
    ]);
  });

  it('an unknown path is 404 not_found in kv_store error shape', async () => {
    const res = await fetch(`${client.url}/test_nothing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: "no resource at '/test_nothing'; GET / lists the tests" } });
  });

  it('another method on a test is 405 method_not_allowed with Allow: GET', async () => {
    const res = await fetch(`${client.url}/test_overwrite`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(await res.json()).toEqual({
      error: { code: 'method_not_allowed', message: 'method POST is not allowed here; allowed: GET' },
    });
  });

  it('HEAD /healthz answers 200 without a body; DELETE /healthz is 405 with Allow: GET, HEAD', async () => {
    const head = await fetch(`${client.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const del = await fetch(`${client.url}/healthz`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    expect(await del.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
  });

  it('a query string is not part of the path', async () => {
    const res = await fetch(`${client.url}/healthz?verbose=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
