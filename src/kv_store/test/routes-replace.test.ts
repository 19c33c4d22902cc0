import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

describe('PUT /v1/<key>', () => {
  it('overwrites a live key: 200, version + 1, a new revision and ETag, createdAt kept', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    t.clock.advance(2500);
    const res = await t.put('/v1/foo', { value: 'bar2' });
    expectEntry(res, 200, entry({ key: 'foo', value: 'bar2', version: 2, revision: 2, created: 0, updated: 2500 }));
    expect(res.headers.location).toBeUndefined();
    expectEntry(
      await t.put('/v1/foo', { value: 'bar3' }),
      200,
      entry({ key: 'foo', value: 'bar3', version: 3, revision: 3, updated: 2500 }),
    );
  });

  it('never creates: a missing key is 404 key_not_found and stays missing', async () => {
    const t = testApp();
    expectError(await t.put('/v1/nope', { value: 1 }), 404, 'key_not_found', "key 'nope' not found");
    expectError(await t.get('/v1/nope'), 404, 'key_not_found', "key 'nope' not found");
  });

  it('may repeat the key in the body when it matches the path', async () => {
    const t = testApp();
    await t.post({ key: 'users/42', value: 1 });
    expectEntry(
      await t.put('/v1/users%2F42', { key: 'users/42', value: 2 }),
      200,
      entry({ key: 'users/42', value: 2, version: 2, revision: 2 }),
    );
  });
});

describe('PUT with If-Match', () => {
  it('succeeds when If-Match names the current ETag, alone or in a list, or is *', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 0 });
    expectEntry(await t.put('/v1/foo', { value: 1 }, { 'if-match': '"1"' }), 200, entry({ key: 'foo', value: 1, version: 2, revision: 2 }));
    expectEntry(
      await t.put('/v1/foo', { value: 2 }, { 'if-match': '"1", "2"' }),
      200,
      entry({ key: 'foo', value: 2, version: 3, revision: 3 }),
    );
    expectEntry(await t.put('/v1/foo', { value: 3 }, { 'if-match': '*' }), 200, entry({ key: 'foo', value: 3, version: 4, revision: 4 }));
  });

  it('answers 412 version_mismatch for a stale ETag and leaves the entry alone', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    await t.put('/v1/foo', { value: 'bar2' });
    const res = await t.put('/v1/foo', { value: 'lost update' }, { 'if-match': '"1"' });
    expectError(res, 412, 'version_mismatch', `key 'foo' is at revision 2 (ETag "2"), but If-Match asked for "1"`);
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar2', version: 2, revision: 2 }));
  });

  it('answers 412 for weak or malformed tags, which never match', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    for (const tag of ['W/"1"', 'abc', '"x"']) {
      const res = await t.put('/v1/foo', { value: 2 }, { 'if-match': tag });
      expectError(res, 412, 'version_mismatch', `key 'foo' is at revision 1 (ETag "1"), but If-Match asked for no valid ETag`);
    }
  });

  it('answers 404 for a missing key even with If-Match: *', async () => {
    const t = testApp();
    expectError(await t.put('/v1/nope', { value: 1 }, { 'if-match': '*' }), 404, 'key_not_found', "key 'nope' not found");
  });
});
