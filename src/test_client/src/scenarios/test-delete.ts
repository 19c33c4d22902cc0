import type { Scenario } from '../run/scenario.js';

/**
 * A deleted key is gone for every operation: GET, DELETE and PUT answer 404, and POST can
 * create it again from version 1.
 */
export const testDelete: Scenario = {
  name: 'test_delete',
  description:
    'create a fresh key (201); DELETE it (204); GET (404); DELETE again (404); PUT (404); POST creates it again (201, version 1); clean up',
  async run(t) {
    const first = { test: t.test, runId: t.runId, write: 1 };
    const again = { test: t.test, runId: t.runId, write: 2 };
    const notFound = { status: 404, shape: 'error', body: { 'error.code': 'key_not_found' } } as const;

    await t.step(
      'create a fresh key',
      { method: 'POST', path: '/v1/', body: { key: t.key, value: first } },
      { status: 201, shape: 'entry', headers: { location: t.path }, body: { key: t.key, value: first, version: 1 } },
    );
    await t.step('DELETE the key', { method: 'DELETE', path: t.path }, { status: 204, shape: 'empty' });
    await t.step('GET of the deleted key is 404', { method: 'GET', path: t.path }, notFound);
    await t.step('DELETE of the deleted key is 404', { method: 'DELETE', path: t.path }, notFound);
    await t.step('PUT of the deleted key is 404 (PUT never creates)', { method: 'PUT', path: t.path, body: { value: again } }, notFound);
    await t.step(
      'POST creates the key again at version 1',
      { method: 'POST', path: '/v1/', body: { key: t.key, value: again } },
      { status: 201, shape: 'entry', headers: { location: t.path }, body: { key: t.key, value: again, version: 1 } },
    );
  },
};
