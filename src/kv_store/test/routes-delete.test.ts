import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

describe('DELETE /v1/<key>', () => {
  it('answers 204 with no body, after which the key is gone', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    const res = await t.delete('/v1/foo');
    expect({ status: res.statusCode, body: res.body, etag: res.headers.etag }).toEqual({ status: 204, body: '', etag: undefined });
    expectError(await t.get('/v1/foo'), 404, 'key_not_found', "key 'foo' not found");
    expectError(await t.put('/v1/foo', { value: 1 }), 404, 'key_not_found', "key 'foo' not found");
  });

  it('answers 404 key_not_found for a missing key, and for a second delete', async () => {
    const t = testApp();
    expectError(await t.delete('/v1/nope'), 404, 'key_not_found', "key 'nope' not found");
    await t.post({ key: 'foo', value: 1 });
    await t.delete('/v1/foo');
    expectError(await t.delete('/v1/foo'), 404, 'key_not_found', "key 'foo' not found");
  });

  it('lets POST create the key again, as version 1 with a revision never used before', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' }); // revision 1
    await t.put('/v1/foo', { value: 'bar2' }); // 2
    await t.delete('/v1/foo'); // 3
    const res = await t.post({ key: 'foo', value: 'again' });
    expectEntry(res, 201, entry({ key: 'foo', value: 'again', version: 1, revision: 4 }));
  });

  it('with a stale If-Match answers 412 version_mismatch and keeps the key', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    await t.put('/v1/foo', { value: 'bar2' });
    const res = await t.delete('/v1/foo', { 'if-match': '"1"' });
    expectError(res, 412, 'version_mismatch', `key 'foo' is at revision 2 (ETag "2"), but If-Match asked for "1"`);
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar2', version: 2, revision: 2 }));
  });

  it('with the current If-Match (or *) deletes', async () => {
    const t = testApp();
    await t.post({ key: 'a', value: 1 });
    await t.post({ key: 'b', value: 1 });
    expect((await t.delete('/v1/a', { 'if-match': '"1"' })).statusCode).toBe(204);
    expect((await t.delete('/v1/b', { 'if-match': '*' })).statusCode).toBe(204);
    expectError(await t.get('/v1/a'), 404, 'key_not_found', "key 'a' not found");
    expectError(await t.get('/v1/b'), 404, 'key_not_found', "key 'b' not found");
  });
});
