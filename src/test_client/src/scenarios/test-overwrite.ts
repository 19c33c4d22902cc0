import type { Scenario } from '../run/scenario.js';

/**
 * Overwrites go through PUT only: a second POST is refused, PUT bumps the version, GET sees the
 * new value, and a PUT with a stale If-Match is refused without changing anything.
 */
export const testOverwrite: Scenario = {
  name: 'test_overwrite',
  description:
    'create a fresh key (201); a second POST is refused (409); PUT a new value (200, version 2); GET returns it; a PUT with a stale If-Match is refused (412) and changes nothing; clean up',
  async run(t) {
    const first = { test: t.test, runId: t.runId, write: 1 };
    const second = { test: t.test, runId: t.runId, write: 2, list: [1, 'two', null, true] };
    const refused = { test: t.test, runId: t.runId, write: 3 };

    const created = await t.step(
      'create a fresh key',
      { method: 'POST', path: '/v1/', body: { key: t.key, value: first } },
      { status: 201, shape: 'entry', headers: { location: t.path }, body: { key: t.key, value: first, version: 1, expiresAt: null } },
    );
    await t.step(
      'a second POST of the key is refused',
      { method: 'POST', path: '/v1/', body: { key: t.key, value: second } },
      { status: 409, shape: 'error', body: { 'error.code': 'key_exists' } },
    );
    const replaced = await t.step(
      'PUT a new value',
      { method: 'PUT', path: t.path, body: { value: second } },
      { status: 200, shape: 'entry', body: { key: t.key, value: second, version: 2 } },
    );
    await t.step(
      'GET returns the new value',
      { method: 'GET', path: t.path },
      { status: 200, shape: 'entry', headers: { etag: replaced.etag }, body: { key: t.key, value: second, version: 2 } },
    );
    await t.step(
      'a PUT with the stale If-Match of the first write is refused',
      { method: 'PUT', path: t.path, headers: { 'if-match': created.etag }, body: { value: refused } },
      { status: 412, shape: 'error', body: { 'error.code': 'version_mismatch' } },
    );
    await t.step(
      'GET shows the refused PUT changed nothing',
      { method: 'GET', path: t.path },
      { status: 200, shape: 'entry', headers: { etag: replaced.etag }, body: { key: t.key, value: second, version: 2 } },
    );
  },
};
