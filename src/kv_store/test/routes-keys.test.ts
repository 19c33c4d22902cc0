import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

const MALFORMED = 'key in the path has malformed percent-encoding or is not valid UTF-8';
const CONTROL = 'key must not contain control characters (U+0000-U+001F, U+007F)';

describe('keys in the path', () => {
  it('/v1/users/42 and /v1/users%2F42 name the same key, users/42', async () => {
    const t = testApp();
    const created = await t.post({ key: 'users/42', value: 'alice' });
    expect(created.headers.location).toBe('/v1/users%2F42');
    const expected = entry({ key: 'users/42', value: 'alice', version: 1, revision: 1 });
    expectEntry(await t.get('/v1/users/42'), 200, expected);
    expectEntry(await t.get('/v1/users%2F42'), 200, expected);
    expectEntry(await t.get('/v1/users%2f42'), 200, expected);
    expectEntry(await t.put('/v1/users/42', { value: 'bob' }), 200, entry({ key: 'users/42', value: 'bob', version: 2, revision: 2 }));
    expect((await t.delete('/v1/users%2F42')).statusCode).toBe(204);
    expectError(await t.get('/v1/users/42'), 404, 'key_not_found', "key 'users/42' not found");
  });

  it('ignores the query string', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    const expected = entry({ key: 'foo', value: 1, version: 1, revision: 1 });
    expectEntry(await t.get('/v1/foo?x=1'), 200, expected);
    expectEntry(await t.get('/v1/foo?'), 200, expected);
    expectEntry(await t.get('/v1/foo?key=bar#frag'), 200, expected);
    expectError(await t.get('/v1/foo%3Fx=1'), 404, 'key_not_found', "key 'foo?x=1' not found");
  });

  it('decodes percent-encoded UTF-8, and the key round-trips through Location', async () => {
    const t = testApp();
    const key = 'ключ 🔑 a+b?c#d%e&f=g';
    const created = await t.post({ key, value: 1 });
    const location = created.headers.location as string;
    expect(decodeURIComponent(location.slice('/v1/'.length))).toBe(key);
    const expected = entry({ key, value: 1, version: 1, revision: 1 });
    expectEntry(await t.get(location), 200, expected);
    expectEntry(await t.get(`/v1/${encodeURIComponent(key)}`), 200, expected);
  });

  it('keeps a literal + in the path as a plus sign', async () => {
    const t = testApp();
    await t.post({ key: 'a+b', value: 1 });
    expectEntry(await t.get('/v1/a+b'), 200, entry({ key: 'a+b', value: 1, version: 1, revision: 1 }));
    expectError(await t.get('/v1/a%20b'), 404, 'key_not_found', "key 'a b' not found");
  });

  it('treats keys named after Object.prototype members as ordinary keys', async () => {
    const t = testApp();
    expectError(await t.get('/v1/__proto__'), 404, 'key_not_found', "key '__proto__' not found");
    expectError(await t.get('/v1/constructor'), 404, 'key_not_found', "key 'constructor' not found");
    expectEntry(await t.post({ key: '__proto__', value: 1 }), 201, entry({ key: '__proto__', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.post({ key: 'constructor', value: 2 }), 201, entry({ key: 'constructor', value: 2, version: 1, revision: 2 }));
    expectEntry(await t.get('/v1/__proto__'), 200, entry({ key: '__proto__', value: 1, version: 1, revision: 1 }));
    expectError(await t.get('/v1/hasOwnProperty'), 404, 'key_not_found', "key 'hasOwnProperty' not found");
  });

  it('malformed percent-encoding is 400 invalid_key on every method', async () => {
    const t = testApp();
    for (const path of ['/v1/%', '/v1/a%zz', '/v1/%2', '/v1/%G1']) {
      expectError(await t.get(path), 400, 'invalid_key', MALFORMED);
      expectError(await t.put(path, { value: 1 }), 400, 'invalid_key', MALFORMED);
      expectError(await t.delete(path), 400, 'invalid_key', MALFORMED);
    }
  });

  it('percent-encoded bytes that are not UTF-8 are 400 invalid_key: %C0%AF (overlong /), %ED%A0%80 (surrogate)', async () => {
    const t = testApp();
    for (const path of ['/v1/%C0%AF', '/v1/a%ED%A0%80', '/v1/%FF', '/v1/%E2%82']) {
      expectError(await t.get(path), 400, 'invalid_key', MALFORMED);
    }
  });

  it('percent-encoded control characters are 400 invalid_key', async () => {
    const t = testApp();
    for (const path of ['/v1/a%00b', '/v1/%09', '/v1/a%0Ab', '/v1/%1F', '/v1/%7F']) {
      expectError(await t.get(path), 400, 'invalid_key', CONTROL);
    }
  });

  it('a key over KV_MAX_KEY_BYTES is 400 invalid_key naming the limit', async () => {
    const t = testApp({ KV_MAX_KEY_BYTES: '8' });
    const tooLong = 'key is 9 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)';
    expectError(await t.get('/v1/abcdefghi'), 400, 'invalid_key', tooLong);
    expectError(await t.put('/v1/abcdefghi', { value: 1 }), 400, 'invalid_key', tooLong);
    expectError(await t.delete('/v1/abcdefghi'), 400, 'invalid_key', tooLong);
    expectError(await t.get('/v1/%C3%A9%C3%A9%C3%A9%C3%A9a'), 400, 'invalid_key', tooLong);
    expectError(await t.get('/v1/abcdefgh'), 404, 'key_not_found', "key 'abcdefgh' not found");
    expectError(await t.get('/v1/%C3%A9%C3%A9%C3%A9%C3%A9'), 404, 'key_not_found', "key 'éééé' not found");
  });

  it('a key of exactly 512 bytes (the default limit) works; 513 does not', async () => {
    const t = testApp();
    const key = `${'é'.repeat(255)}ab`;
    expect(Buffer.byteLength(key)).toBe(512);
    expectEntry(await t.post({ key, value: 1 }), 201, entry({ key, value: 1, version: 1, revision: 1 }));
    expectEntry(await t.get(`/v1/${encodeURIComponent(key)}`), 200, entry({ key, value: 1, version: 1, revision: 1 }));
    const message = 'key is 513 bytes of UTF-8; the limit is 512 bytes (KV_MAX_KEY_BYTES)';
    expectError(await t.post({ key: `${key}c`, value: 1 }), 400, 'invalid_key', message);
    expectError(await t.get(`/v1/${encodeURIComponent(`${key}c`)}`), 400, 'invalid_key', message);
  });
});
