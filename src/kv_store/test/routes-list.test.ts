import { describe, expect, it } from 'vitest';
import { entry, expectError, iso, JSON_TYPE, testApp } from './helpers.js';

/** A listed item as JSON.parse sees it (times: ms after T0). */
function item(key: string, value: unknown, version = 1, revision = 1, extra: { size?: number; values?: boolean } = {}) {
  const { createdAt, updatedAt, expiresAt } = entry({ key, value, version, revision });
  const base = { key, version, revision, createdAt, updatedAt, expiresAt, size: extra.size ?? Buffer.byteLength(JSON.stringify(value)) };
  return extra.values === false ? base : { ...base, value };
}

describe('GET /v1/ lists keys', () => {
  it('an empty store: 200 with no items, at revision 0, with KV-Revision and KV-Store-Id', async () => {
    const t = testApp();
    const res = await t.get('/v1/');
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200,
      body: { revision: 0, items: [], prefixes: [], more: false, cursor: null },
    });
    expect(res.headers['content-type']).toBe(JSON_TYPE);
    expect(res.headers['kv-revision']).toBe('0');
    expect(res.headers['kv-store-id']).toBe(t.app.store.id);
  });

  it('each item has its numbers and size; the value only with values=true', async () => {
    const t = testApp();
    await t.post({ key: 'b', value: { x: [1, 2] }, ttl: 60 });
    await t.post({ key: 'a', value: 'é' });
    const b = { ...item('b', { x: [1, 2] }, 1, 1), expiresAt: iso(60_000) };
    const res = await t.get('/v1/?values=true');
    expect(res.json()).toEqual({ revision: 2, items: [item('a', 'é', 1, 2, { size: 4 }), b], prefixes: [], more: false, cursor: null });
    const bare = { ...item('b', { x: [1, 2] }, 1, 1, { values: false }), expiresAt: iso(60_000) };
    expect((await t.get('/v1/')).json().items).toEqual([item('a', 'é', 1, 2, { size: 4, values: false }), bare]);
  });

  it("pages with a cursor, every page at the first one's revision while writes go on; the last page has cursor null", async () => {
    const t = testApp();
    for (const k of ['a', 'b', 'c', 'd', 'e']) await t.post({ key: k, value: k });
    const first = await t.get('/v1/?limit=2&values=true');
    expect(first.json()).toMatchObject({ revision: 5, items: [item('a', 'a', 1, 1), item('b', 'b', 1, 2)], more: true });
    await t.put('/v1/c', { value: 'C' });
    await t.delete('/v1/d');
    await t.post({ key: 'bb', value: 'bb' });
    const second = await t.get(`/v1/?limit=2&values=true&cursor=${first.json().cursor}`);
    expect(second.json()).toMatchObject({ revision: 5, items: [item('c', 'c', 1, 3), item('d', 'd', 1, 4)], more: true });
    expect(second.headers['kv-revision']).toBe('8');
    const third = await t.get(`/v1/?limit=2&values=true&cursor=${second.json().cursor}`);
    expect(third.json()).toEqual({ revision: 5, items: [item('e', 'e', 1, 5)], prefixes: [], more: false, cursor: null });
  });

  it('consistent=true is the same listing (the memory engine lists at its latest revision), and its cursor goes on with or without it', async () => {
    const t = testApp();
    for (const k of ['a', 'b', 'c']) await t.post({ key: k, value: k });
    const plain = await t.get('/v1/?limit=2&count=true');
    const consistent = await t.get('/v1/?limit=2&count=true&consistent=true');
    expect({ status: consistent.statusCode, body: consistent.json() }).toEqual({ status: 200, body: plain.json() });
    expect(consistent.json()).toMatchObject({ revision: 3, count: 3, more: true });
    await t.post({ key: 'bb', value: 'bb' });
    const next = (consistent: string) => t.get(`/v1/?limit=2&count=true${consistent}&cursor=${plain.json().cursor}`);
    const expected = { revision: 3, items: [item('c', 'c', 1, 3, { values: false })], prefixes: [], more: false, cursor: null, count: 3 };
    expect((await next('')).json()).toEqual(expected);
    expect((await next('&consistent=true')).json()).toEqual(expected);
  });

  it('a cursor sent again gives the same page (a retry)', async () => {
    const t = testApp();
    for (const k of ['a', 'b', 'c']) await t.post({ key: k, value: k });
    const cursor = (await t.get('/v1/?limit=1')).json().cursor;
    const once = await t.get(`/v1/?limit=1&cursor=${cursor}`);
    await t.delete('/v1/b');
    const again = await t.get(`/v1/?limit=1&cursor=${cursor}`);
    expect(again.body).toBe(once.body);
    expect(once.json().items[0].key).toBe('b');
  });

  it('count=true counts the range on the first page and repeats it on the next', async () => {
    const t = testApp();
    for (const k of ['a/1', 'a/2', 'a/3', 'b']) await t.post({ key: k, value: 1 });
    const first = await t.get('/v1/?prefix=a%2F&limit=2&count=true');
    expect(first.json()).toMatchObject({ count: 3, more: true });
    await t.post({ key: 'a/4', value: 1 });
    expect((await t.get(`/v1/?prefix=a%2F&limit=2&count=true&cursor=${first.json().cursor}`)).json()).toMatchObject({
      count: 3,
      more: false,
    });
  });

  it('prefix, start, end, reverse and delimiter, percent-decoded ("+" is a plus sign)', async () => {
    const t = testApp();
    for (const k of ['a+b', 'a b', 'app/1', 'app/2', 'app/x/1', 'b', '😀']) await t.post({ key: k, value: 1 });
    const keys = async (query: string) => {
      const res = await t.get(`/v1/?${query}`);
      return [res.json().items.map((i: { key: string }) => i.key), res.json().prefixes];
    };
    expect(await keys('prefix=app%2F')).toEqual([['app/1', 'app/2', 'app/x/1'], []]);
    expect(await keys('prefix=app/&delimiter=/')).toEqual([['app/1', 'app/2'], ['app/x/']]);
    expect(await keys('start=app%2F2&end=b')).toEqual([['app/2', 'app/x/1'], []]);
    expect(await keys('reverse=true&limit=3')).toEqual([['😀', 'b', 'app/x/1'], []]);
    expect(await keys('prefix=a+')).toEqual([['a+b'], []]);
    expect(await keys('prefix=a%20')).toEqual([['a b'], []]);
    expect(await keys('prefix=%F0%9F%98%80')).toEqual([['😀'], []]);
  });

  it('a cursor with other parameters than its first page is 400 invalid_query', async () => {
    const t = testApp();
    for (const k of ['a', 'b', 'c']) await t.post({ key: k, value: 1 });
    const cursor = (await t.get('/v1/?limit=1&prefix=')).json().cursor;
    expectError(
      await t.get(`/v1/?limit=2&cursor=${cursor}`),
      400,
      'invalid_query',
      'the cursor belongs to a listing with other parameters: send prefix, start, end, limit, values, delimiter, reverse and count as on its first page',
    );
    expect((await t.get(`/v1/?limit=1&cursor=${cursor}`)).statusCode).toBe(200);
  });

  it('a cursor this store did not give out is 400 invalid_query', async () => {
    const t = testApp();
    for (const cursor of ['nope!', 'bm9wZQ', Buffer.from('{"r":-1,"k":"a","f":"x"}').toString('base64url')]) {
      expectError(await t.get(`/v1/?cursor=${cursor}`), 400, 'invalid_query', "parameter 'cursor' is not a cursor this store gave out");
    }
  });

  it('a cursor idle for KV_CURSOR_TTL_MS is 410 cursor_expired with the listing revision and last key', async () => {
    const t = testApp({ KV_CURSOR_TTL_MS: '5000' });
    for (const k of ['a', 'b/c', 'd']) await t.post({ key: k, value: 1 });
    const cursor = (await t.get('/v1/?limit=2')).json().cursor;
    t.clock.advance(5000);
    const res = await t.get(`/v1/?limit=2&cursor=${cursor}`);
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 410,
      body: {
        error: {
          code: 'cursor_expired',
          message:
            'the listing at revision 3 is no longer held (a cursor lives KV_CURSOR_TTL_MS after its last use, at most KV_MAX_CURSORS at once, and none survives a restart); list again, starting after its last key, to go on at the latest revision',
          revision: 3,
          lastKey: 'b/c',
        },
      },
    });
    expect(res.headers['kv-revision']).toBe('3');
  });

  it('refuses bad parameters with 400 invalid_query naming them', async () => {
    const t = testApp({ KV_MAX_KEY_BYTES: '8' });
    const cases: Array<[string, string]> = [
      ['limit=0', "parameter 'limit' must be a whole number from 1 to 1000, got '0'"],
      ['limit=1001', "parameter 'limit' must be a whole number from 1 to 1000, got '1001'"],
      ['limit=ten', "parameter 'limit' must be a whole number from 1 to 1000, got 'ten'"],
      ['values=yes', "parameter 'values' must be true or false, got 'yes'"],
      ['reverse=1', "parameter 'reverse' must be true or false, got '1'"],
      ['delimiter=', "parameter 'delimiter' must not be empty"],
      ['prefix=a&prefix=b', "parameter 'prefix' is given more than once"],
      ['prefix=%E0%A4%A', "parameter 'prefix' has malformed percent-encoding or is not valid UTF-8"],
      ['prefix=123456789', "parameter 'prefix' is longer than a key may be (8 bytes, KV_MAX_KEY_BYTES)"],
      [
        'prefx=a',
        "unknown parameter 'prefx' for a listing; it takes prefix, start, end, limit, cursor, values, delimiter, reverse, count, consistent, watch",
      ],
      [
        'wait=5',
        "unknown parameter 'wait' for a listing; it takes prefix, start, end, limit, cursor, values, delimiter, reverse, count, consistent, watch",
      ],
      ['watch=maybe', "parameter 'watch' must be true or false, got 'maybe'"],
      ['consistent=1', "parameter 'consistent' must be true or false, got '1'"],
      [
        'watch=true&consistent=true',
        "unknown parameter 'consistent' for a watch; it takes watch, prefix, start, end, after, values, prev, wait",
      ],
    ];
    for (const [query, message] of cases) expectError(await t.get(`/v1/?${query}`), 400, 'invalid_query', message);
    expect((await t.get('/v1/?limit=1000&watch=false')).statusCode).toBe(200);
  });

  it('needs read access: a read token lists, no token is 401', async () => {
    const t = testApp({ KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    expect((await t.get('/v1/', { authorization: 'Bearer read-token-1' })).statusCode).toBe(200);
    expect((await t.get('/v1/')).statusCode).toBe(401);
  });
});
