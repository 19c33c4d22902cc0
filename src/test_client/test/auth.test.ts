import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealStore, startRealStore } from '../../client/test/real-store.js';
import { firstFailedStep, runEndpoint, startTestClient } from './helpers/test-client.js';

const TOKEN = 'auth-test-token-9f8e7d6c';
let store: RealStore;

beforeAll(async () => {
  store = await startRealStore({ KV_AUTH_TOKEN: TOKEN });
});
afterAll(() => store.close());

describe('test_client against a kv_store that requires a token', () => {
  it('with KV_AUTH_TOKEN set on both sides every test passes, and the token is never logged', async () => {
    const client = await startTestClient(store.url, { KV_AUTH_TOKEN: TOKEN });
    try {
      for (const path of ['/test_overwrite', '/test_delete', '/test_all']) {
        const res = await fetch(`${client.url}${path}`);
        const text = await res.text();
        expect(res.status, text).toBe(200);
        expect(JSON.parse(text)).toMatchObject({ status: 'passed' });
        // Reports record requests without the Authorization header.
        expect(text).not.toContain(TOKEN);
      }
      // test_all: test_overwrite 7 calls, test_delete 7, test_list 21 (seven clean-ups), test_watch 9, test_txn 20 (six clean-ups).
      expect(client.logs.filter((l) => l.includes('"kv_store call"')).length).toBe(7 + 7 + (7 + 7 + 21 + 9 + 20));
      expect(client.logs.join('\n')).not.toContain(TOKEN);
    } finally {
      await client.close();
    }
  });

  it('without the token the first step fails with 500, the report saying 401 unauthorized', async () => {
    const client = await startTestClient(store.url);
    try {
      const { status, report } = await runEndpoint(client.url, '/test_overwrite');
      expect(status).toBe(500);
      expect(report.status).toBe('failed');
      expect(firstFailedStep(report)).toBe('create a fresh key');
      expect(report.steps[0]?.actual).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      expect(report.error).toContain('status: expected 201, got 401 (unauthorized: this store requires Authorization: Bearer <token>)');
    } finally {
      await client.close();
    }
  });

  it('with a wrong token the first step fails with 401, and neither token is logged', async () => {
    const wrong = 'wrong-token-1a2b3c4d';
    const client = await startTestClient(store.url, { KV_AUTH_TOKEN: wrong });
    try {
      const { status, report } = await runEndpoint(client.url, '/test_delete');
      expect(status).toBe(500);
      expect(report.steps[0]?.actual.status).toBe(401);
      const logs = client.logs.join('\n');
      expect(logs).not.toContain(wrong);
      expect(logs).not.toContain(TOKEN);
    } finally {
      await client.close();
    }
  });
});
