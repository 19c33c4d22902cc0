import { describe, expect, it } from 'vitest';
import { minBodyBytes } from '../src/config.js';
import { entryCost } from '../src/store/memory/entry-cost.js';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

describe('413 value_too_large', () => {
  it('a value over KV_MAX_VALUE_BYTES is refused with a message naming the limit', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '16' });
    const message = 'value is 17 bytes of JSON; the limit is 16 bytes (KV_MAX_VALUE_BYTES)';
    expectError(await t.post({ key: 'k', value: 'x'.repeat(15) }), 413, 'value_too_large', message);
    expectEntry(
      await t.post({ key: 'k', value: 'x'.repeat(14) }),
      201,
      entry({ key: 'k', value: 'x'.repeat(14), version: 1, revision: 1 }),
    );
    expectError(await t.put('/v1/k', { value: 'x'.repeat(15) }), 413, 'value_too_large', message);
  });

  it('counts the value in UTF-8 bytes of its JSON text', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '16' });
    expect((await t.post({ key: 'a', value: 'é'.repeat(7) })).statusCode).toBe(201);
    expectError(
      await t.post({ key: 'b', value: 'é'.repeat(8) }),
      413,
      'value_too_large',
      'value is 18 bytes of JSON; the limit is 16 bytes (KV_MAX_VALUE_BYTES)',
    );
  });

  it('a value of exactly 1 MiB is accepted even with the largest, fully escaped key and a ttl', async () => {
    const t = testApp();
    const value = `"${'x'.repeat(1_048_576 - 2)}"`;
    const keyText = `"${'\\u0022'.repeat(512)}"`;
    const body = `{ "key" : ${keyText} , "value" : ${value} , "ttl" : 1000000000 }`;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(minBodyBytes(512, 1_048_576));
    const res = await t.post(body);
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/v1/${'%22'.repeat(512)}`);
    expectError(
      await t.post(`{"key":"k","value":"${'x'.repeat(1_048_576 - 1)}"}`),
      413,
      'value_too_large',
      'value is 1048577 bytes of JSON; the limit is 1048576 bytes (KV_MAX_VALUE_BYTES)',
    );
  });
});

describe('413 payload_too_large', () => {
  it('a body past the body limit is refused before it is parsed, and the connection is closed', async () => {
    const t = testApp({ KV_MAX_VALUE_BYTES: '16', KV_MAX_KEY_BYTES: '8' });
    const limit = minBodyBytes(8, 16);
    const body = `{"key":"k","value":"${'x'.repeat(limit)}"}`;
    const res = await t.post(body);
    expectError(res, 413, 'payload_too_large', `request body is larger than the limit of ${limit} bytes (KV_MAX_BODY_BYTES)`);
    expect(res.headers.connection).toBe('close');
    const put = await t.put('/v1/k', `{"value":"${'x'.repeat(limit)}"}`);
    expectError(put, 413, 'payload_too_large', `request body is larger than the limit of ${limit} bytes (KV_MAX_BODY_BYTES)`);
  });
});

describe('507 insufficient_storage', () => {
  it('past KV_MAX_KEYS a new key is refused; reads, overwrites and deletes still work; a delete makes room', async () => {
    const t = testApp({ KV_MAX_KEYS: '2' });
    await t.post({ key: 'a', value: 1 });
    await t.post({ key: 'b', value: 1 });
    const full = 'the store holds its limit of 2 keys (KV_MAX_KEYS); delete keys to make room';
    expectError(await t.post({ key: 'c', value: 1 }), 507, 'insufficient_storage', full);
    expectError(await t.get('/v1/c'), 404, 'key_not_found', "key 'c' not found");
    expectEntry(await t.get('/v1/a'), 200, entry({ key: 'a', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.put('/v1/a', { value: [1, 2, 3] }), 200, entry({ key: 'a', value: [1, 2, 3], version: 2, revision: 3 }));
    expect((await t.delete('/v1/b')).statusCode).toBe(204);
    expectEntry(await t.post({ key: 'c', value: 1 }), 201, entry({ key: 'c', value: 1, version: 1, revision: 5 }));
    expectError(await t.post({ key: 'd', value: 1 }), 507, 'insufficient_storage', full);
  });

  it('expired keys make room under KV_MAX_KEYS', async () => {
    const t = testApp({ KV_MAX_KEYS: '1' });
    await t.post({ key: 'a', value: 1, ttl: 1 });
    expect((await t.post({ key: 'b', value: 1 })).statusCode).toBe(507);
    t.clock.advance(1000);
    expectEntry(await t.post({ key: 'b', value: 1 }), 201, entry({ key: 'b', value: 1, version: 1, revision: 3, created: 1000 }));
  });

  it('past KV_MAX_MEMORY_BYTES a growing write is refused; a same-size or smaller overwrite still works', async () => {
    const value = 'x'.repeat(300); // JSON text of 302 bytes
    const cost = entryCost('k0', JSON.stringify(value));
    const limit = 3 * cost + 100; // room for three such entries, not four
    const t = testApp({ KV_MAX_MEMORY_BYTES: String(limit) });
    for (const key of ['k0', 'k1', 'k2']) expect((await t.post({ key, value })).statusCode).toBe(201);
    expectError(
      await t.post({ key: 'k3', value }),
      507,
      'insufficient_storage',
      `the write needs ${cost} more bytes, but the store uses ${3 * cost} of its ${limit} bytes (KV_MAX_MEMORY_BYTES); delete keys to make room`,
    );
    const growing = await t.put('/v1/k0', { value: 'x'.repeat(400) });
    expect(growing.statusCode).toBe(507);
    expect(growing.json()).toMatchObject({ error: { code: 'insufficient_storage' } });
    expectEntry(
      await t.put('/v1/k0', { value: 'y'.repeat(300) }),
      200,
      entry({ key: 'k0', value: 'y'.repeat(300), version: 2, revision: 4 }),
    );
    expectEntry(await t.put('/v1/k1', { value: 1 }), 200, entry({ key: 'k1', value: 1, version: 2, revision: 5 }));
    expectEntry(await t.get('/v1/k2'), 200, entry({ key: 'k2', value, version: 1, revision: 3 }));
    expect((await t.delete('/v1/k2')).statusCode).toBe(204);
    expect((await t.post({ key: 'k3', value })).statusCode).toBe(201);
  });
});
