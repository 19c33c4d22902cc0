import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, iso, testApp } from './helpers.js';

describe('POST /v1/ creates a key', () => {
  it('answers 201 with Location, ETag and the entry, as the seed README expects', async () => {
    const t = testApp();
    const res = await t.post({ key: 'foo', value: 'bar' });
    expectEntry(res, 201, entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));
    expect(res.headers.location).toBe('/v1/foo');
    expect(res.body).toBe(
      `{"key":"foo","value":"bar","version":1,"revision":1,"createdAt":"${iso()}","updatedAt":"${iso()}","expiresAt":null}`,
    );
  });

  it('percent-encodes the key in Location', async () => {
    const t = testApp();
    const res = await t.post({ key: 'users/42 ?#%ключ', value: 1 });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/v1/users%2F42%20%3F%23%25%D0%BA%D0%BB%D1%8E%D1%87');
    expect(res.json()).toMatchObject({ key: 'users/42 ?#%ключ', value: 1 });
  });

  it('answers 409 key_exists, pointing at PUT, for a live key, and keeps the old value', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    const res = await t.post({ key: 'foo', value: 'bar2' });
    expectError(res, 409, 'key_exists', "key 'foo' already exists; use PUT /v1/foo to overwrite it");
    expect(res.headers.location).toBeUndefined();
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));
  });

  it('409 names the PUT path percent-encoded', async () => {
    const t = testApp();
    await t.post({ key: 'users/42', value: 1 });
    expectError(
      await t.post({ key: 'users/42', value: 2 }),
      409,
      'key_exists',
      "key 'users/42' already exists; use PUT /v1/users%2F42 to overwrite it",
    );
  });

  it('gives each new key the next store-wide revision', async () => {
    const t = testApp();
    expectEntry(await t.post({ key: 'a', value: 1 }), 201, entry({ key: 'a', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.post({ key: 'b', value: 2 }), 201, entry({ key: 'b', value: 2, version: 1, revision: 2 }));
  });

  it('accepts the fields in any order, and escaped field names', async () => {
    const t = testApp();
    expectEntry(await t.post('{"value":1,"key":"k1"}'), 201, entry({ key: 'k1', value: 1, version: 1, revision: 1 }));
    expectEntry(await t.post('{"\\u006bey":"k2","valu\\u0065":2}'), 201, entry({ key: 'k2', value: 2, version: 1, revision: 2 }));
  });

  it('accepts a charset parameter and any case in Content-Type', async () => {
    const t = testApp();
    for (const [i, type] of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON'].entries()) {
      const res = await t.post({ key: `k${i}`, value: i }, { 'content-type': type });
      expectEntry(res, 201, entry({ key: `k${i}`, value: i, version: 1, revision: i + 1 }));
    }
  });

  it('ignores a query string on /v1/', async () => {
    const t = testApp();
    const res = await t.inject({
      method: 'POST',
      url: '/v1/?key=other&x=1',
      headers: { 'content-type': 'application/json' },
      payload: '{"key":"foo","value":1}',
    });
    expectEntry(res, 201, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
  });

  it('with a ttl sets expiresAt ttl seconds ahead', async () => {
    const t = testApp();
    const res = await t.post({ key: 'foo', value: 'bar', ttl: 60 });
    expectEntry(res, 201, entry({ key: 'foo', value: 'bar', version: 1, revision: 1, expires: 60_000 }));
  });
});
