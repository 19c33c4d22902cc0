import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '@kv/shared';
import { testApp } from './helpers.js';

interface Operation {
  responses: Record<string, { description?: string; $ref?: string }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } };
}

const doc = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as OpenApi;

function documented(path: string, method: string): string[] {
  const operation = doc.paths[path]?.[method.toLowerCase()];
  if (operation === undefined) throw new Error(`docs/openapi.json has no ${method} ${path}`);
  return Object.keys(operation.responses);
}

describe('docs/openapi.json agrees with the app', () => {
  it('lists exactly the error codes the app can answer', () => {
    expect(new Set(doc.components.schemas.Error.properties.error.properties.code.enum)).toEqual(new Set(Object.keys(ERROR_STATUS)));
  });

  it('files every error code it names under the status the app answers it with', () => {
    const codes = Object.keys(ERROR_STATUS);
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (method === 'parameters') continue;
        for (const [status, response] of Object.entries(operation.responses)) {
          const named = /\(([a-z_, ]+)\)$/.exec(response.description ?? '')?.[1]?.split(', ') ?? [];
          for (const code of named) {
            expect(codes, `${method} ${path} ${status}`).toContain(code);
            expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS], `${method} ${path} ${status} ${code}`).toBe(Number(status));
          }
        }
      }
    }
  });

  it('documents every status a walk through the API answers', async () => {
    const t = testApp({ KV_MAX_KEYS: '2', KV_MAX_VALUE_BYTES: '16', KV_AUTH_TOKEN: 'write-token-1', KV_READ_TOKEN: 'read-token-1' });
    const w = { authorization: 'Bearer write-token-1' };
    const r = { authorization: 'Bearer read-token-1' };
    const seen: Array<[string, string, number]> = [];
    const note = (path: string, method: string, status: number): void => {
      seen.push([path, method, status]);
    };
    note('/v1/', 'POST', (await t.post({ key: 'a', value: 1 }, w)).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'a', value: 1 }, w)).statusCode);
    note('/v1/', 'POST', (await t.post('{', w)).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'b', value: 'x'.repeat(40) }, w)).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'b', value: 1 }, r)).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'b', value: 1 })).statusCode);
    note(
      '/v1/',
      'POST',
      (await t.inject({ method: 'POST', url: '/v1/', headers: { ...w, 'content-type': 'text/plain' }, payload: '{}' })).statusCode,
    );
    note('/v1/', 'POST', (await t.inject({ method: 'GET', url: '/v1/', headers: w })).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'b', value: 2 }, w)).statusCode);
    note('/v1/', 'POST', (await t.post({ key: 'c', value: 3 }, w)).statusCode);
    const got = await t.get('/v1/a', r);
    note('/v1/{key}', 'GET', got.statusCode);
    note('/v1/{key}', 'GET', (await t.get('/v1/a', { ...r, 'if-none-match': String(got.headers.etag) })).statusCode);
    note('/v1/{key}', 'GET', (await t.get('/v1/missing', r)).statusCode);
    note('/v1/{key}', 'GET', (await t.get('/v1/%ZZ', r)).statusCode);
    note('/v1/{key}', 'HEAD', (await t.head('/v1/a', r)).statusCode);
    note('/v1/{key}', 'PUT', (await t.put('/v1/a', { value: 5 }, w)).statusCode);
    note('/v1/{key}', 'PUT', (await t.put('/v1/a', { value: 5 }, { ...w, 'if-match': '"1"' })).statusCode);
    note('/v1/{key}', 'PUT', (await t.put('/v1/missing', { value: 5 }, w)).statusCode);
    note('/v1/{key}', 'PUT', (await t.put('/v1/a', { value: 5 }, r)).statusCode);
    note('/v1/{key}', 'DELETE', (await t.delete('/v1/a', { ...w, 'if-match': '"1"' })).statusCode);
    note('/v1/{key}', 'DELETE', (await t.delete('/v1/a', w)).statusCode);
    note('/v1/{key}', 'DELETE', (await t.delete('/v1/a', w)).statusCode);
    note('/healthz', 'GET', (await t.get('/healthz')).statusCode);

    for (const [path, method, status] of seen) expect(documented(path, method), `${method} ${path}`).toContain(String(status));
    // The walk reaches every success and most failures; its statuses, for the record.
    expect(seen.map(([, , status]) => status)).toEqual([
      201, 409, 400, 413, 403, 401, 415, 405, 201, 507, 200, 304, 404, 400, 200, 200, 412, 404, 403, 412, 204, 404, 200,
    ]);
  });
});
