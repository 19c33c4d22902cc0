import { describe, expect, it } from 'vitest';
import { entry, expectEntry, expectError, testApp } from './helpers.js';

describe('TTL over HTTP, with a fake clock', () => {
  it('a key is served until its expiresAt and then behaves as if it never existed', async () => {
    const t = testApp();
    expectEntry(
      await t.post({ key: 'foo', value: 'bar', ttl: 10 }),
      201,
      entry({ key: 'foo', value: 'bar', version: 1, revision: 1, expires: 10_000 }),
    );
    t.clock.advance(9_999);
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 'bar', version: 1, revision: 1, expires: 10_000 }));
    t.clock.advance(1);
    expectError(await t.get('/v1/foo'), 404, 'key_not_found', "key 'foo' not found");
    expect((await t.head('/v1/foo')).statusCode).toBe(404);
    expectError(await t.put('/v1/foo', { value: 1 }), 404, 'key_not_found', "key 'foo' not found");
    expectError(await t.delete('/v1/foo'), 404, 'key_not_found', "key 'foo' not found");
  });

  it('POST may create an expired key again, as version 1 at a fresh revision', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 'old', ttl: 1 });
    t.clock.advance(1000);
    const res = await t.post({ key: 'foo', value: 'new' });
    // Revision 2 was the expiry.
    expectEntry(res, 201, entry({ key: 'foo', value: 'new', version: 1, revision: 3, created: 1000 }));
  });

  it('PUT without ttl clears the expiry, as Redis SET does', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1, ttl: 5 });
    t.clock.advance(4000);
    expectEntry(await t.put('/v1/foo', { value: 2 }), 200, entry({ key: 'foo', value: 2, version: 2, revision: 2, updated: 4000 }));
    t.clock.advance(86_400_000);
    expectEntry(await t.get('/v1/foo'), 200, entry({ key: 'foo', value: 2, version: 2, revision: 2, updated: 4000 }));
  });

  it('PUT with ttl sets a new expiry counted from the PUT', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1 });
    t.clock.advance(3000);
    const res = await t.put('/v1/foo', { value: 2, ttl: 2 });
    expectEntry(res, 200, entry({ key: 'foo', value: 2, version: 2, revision: 2, updated: 3000, expires: 5000 }));
    t.clock.advance(2000);
    expectError(await t.get('/v1/foo'), 404, 'key_not_found', "key 'foo' not found");
  });

  it('accepts fractional seconds and the largest ttl', async () => {
    const t = testApp();
    expectEntry(await t.post({ key: 'a', value: 1, ttl: 0.25 }), 201, entry({ key: 'a', value: 1, version: 1, revision: 1, expires: 250 }));
    expectEntry(
      await t.post({ key: 'b', value: 1, ttl: 1_000_000_000 }),
      201,
      entry({ key: 'b', value: 1, version: 1, revision: 2, expires: 1_000_000_000_000 }),
    );
  });

  it('If-None-Match with an expired entry ETag is a 404, not a 304', async () => {
    const t = testApp();
    await t.post({ key: 'foo', value: 1, ttl: 1 });
    t.clock.advance(1000);
    expectError(await t.get('/v1/foo', { 'if-none-match': '"1"' }), 404, 'key_not_found', "key 'foo' not found");
  });
});
