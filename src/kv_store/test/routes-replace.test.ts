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

  it('answers 412 for tags that never match: weak ones, and ones that are no revision', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    expectError(
      await t.put('/v1/foo', { value: 2 }, { 'if-match': 'W/"1"' }),
      412,
      'version_mismatch',
      `key 'foo' is at revision 1 (ETag "1"), but If-Match asked for W/"1" (weak ETags never match If-Match)`,
    );
    expectError(
      await t.put('/v1/foo', { value: 2 }, { 'if-match': '"x"' }),
      412,
      'version_mismatch',
      `key 'foo' is at revision 1 (ETag "1"), but If-Match asked for "x"`,
    );
  });

  it('takes a bare revision number as that ETag (issue 16: If-Match: 35 was a 412 that no retry could pass)', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    expectEntry(await t.put('/v1/foo', { value: 2 }, { 'if-match': '1' }), 200, entry({ key: 'foo', value: 2, version: 2, revision: 2 }));
    expectError(
      await t.put('/v1/foo', { value: 3 }, { 'if-match': '1' }),
      412,
      'version_mismatch',
      `key 'foo' is at revision 2 (ETag "2"), but If-Match asked for "1"`,
    );
  });

  it('answers 400 invalid_header for an If-Match that is no list of ETags, and changes nothing', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    for (const header of ['abc', '"unterminated', 'W/1']) {
      expectError(
        await t.put('/v1/foo', { value: 2 }, { 'if-match': header }),
        400,
        'invalid_header',
        `If-Match must be * or a list of ETags such as "35" (the entry's revision in quotes), got '${header}'`,
      );
      expectError(
        await t.delete('/v1/foo', { 'if-match': header }),
        400,
        'invalid_header',
        `If-Match must be * or a list of ETags such as "35" (the entry's revision in quotes), got '${header}'`,
      );
    }
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));
  });
});

describe('PUT and DELETE with If-None-Match (issue 16: it was ignored on writes)', () => {
  it('If-None-Match: * refuses to overwrite or delete a key that exists, with 412', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    const message = `key 'foo' is at revision 1 (ETag "1"), which If-None-Match forbids (*: the key must not exist)`;
    expectError(await t.put('/v1/foo', { value: 2 }, { 'if-none-match': '*' }), 412, 'version_mismatch', message);
    expectError(await t.delete('/v1/foo', { 'if-none-match': '*' }), 412, 'version_mismatch', message);
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar', version: 1, revision: 1 }));
  });

  it('If-None-Match with the current ETag (weak or strong) refuses; with another ETag the write goes ahead', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'bar' });
    expectError(
      await t.delete('/v1/foo', { 'if-none-match': '"1"' }),
      412,
      'version_mismatch',
      `key 'foo' is at revision 1 (ETag "1"), which If-None-Match excludes ("1")`,
    );
    expectError(
      await t.put('/v1/foo', { value: 2 }, { 'if-none-match': 'W/"1"' }),
      412,
      'version_mismatch',
      `key 'foo' is at revision 1 (ETag "1"), which If-None-Match excludes (W/"1")`,
    );
    expectEntry(
      await t.put('/v1/foo', { value: 2 }, { 'if-none-match': '"7"' }),
      200,
      entry({ key: 'foo', value: 2, version: 2, revision: 2 }),
    );
    expect((await t.delete('/v1/foo', { 'if-none-match': '"1"' })).statusCode).toBe(204);
  });

  it('a PUT with If-None-Match: * on a missing key is still 404: PUT never creates', async () => {
    const t = testApp();
    expectError(await t.put('/v1/nope', { value: 1 }, { 'if-none-match': '*' }), 404, 'key_not_found', "key 'nope' not found");
  });

  it('answers 404 for a missing key even with If-Match: *', async () => {
    const t = testApp();
    expectError(await t.put('/v1/nope', { value: 1 }, { 'if-match': '*' }), 404, 'key_not_found', "key 'nope' not found");
  });
});
