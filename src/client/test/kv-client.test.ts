import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JsonValue, KvClient, KvError, TxnFailedError } from '../src/index.js';
import { type RealStore, startRealStore } from './real-store.js';

let store: RealStore;
let client: KvClient;
let n = 0;
/** A key no other test uses. */
const fresh = (name: string): string => `client-test/${name}/${++n}`;

beforeAll(async () => {
  store = await startRealStore();
  // 20 s: a hang guard only; no verdict here rests on how fast the store answers.
  client = new KvClient({ baseUrl: store.url, timeoutMs: 20_000 });
});
afterAll(() => store.close());

async function refusal(promise: Promise<unknown>): Promise<KvError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KvError);
  return err as KvError;
}

describe('KvClient against a real kv_store', () => {
  it('create answers the entry at version 1 with its ETag and Location', async () => {
    const key = fresh('create');
    const entry = await client.create(key, { a: [1, 2, { b: null }] });
    expect(entry).toMatchObject({ key, value: { a: [1, 2, { b: null }] }, version: 1, expiresAt: null });
    expect(entry.etag).toBe(`"${entry.revision}"`);
    expect(entry.location).toBe(`/v1/${encodeURIComponent(key)}`);
    expect(entry.createdAt).toBe(entry.updatedAt);
  });

  it('create of a live key is refused with 409 key_exists', async () => {
    const key = fresh('exists');
    await client.create(key, 'first');
    const err = await refusal(client.create(key, 'second'));
    expect(err).toMatchObject({ status: 409, code: 'key_exists' });
    expect(err.message).toContain('PUT');
    expect(await client.get(key)).toMatchObject({ value: 'first', version: 1 });
  });

  it('get returns exactly the stored JSON value, for every JSON type', async () => {
    const values: JsonValue[] = ['bar', 0, -1.5, true, false, null, [], {}, ['x', { y: 'z' }], { nested: { deep: [1, '2'] } }];
    for (const value of values) {
      const key = fresh('types');
      await client.create(key, value);
      expect(await client.get(key)).toMatchObject({ key, value, version: 1 });
    }
  });

  it('a key with slashes and spaces round-trips through the percent-encoded path', async () => {
    const key = fresh('a/b c/ü?#&');
    await client.create(key, 'v');
    const entry = await client.get(key);
    expect(entry).toMatchObject({ key, value: 'v' });
    const raw = await client.request({ method: 'GET', path: `/v1/${encodeURIComponent(key)}` });
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.text)).toMatchObject({ key, value: 'v' });
  });

  it('get of a missing key is refused with 404 key_not_found', async () => {
    const err = await refusal(client.get(fresh('missing')));
    expect(err).toMatchObject({ status: 404, code: 'key_not_found' });
  });

  it('get with the current ETag as ifNoneMatch answers NotModified', async () => {
    const key = fresh('not-modified');
    const created = await client.create(key, 1);
    expect(await client.get(key, { ifNoneMatch: created.etag })).toEqual({ notModified: true, etag: created.etag });
    expect(await client.get(key, { ifNoneMatch: '"999999"' })).toMatchObject({ key, value: 1, etag: created.etag });
  });

  it('get with consistent: true asks for a linearizable read, which the in-memory store answers as any read', async () => {
    const key = fresh('consistent');
    const created = await client.create(key, { n: 1 });
    const { location: _, ...entry } = created;
    expect(await client.get(key, { consistent: true })).toEqual(entry);
    const err = await refusal(client.get(fresh('consistent-missing'), { consistent: true }));
    expect(err).toMatchObject({ status: 404, code: 'key_not_found' });
  });

  it('replace bumps the version and keeps createdAt', async () => {
    const key = fresh('replace');
    const created = await client.create(key, 'old');
    const replaced = await client.replace(key, { now: 'new' });
    expect(replaced).toMatchObject({ key, value: { now: 'new' }, version: 2, createdAt: created.createdAt });
    expect(replaced.revision).toBeGreaterThan(created.revision);
    expect(await client.get(key)).toMatchObject({ value: { now: 'new' }, version: 2, etag: replaced.etag });
  });

  it('replace never creates: 404 key_not_found', async () => {
    const err = await refusal(client.replace(fresh('replace-missing'), 'x'));
    expect(err).toMatchObject({ status: 404, code: 'key_not_found' });
  });

  it('replace with a stale ifMatch is refused with 412 version_mismatch and changes nothing', async () => {
    const key = fresh('if-match');
    const created = await client.create(key, 'v1');
    const current = await client.replace(key, 'v2', { ifMatch: created.etag });
    expect(current).toMatchObject({ value: 'v2', version: 2 });
    const err = await refusal(client.replace(key, 'v3', { ifMatch: created.etag }));
    expect(err).toMatchObject({ status: 412, code: 'version_mismatch' });
    expect(await client.get(key)).toMatchObject({ value: 'v2', version: 2 });
  });

  it('create and replace with ttl set expiresAt; replace without ttl clears it', async () => {
    const key = fresh('ttl');
    const created = await client.create(key, 'v', { ttl: 60 });
    expect(typeof created.expiresAt).toBe('string');
    expect(Date.parse(created.expiresAt as string)).toBeGreaterThan(Date.parse(created.createdAt));
    expect((await client.replace(key, 'w', { ttl: 120 })).expiresAt).not.toBeNull();
    expect((await client.replace(key, 'x')).expiresAt).toBeNull();
  });

  it('delete removes the key; deleting it again is 404 key_not_found', async () => {
    const key = fresh('delete');
    await client.create(key, 'v');
    await expect(client.delete(key)).resolves.toBeUndefined();
    expect(await refusal(client.get(key))).toMatchObject({ status: 404, code: 'key_not_found' });
    expect(await refusal(client.delete(key))).toMatchObject({ status: 404, code: 'key_not_found' });
  });

  it('delete with a stale ifMatch is refused with 412 and keeps the key', async () => {
    const key = fresh('delete-if-match');
    const created = await client.create(key, 'v');
    await client.replace(key, 'w');
    expect(await refusal(client.delete(key, { ifMatch: created.etag }))).toMatchObject({ status: 412, code: 'version_mismatch' });
    expect(await client.get(key)).toMatchObject({ value: 'w' });
  });

  it('health answers status ok', async () => {
    expect(await client.health()).toEqual({ status: 'ok' });
  });

  it('readiness says ready with every check, and not ready (503) as an answer, naming the failing check', async () => {
    expect(await client.readiness()).toEqual({ ready: true, checks: [{ name: 'shutdown', ok: true }] });
    const other = await startRealStore();
    try {
      other.app.drain();
      expect(await new KvClient({ baseUrl: other.url }).readiness()).toEqual({
        ready: false,
        checks: [{ name: 'shutdown', ok: false, reason: 'shutting down: finishing the requests in flight, taking no new connections' }],
      });
    } finally {
      await other.close();
    }
  });

  it('a base URL with a trailing slash works the same', async () => {
    const slashed = new KvClient({ baseUrl: `${store.url}/` });
    expect(slashed.baseUrl).toBe(store.url);
    expect(await slashed.health()).toEqual({ status: 'ok' });
  });

  it('request returns the raw status, headers and body text of any answer', async () => {
    const key = fresh('raw');
    const created = await client.request({ method: 'POST', path: '/v1/', body: { key, value: 'bar' } });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/${encodeURIComponent(key)}`);
    expect(created.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(created.text)).toMatchObject({ key, value: 'bar', version: 1 });
    expect(created.url).toBe(`${store.url}/v1/`);

    const broken = await client.request({ method: 'POST', path: '/v1/', bodyText: '{"key": ' });
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text)).toMatchObject({ error: { code: 'invalid_json' } });

    const deleted = await client.request({ method: 'DELETE', path: `/v1/${encodeURIComponent(key)}` });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
  });

  it('a custom fetch is used for every call', async () => {
    const seen: string[] = [];
    const spying = new KvClient({
      baseUrl: store.url,
      fetch: (input, init) => {
        seen.push(`${init?.method ?? 'GET'} ${String(input)}`);
        return fetch(input, init);
      },
    });
    await spying.health();
    await refusal(spying.get('client-test/spied'));
    expect(seen).toEqual([`GET ${store.url}/healthz`, `GET ${store.url}/v1/client-test%2Fspied`]);
  });
});

describe('KvClient.txnText', () => {
  it('sends the transaction as written, so values keep their exact text, and answers as commit() does', async () => {
    const key = fresh('txn-text');
    const done = await client.txnText(`{"ops": [{"op": "set", "key": ${JSON.stringify(key)}, "value": [12345678901234567890, 1.50]}]}`);
    expect(done).toMatchObject({ succeeded: true, results: [{ key, version: 1, revision: done.revision }] });
    expect((await store.store.get(key))?.value).toBe('[12345678901234567890, 1.50]');
  });

  it('a transaction not applied is TxnFailedError naming every failed check and op; a malformed one is KvError 400', async () => {
    const key = fresh('txn-text-failed');
    const err = await refusal(
      client.txnText(
        `{"checks": [{"key": ${JSON.stringify(key)}, "exists": true}], "ops": [{"op": "delete", "key": ${JSON.stringify(key)}}]}`,
      ),
    );
    expect(err).toBeInstanceOf(TxnFailedError);
    expect((err as TxnFailedError).failures).toEqual([
      { type: 'check', index: 0, key, expected: { exists: true }, actual: { exists: false } },
      { type: 'op', index: 0, key, expected: { exists: true }, actual: { exists: false } },
    ]);
    const malformed = await refusal(client.txnText('{"ops": {}}'));
    expect({ status: malformed.status, code: malformed.code, message: malformed.message }).toEqual({
      status: 400,
      code: 'invalid_body',
      message: "field 'ops' must be an array",
    });
  });
});

describe('KvClient with access control', () => {
  const token = 'client-test-token-123';
  let guarded: RealStore;
  beforeAll(async () => {
    guarded = await startRealStore({ KV_AUTH_TOKEN: token });
  });
  afterAll(() => guarded.close());

  it('sends the token as a Bearer credential', async () => {
    const authed = new KvClient({ baseUrl: guarded.url, token });
    expect(await authed.create('client-test/auth', 'ok')).toMatchObject({ key: 'client-test/auth', value: 'ok', version: 1 });
    expect(await authed.get('client-test/auth')).toMatchObject({ value: 'ok' });
  });

  it('without the token the store refuses with 401 unauthorized', async () => {
    const anonymous = new KvClient({ baseUrl: guarded.url });
    expect(await refusal(anonymous.get('client-test/auth'))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await anonymous.health()).toEqual({ status: 'ok' });
  });
});
