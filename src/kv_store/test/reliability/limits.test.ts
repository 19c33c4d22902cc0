import { callApi as inject } from '../support/call-api.js';
import { describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { errorBodyProblem } from './support/contract.js';

/**
 * Store limits through the HTTP API, in-process: a write that would pass KV_MAX_KEYS or
 * KV_MAX_MEMORY_BYTES is 507 insufficient_storage with the contract's body and changes nothing;
 * reads, deletes and overwrites that do not grow the store keep working; a delete (or an
 * expiry) makes room again.
 */

function appWith(env: Record<string, string>, clock?: { now(): number }): App {
  return buildApp({ config: loadConfig({ KV_LOG_LEVEL: 'silent', ...env }), ...(clock === undefined ? {} : { clock }) });
}

async function call(app: App, method: string, url: string, body?: unknown) {
  const res = await inject(app.door, {
    method,
    url,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.payload, json: () => JSON.parse(res.payload) as Record<string, unknown> };
}

function expect507(res: { status: number; body: string }, mentions: string): void {
  expect(res.status, res.body).toBe(507);
  expect(errorBodyProblem(507, res.body)).toBeUndefined();
  const { error } = JSON.parse(res.body) as { error: { code: string; message: string } };
  expect(error.code).toBe('insufficient_storage');
  expect(error.message).toContain(mentions);
}

describe('KV_MAX_KEYS', () => {
  it('a create past the key limit is 507 insufficient_storage and changes nothing', async () => {
    const app = appWith({ KV_MAX_KEYS: '3' });
    for (const k of ['a', 'b', 'c']) expect((await call(app, 'POST', '/v1/', { key: k, value: k })).status).toBe(201);
    const revision = app.store.revision;
    expect507(await call(app, 'POST', '/v1/', { key: 'd', value: 'd' }), 'KV_MAX_KEYS');
    expect(app.store.stats().keys).toBe(3);
    expect(app.store.revision, 'a refused write takes no revision').toBe(revision);
    expect((await call(app, 'GET', '/v1/d')).status).toBe(404);
    app.close();
  });

  it('at the key limit, reads, overwrites (even growing ones), conditional writes and deletes still work', async () => {
    const app = appWith({ KV_MAX_KEYS: '2' });
    await call(app, 'POST', '/v1/', { key: 'a', value: 1 });
    const b = (await call(app, 'POST', '/v1/', { key: 'b', value: 2 })).json();
    expect((await call(app, 'GET', '/v1/a')).json()).toMatchObject({ key: 'a', value: 1 });
    expect((await inject(app.door, { method: 'HEAD', url: '/v1/a' })).statusCode).toBe(200);
    expect((await call(app, 'PUT', '/v1/a', { value: 'x'.repeat(10_000) })).status).toBe(200);
    // A POST of a live key is still 409 (it is not a new key), not 507.
    expect((await call(app, 'POST', '/v1/', { key: 'a', value: 3 })).status).toBe(409);
    const cas = await inject(app.door, {
      method: 'PUT',
      url: '/v1/b',
      headers: { 'content-type': 'application/json', 'if-match': `"${b.revision}"` },
      payload: '{"value":3}',
    });
    expect(cas.statusCode).toBe(200);
    expect507(await call(app, 'POST', '/v1/', { key: 'c', value: 1 }), 'KV_MAX_KEYS');
    expect((await call(app, 'DELETE', '/v1/a')).status).toBe(204);
    expect((await call(app, 'POST', '/v1/', { key: 'c', value: 1 })).status, 'a delete makes room').toBe(201);
    expect507(await call(app, 'POST', '/v1/', { key: 'd', value: 1 }), 'KV_MAX_KEYS');
    app.close();
  });

  it('an expired entry gives its room back', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const app = appWith({ KV_MAX_KEYS: '2' }, { now: () => now });
    await call(app, 'POST', '/v1/', { key: 'short', value: 1, ttl: 1 });
    await call(app, 'POST', '/v1/', { key: 'long', value: 1 });
    expect507(await call(app, 'POST', '/v1/', { key: 'new', value: 1 }), 'KV_MAX_KEYS');
    now += 1500;
    expect((await call(app, 'POST', '/v1/', { key: 'new', value: 1 })).status).toBe(201);
    app.close();
  });
});

describe('KV_MAX_MEMORY_BYTES', () => {
  it('writes are refused with 507 once the charged bytes would pass the limit, which they never do', async () => {
    const limit = 64 * 1024;
    const app = appWith({ KV_MAX_MEMORY_BYTES: String(limit) });
    let created = 0;
    let refused: { status: number; body: string } | undefined;
    for (let i = 0; i < 1000 && refused === undefined; i++) {
      const res = await call(app, 'POST', '/v1/', { key: `k${i}`, value: 'v'.repeat(1000) });
      if (res.status === 201) created++;
      else refused = res;
      expect(app.store.stats().bytes).toBeLessThanOrEqual(limit);
    }
    expect(created).toBeGreaterThan(10);
    expect507(refused as { status: number; body: string }, 'KV_MAX_MEMORY_BYTES');
    const size = app.store.stats().keys;
    const used = app.store.stats().bytes;
    // A small create may still fit where a big one does not; neither ever passes the limit.
    for (let i = 0; i < 50; i++) {
      const res = await call(app, 'POST', '/v1/', { key: `big${i}`, value: 'v'.repeat(2000) });
      expect([201, 507]).toContain(res.status);
      if (res.status === 507) expect507(res, 'KV_MAX_MEMORY_BYTES');
    }
    expect(app.store.stats().bytes).toBeLessThanOrEqual(limit);
    expect(app.store.stats().keys).toBeGreaterThanOrEqual(size);
    expect(app.store.stats().bytes).toBeGreaterThanOrEqual(used);
    app.close();
  });

  it('a full store still reads, deletes and takes overwrites that do not grow; a growing one is 507 and keeps the old value', async () => {
    const limit = 16 * 1024;
    const app = appWith({ KV_MAX_MEMORY_BYTES: String(limit) });
    for (let i = 0; ; i++) {
      const res = await call(app, 'POST', '/v1/', { key: `k${i}`, value: 'v'.repeat(500) });
      if (res.status === 507) break;
      expect(i).toBeLessThan(1000);
    }
    const before = (await call(app, 'GET', '/v1/k0')).json();
    expect(before.value).toBe('v'.repeat(500));
    expect((await call(app, 'PUT', '/v1/k0', { value: 'w'.repeat(500) })).status, 'same size').toBe(200);
    expect((await call(app, 'PUT', '/v1/k1', { value: 'w' })).status, 'smaller').toBe(200);
    const grown = await call(app, 'PUT', '/v1/k0', { value: 'x'.repeat(5000) });
    expect507(grown, 'KV_MAX_MEMORY_BYTES');
    expect((await call(app, 'GET', '/v1/k0')).json()).toMatchObject({ value: 'w'.repeat(500), version: 2 });
    // A value bigger than the whole store (but under the value limit) is 507 too, not 413.
    expect507(await call(app, 'POST', '/v1/', { key: 'huge', value: 'h'.repeat(20_000) }), 'KV_MAX_MEMORY_BYTES');
    expect((await call(app, 'DELETE', '/v1/k2')).status).toBe(204);
    expect((await call(app, 'DELETE', '/v1/k3')).status).toBe(204);
    expect((await call(app, 'POST', '/v1/', { key: 'fresh', value: 'v'.repeat(500) })).status, 'a delete makes room').toBe(201);
    expect(app.store.stats().bytes).toBeLessThanOrEqual(limit);
    app.close();
  });
});
