import { describe, expect, it } from 'vitest';
import { entry, expectError, iso, JSON_HEADERS, testApp } from './helpers.js';

const txn = (t: ReturnType<typeof testApp>, body: unknown, headers: Record<string, string> = {}) =>
  t.inject({
    method: 'POST',
    url: '/txn',
    headers: { ...JSON_HEADERS, ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** 12345678901234567890 as JSON.parse reads it (a double): what res.json() holds; the exact digits are checked in the text. */
const BIG_AS_JSON_PARSES_IT = Number('12345678901234567890');

describe('POST /txn', () => {
  it('applies checks and ops together: 200 with succeeded, the revision and every result, values exactly as sent', async () => {
    const t = testApp();
    await t.post({ key: 'cfg/a', value: 1 }); // revision 1
    await t.post({ key: 'tmp/x', value: true }); // 2
    // Sent as text: the big number must arrive as its digits (JSON.stringify of a double would round it).
    const res = await txn(
      t,
      `{"checks": [{"key": "cfg/a", "exists": true}, {"key": "cfg/a", "version": {"lt": 5}}, {"key": "cfg/a", "value": 1}],
        "ops": [{"op": "create", "key": "cfg/x", "value": 12345678901234567890, "ttl": 60},
                {"op": "replace", "key": "cfg/a", "value": {"n": 2}},
                {"op": "set", "key": "cfg/y", "value": null},
                {"op": "deletePrefix", "prefix": "tmp/"},
                {"op": "incr", "key": "stats/n", "by": 2},
                {"op": "get", "key": "cfg/a"},
                {"op": "get", "key": "nope"}]}`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['kv-revision']).toBe('3');
    // The big number is kept as its text, not a double.
    expect(res.body).toContain('"value":12345678901234567890');
    expect(res.json()).toEqual({
      succeeded: true,
      revision: 3,
      results: [
        entry({ key: 'cfg/x', value: BIG_AS_JSON_PARSES_IT, version: 1, revision: 3, expires: 60_000 }),
        entry({ key: 'cfg/a', value: { n: 2 }, version: 2, revision: 3 }),
        entry({ key: 'cfg/y', value: null, version: 1, revision: 3 }),
        { deleted: 1 },
        entry({ key: 'stats/n', value: 2, version: 1, revision: 3 }),
        entry({ key: 'cfg/a', value: { n: 2 }, version: 2, revision: 3 }),
        null,
      ],
    });
    const read = await t.get('/v1/cfg%2Fx');
    expect(read.json()).toEqual(entry({ key: 'cfg/x', value: BIG_AS_JSON_PARSES_IT, version: 1, revision: 3, expires: 60_000 }));
    expect((await t.get('/v1/tmp/x')).statusCode).toBe(404);
  });

  it('refuses with 409 txn_failed, succeeded false, the unchanged revision and every failed check and op; nothing changes', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 'text' });
    const res = await txn(t, {
      checks: [
        { key: 'a', revision: 7 },
        { key: 'b', exists: true },
      ],
      ops: [
        { op: 'set', key: 'c', value: 1 },
        { op: 'incr', key: 'a' },
        { op: 'delete', key: 'b' },
      ],
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers['kv-revision']).toBe('1');
    expect(res.json()).toEqual({
      error: {
        code: 'txn_failed',
        message: 'the transaction was not applied: 4 failed: checks[0] (a), checks[1] (b), ops[1] (a), ops[2] (b)',
      },
      succeeded: false,
      revision: 1,
      failures: [
        { type: 'check', index: 0, key: 'a', expected: { revision: 7 }, actual: { revision: 1 } },
        { type: 'check', index: 1, key: 'b', expected: { exists: true }, actual: { exists: false } },
        { type: 'op', index: 1, key: 'a', expected: { value: 'a number that stays finite' }, actual: { value: 'text' } },
        { type: 'op', index: 2, key: 'b', expected: { exists: true }, actual: { exists: false } },
      ],
    });
    expect((await t.get('/v1/c')).statusCode).toBe(404);
  });

  it('a transaction that only checks and reads answers 200 at the unchanged revision', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    const res = await txn(t, { checks: [{ key: 'a', version: 1 }], ops: [{ op: 'get', key: 'a' }] });
    expect(res.json()).toEqual({ succeeded: true, revision: 1, results: [entry({ key: 'a', value: 1, version: 1, revision: 1 })] });
  });

  it('refuses bodies it cannot run with 400 naming the field, 413 past the value limit or KV_MAX_TXN_OPS', async () => {
    const t = testApp({ KV_MAX_TXN_OPS: '3', KV_MAX_VALUE_BYTES: '16' });
    expectError(await txn(t, '{'), 400, 'invalid_json', expect.stringContaining('request body is not valid JSON'));
    expectError(await txn(t, []), 400, 'invalid_body', "request body must be a JSON object with 'checks' and/or 'ops'");
    expectError(await txn(t, { ops: {} }), 400, 'invalid_body', "field 'ops' must be an array");
    expectError(await txn(t, { steps: [] }), 400, 'invalid_body', "request body: unknown field 'steps'; the fields are 'checks', 'ops'");
    expectError(
      await txn(t, { ops: [{ op: 'upsert', key: 'a' }] }),
      400,
      'invalid_body',
      'ops[0].op must be one of create, replace, set, delete, deletePrefix, incr, get',
    );
    expectError(await txn(t, { ops: [{ op: 'set', key: 'a' }] }), 400, 'invalid_body', 'ops[0].value is required');
    expectError(
      await txn(t, { ops: [{ op: 'get', key: 'a', value: 1 }] }),
      400,
      'invalid_body',
      "ops[0]: unknown field 'value'; the fields are 'op', 'key'",
    );
    expectError(await txn(t, { ops: [{ op: 'incr', key: 'a', by: '1' }] }), 400, 'invalid_body', 'ops[0].by must be a JSON number');
    expectError(
      await txn(t, { ops: [{ op: 'set', key: 'a', value: 1, ttl: 0 }] }),
      400,
      'invalid_body',
      'ops[0].ttl must be a number of seconds from 0.001 to 1000000000',
    );
    expectError(
      await txn(t, { checks: [{ key: 'a' }] }),
      400,
      'invalid_body',
      'checks[0] has no condition; give exists, version, revision or value',
    );
    expectError(
      await txn(t, { checks: [{ key: 'a', version: { about: 3 } }] }),
      400,
      'invalid_body',
      "checks[0].version: unknown comparison 'about'; use eq, ne, lt, lte, gt, gte",
    );
    expectError(await txn(t, { ops: [{ op: 'get', key: '' }] }), 400, 'invalid_key', 'ops[0].key: key must not be empty');
    expectError(
      await txn(t, { ops: [{ op: 'set', key: 'a', value: 'x'.repeat(20) }] }),
      413,
      'value_too_large',
      'ops[0].value is 22 bytes of JSON; the limit is 16 bytes (KV_MAX_VALUE_BYTES)',
    );
    expectError(
      await txn(t, {
        checks: [{ key: 'a', exists: true }],
        ops: [
          { op: 'get', key: 'a' },
          { op: 'get', key: 'b' },
          { op: 'get', key: 'c' },
        ],
      }),
      413,
      'too_many_ops',
      'the transaction has 4 checks and ops; the limit is 3 (KV_MAX_TXN_OPS)',
    );
    expectError(
      await t.inject({ method: 'POST', url: '/txn', headers: { 'content-type': 'text/plain' }, payload: '{}' }),
      415,
      'unsupported_media_type',
      "Content-Type must be application/json, got 'text/plain'",
    );
    const other = await t.inject({ method: 'GET', url: '/txn' });
    expect([other.statusCode, other.headers.allow]).toEqual([405, 'POST']);
  });

  it('answers 507 for a transaction past a store limit, and applies none of it', async () => {
    const t = testApp({ KV_MAX_KEYS: '2' });
    await t.post({ key: 'a', value: 1 });
    const res = await txn(t, {
      ops: [
        { op: 'set', key: 'a', value: 2 },
        { op: 'create', key: 'b', value: 1 },
        { op: 'create', key: 'c', value: 1 },
      ],
    });
    expectError(res, 507, 'insufficient_storage', 'the store holds its limit of 2 keys (KV_MAX_KEYS); delete keys to make room');
    expect((await t.get('/v1/a')).json().value).toBe(1);
  });

  it('a read-only token may run checks and gets, not writes (403); no token is 401', async () => {
    const t = testApp({ KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    await t.post({ key: 'a', value: 1 }, { authorization: 'Bearer write-token-1' });
    const read = { authorization: 'Bearer read-token-1' };
    expect((await txn(t, { checks: [{ key: 'a', exists: true }], ops: [{ op: 'get', key: 'a' }] }, read)).statusCode).toBe(200);
    expectError(
      await txn(
        t,
        {
          ops: [
            { op: 'get', key: 'a' },
            { op: 'set', key: 'a', value: 2 },
          ],
        },
        read,
      ),
      403,
      'forbidden',
      'the bearer token is read-only; writes need the read-write token (KV_AUTH_TOKEN)',
    );
    expect((await txn(t, { ops: [{ op: 'get', key: 'a' }] })).statusCode).toBe(401);
    expect((await txn(t, { ops: [{ op: 'set', key: 'a', value: 2 }] }, { authorization: 'Bearer write-token-1' })).statusCode).toBe(200);
  });

  it('a single-key write and the same one-op transaction give the same entry (one path in the store)', async () => {
    const rest = testApp();
    const viaTxn = testApp();
    const created = (await rest.post({ key: 'k', value: { a: 1 }, ttl: 5 })).json();
    const txnCreated = (await txn(viaTxn, { ops: [{ op: 'create', key: 'k', value: { a: 1 }, ttl: 5 }] })).json().results[0];
    expect(txnCreated).toEqual(created);
    expect(created).toEqual(entry({ key: 'k', value: { a: 1 }, version: 1, revision: 1, expires: 5000 }));
    expect(iso(5000)).toBe(created.expiresAt);
  });
});
