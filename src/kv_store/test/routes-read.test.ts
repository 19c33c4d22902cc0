import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, JSON_TYPE, testApp } from './helpers.js';

describe('GET /v1/<key>', () => {
  it('answers 200 with ETag and the entry', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    const res = await t.get('/v1/foo');
    expectEntry(res, 200, entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));
    expect(res.headers.location).toBeUndefined();
  });

  it('answers 404 key_not_found for a key never created', async () => {
    const t = testApp();
    expectError(await t.get('/v1/nope'), 404, 'key_not_found', "key 'nope' not found");
  });

  it('shows the latest write after a PUT', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    t.clock.advance(1000);
    await t.put('/v1/foo', { value: 'bar2' });
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar2', version: 2, revision: 2, updated: 1000 }));
  });
});

describe('GET with If-None-Match', () => {
  it('answers 304 with the ETag and no body when it names the current ETag', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    for (const tag of ['"1"', 'W/"1"', '"7", "1"', '*']) {
      const res = await t.get('/v1/foo', { 'if-none-match': tag });
      expect({ status: res.statusCode, etag: res.headers.etag, body: res.body }).toEqual({ status: 304, etag: '"1"', body: '' });
    }
  });

  it('answers 200 with the entry when the ETag is stale', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    await t.put('/v1/foo', { value: 'baz' });
    const res = await t.get('/v1/foo', { 'if-none-match': '"1"' });
    expectEntry(res, 200, entry({ key: 'foo', value: 'baz', version: 2, revision: 2 }));
  });

  it('answers 404 for a missing key whatever the header says', async () => {
    const t = testApp();
    expectError(await t.get('/v1/nope', { 'if-none-match': '*' }), 404, 'key_not_found', "key 'nope' not found");
  });
});

describe('HEAD /v1/<key>', () => {
  it('answers as GET does, with the same headers and no body', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: { nested: [1, 2, 3] } });
    const get = await t.get('/v1/foo');
    const head = await t.head('/v1/foo');
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    for (const name of ['content-type', 'content-length', 'etag']) expect(head.headers[name]).toBe(get.headers[name]);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
  });

  it('answers 404 with no body for a missing key', async () => {
    const t = testApp();
    const res = await t.head('/v1/nope');
    expect({ status: res.statusCode, type: res.headers['content-type'], body: res.body }).toEqual({
      status: 404,
      type: JSON_TYPE,
      body: '',
    });
  });

  it('answers 304 to If-None-Match with the current ETag', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    const res = await t.head('/v1/foo', { 'if-none-match': '"1"' });
    expect({ status: res.statusCode, etag: res.headers.etag, body: res.body }).toEqual({ status: 304, etag: '"1"', body: '' });
  });
});
