import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

const NOT_JSON = expect.stringMatching(/^request body is not valid JSON: .+/);
const TTL_RULE = "field 'ttl' must be a number of seconds from 0.001 to 1000000000";

describe('write bodies: Content-Type', () => {
  it('POST without Content-Type is 415 unsupported_media_type', async () => {
    const t = testApp();
    const res = await t.inject({ method: 'POST', url: '/v1/', payload: '{"key":"foo","value":"bar"}' });
    expectError(res, 415, 'unsupported_media_type', 'Content-Type must be application/json; the request has none');
    expect((await t.get('/v1/foo')).statusCode).toBe(404);
  });

  it("POST with curl's default form type, text/plain or a look-alike type is 415", async () => {
    const t = testApp();
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/jsonp', 'application/json-patch+json']) {
      const res = await t.post({ key: 'foo', value: 'bar' }, { 'content-type': type });
      expectError(res, 415, 'unsupported_media_type', `Content-Type must be application/json, got '${type}'`);
    }
  });

  it('PUT without or with a wrong Content-Type is 415 and leaves the entry alone', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    const none = await t.inject({ method: 'PUT', url: '/v1/foo', payload: '{"value":2}' });
    expectError(none, 415, 'unsupported_media_type', 'Content-Type must be application/json; the request has none');
    const wrong = await t.put('/v1/foo', { value: 2 }, { 'content-type': 'text/json' });
    expectError(wrong, 415, 'unsupported_media_type', "Content-Type must be application/json, got 'text/json'");
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 1, version: 1, revision: 1 }));
  });
});

describe('write bodies: 400 invalid_json', () => {
  it('an unparseable body is invalid_json', async () => {
    const t = testApp();
    for (const body of [
      '{"key":',
      '{key: "a", value: 1}',
      "{'key':'a','value':1}",
      '{"key":"a","value":1,}',
      'nope',
      '{"key":"a","value":01}',
    ]) {
      expectError(await t.post(body), 400, 'invalid_json', NOT_JSON);
    }
  });

  it('an empty body is invalid_json saying it is empty', async () => {
    const t = testApp();
    expectError(await t.post(''), 400, 'invalid_json', 'request body is empty; it must be a JSON object');
    expectError(await t.post('  \n'), 400, 'invalid_json', 'request body is empty; it must be a JSON object');
  });

  it('a body that is not UTF-8 is invalid_json', async () => {
    const t = testApp();
    const payload = Buffer.concat([Buffer.from('{"key":"a","value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await t.inject({ method: 'POST', url: '/v1/', headers: { 'content-type': 'application/json' }, payload });
    expectError(res, 400, 'invalid_json', 'request body is not valid UTF-8');
  });

  it('PUT with an unparseable body is invalid_json', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    expectError(await t.put('/v1/foo', '{"value":'), 400, 'invalid_json', NOT_JSON);
  });
});

describe('write bodies: 400 invalid_body names the field', () => {
  it('a POST body that is not an object is invalid_body', async () => {
    const t = testApp();
    for (const body of ['[{"key":"a","value":1}]', '"foo"', '42', 'null', 'true']) {
      expectError(await t.post(body), 400, 'invalid_body', "request body must be a JSON object with a 'value' field and a 'key' field");
    }
  });

  it('a PUT body that is not an object is invalid_body', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    expectError(await t.put('/v1/foo', '[2]'), 400, 'invalid_body', "request body must be a JSON object with a 'value' field");
  });

  it("a POST without 'key' is invalid_body", async () => {
    const t = testApp();
    expectError(await t.post({ value: 'bar' }), 400, 'invalid_body', "field 'key' is required");
  });

  it("a POST or PUT without 'value' is invalid_body", async () => {
    const t = testApp();
    expectError(await t.post({ key: 'foo' }), 400, 'invalid_body', "field 'value' is required");
    await t.post({ key: 'foo', value: 1 });
    expectError(await t.put('/v1/foo', {}), 400, 'invalid_body', "field 'value' is required");
    expectError(await t.put('/v1/foo', { ttl: 5 }), 400, 'invalid_body', "field 'value' is required");
  });

  it("a 'key' that is not a string is invalid_body", async () => {
    const t = testApp();
    for (const key of [42, null, true, ['foo'], { k: 'foo' }]) {
      expectError(await t.post({ key, value: 1 }), 400, 'invalid_body', "field 'key' must be a string");
    }
  });

  it('an unknown field is invalid_body, naming it and the fields there are', async () => {
    const t = testApp();
    expectError(
      await t.post({ key: 'foo', value: 1, extra: true }),
      400,
      'invalid_body',
      "unknown field 'extra'; the fields are 'key', 'value', 'ttl'",
    );
    expectError(
      await t.post('{"key":"foo","value":1,"__proto__":{"x":1}}'),
      400,
      'invalid_body',
      "unknown field '__proto__'; the fields are 'key', 'value', 'ttl'",
    );
    expectError(
      await t.post({ key: 'foo', value: 1, version: 3 }),
      400,
      'invalid_body',
      "unknown field 'version'; the fields are 'key', 'value', 'ttl'",
    );
    await t.post({ key: 'foo', value: 1 });
    expectError(
      await t.put('/v1/foo', { value: 2, expiresAt: null }),
      400,
      'invalid_body',
      "unknown field 'expiresAt'; the fields are 'value', 'ttl', 'key'",
    );
  });

  it('a field given twice is invalid_body, even when one spelling is escaped', async () => {
    const t = testApp();
    expectError(await t.post('{"key":"a","key":"b","value":1}'), 400, 'invalid_body', "field 'key' appears more than once");
    expectError(await t.post('{"key":"a","value":1,"\\u0076alue":2}'), 400, 'invalid_body', "field 'value' appears more than once");
    await t.post({ key: 'a', value: 1 });
    expectError(await t.put('/v1/a', '{"value":1,"value":2}'), 400, 'invalid_body', "field 'value' appears more than once");
    expect((await t.get('/v1/a')).json()).toMatchObject({ value: 1, version: 1 });
  });

  it('a PUT whose key differs from the path is invalid_body; the same key is fine', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    const mismatch = await t.put('/v1/foo', { key: 'bar', value: 2 });
    expectError(mismatch, 400, 'invalid_body', "field 'key' must match the key in the path (or be left out)");
    expectError(
      await t.put('/v1/foo', { key: 7, value: 2 }),
      400,
      'invalid_body',
      "field 'key' must match the key in the path (or be left out)",
    );
    expectEntry(await t.put('/v1/foo', { key: 'foo', value: 2 }), 200, entry({ key: 'foo', value: 2, version: 2, revision: 2 }));
  });

  it('a ttl that is not a positive number of seconds is invalid_body', async () => {
    const t = testApp();
    // 1e-300 and 0.0009 are above 0 but under the clock's millisecond: the key would be born expired.
    for (const ttl of ['0', '-1', '-0.5', '"10"', 'null', 'true', '[10]', '1e999', '1000000001', '1e-300', '0.0009']) {
      expectError(await t.post(`{"key":"foo","value":1,"ttl":${ttl}}`), 400, 'invalid_body', TTL_RULE);
    }
    await t.post({ key: 'foo', value: 1 });
    expectError(await t.put('/v1/foo', '{"value":2,"ttl":0}'), 400, 'invalid_body', TTL_RULE);
    expect((await t.get('/v1/foo')).json()).toMatchObject({ value: 1, version: 1, expiresAt: null });
  });
});

describe('write bodies: 400 invalid_key in a POST body', () => {
  it('refuses an empty key, dot segments, control characters and lone surrogates', async () => {
    const t = testApp();
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['""', 'key must not be empty'],
      ['"."', "key must not be '.'"],
      ['".."', "key must not be '..'"],
      ['"a\\u0000b"', 'key must not contain control characters (U+0000-U+001F, U+007F)'],
      ['"a\\nb"', 'key must not contain control characters (U+0000-U+001F, U+007F)'],
      ['"a\\u007fb"', 'key must not contain control characters (U+0000-U+001F, U+007F)'],
      ['"a\\ud800b"', 'key must be valid UTF-8 (it contains a lone surrogate)'],
    ];
    for (const [key, message] of cases) {
      expectError(await t.post(`{"key":${key},"value":1}`), 400, 'invalid_key', message);
    }
  });

  it('refuses a key over KV_MAX_KEY_BYTES, counted in UTF-8 bytes', async () => {
    const t = testApp({ KV_MAX_KEY_BYTES: '8' });
    expectError(
      await t.post({ key: 'abcdefghi', value: 1 }),
      400,
      'invalid_key',
      'key is 9 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)',
    );
    expectError(
      await t.post({ key: 'ééééé', value: 1 }),
      400,
      'invalid_key',
      'key is 10 bytes of UTF-8; the limit is 8 bytes (KV_MAX_KEY_BYTES)',
    );
    expect((await t.post({ key: 'abcdefgh', value: 1 })).statusCode).toBe(201);
    expect((await t.post({ key: 'éééé', value: 1 })).statusCode).toBe(201);
  });
});
