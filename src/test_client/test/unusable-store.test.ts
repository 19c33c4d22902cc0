import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixedStore, startSilentStore } from './helpers/fake-stores.js';
import { runEndpoint, startTestClient } from './helpers/test-client.js';

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function testClientFor(kvStoreUrl: string, env: Record<string, string> = {}): Promise<string> {
  const client = await startTestClient(kvStoreUrl, env);
  running.push(client);
  return client.url;
}

/** A URL on which nothing listens: a port that was free a moment ago. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('test_client when kv_store cannot be used', () => {
  it('kv_store unreachable (closed port): 502 error, the message names the URL', async () => {
    const kvUrl = await closedPortUrl();
    const { status, report } = await runEndpoint(await testClientFor(kvUrl), '/test_overwrite');
    expect(status).toBe(502);
    expect(report).toMatchObject({ test: 'test_overwrite', status: 'error', kvStoreUrl: kvUrl });
    expect(report.error).toContain(`${kvUrl}/v1/`);
    expect(report.error).toContain('could not be reached');
    expect(report.steps[0]).toMatchObject({
      name: 'create a fresh key',
      ok: false,
      actual: { status: null, body: null, error: report.error },
    });
    // The clean-up was attempted too, and is recorded without changing the outcome.
    expect(report.steps[1]).toMatchObject({ cleanup: true, ok: false, actual: { status: null } });
  });

  it('kv_store never answering: 502 error once the per-call timeout passes', async () => {
    const silent = await startSilentStore();
    running.push(silent);
    const { status, report } = await runEndpoint(await testClientFor(silent.url, { TEST_CLIENT_KV_TIMEOUT_MS: '200' }), '/test_delete');
    expect(status).toBe(502);
    expect(report.status).toBe('error');
    expect(report.error).toBe(`kv_store at ${silent.url}/v1/ did not answer POST within 200 ms`);
  });

  it('kv_store answering HTML: 502 error quoting the body and naming the URL', async () => {
    const garbage = await startFixedStore(200, 'text/html', '<html><h1>502 Bad Gateway</h1></html>');
    running.push(garbage);
    const { status, report } = await runEndpoint(await testClientFor(garbage.url), '/test_overwrite');
    expect(status).toBe(502);
    expect(report.status).toBe('error');
    expect(report.error).toBe(
      `kv_store at ${garbage.url}/v1/ answered POST with 200 and a body that is not JSON: "<html><h1>502 Bad Gateway</h1></html>"`,
    );
    expect(report.steps[0]?.actual).toEqual({
      status: 200,
      body: null,
      bodyText: '<html><h1>502 Bad Gateway</h1></html>',
      error: report.error,
    });
    expect(garbage.requests).toEqual(['POST /v1/', `DELETE /v1/${encodeURIComponent(report.key)}`]);
  });

  it('kv_store answering plain text with an error status: 502 error', async () => {
    const garbage = await startFixedStore(500, 'text/plain', 'Internal Server Error');
    running.push(garbage);
    const { status, report } = await runEndpoint(await testClientFor(garbage.url), '/test_delete');
    expect(status).toBe(502);
    expect(report.status).toBe('error');
    expect(report.error).toContain(garbage.url);
  });

  it('/test_all answers 502 when kv_store is unreachable', async () => {
    const kvUrl = await closedPortUrl();
    const res = await fetch(`${await testClientFor(kvUrl)}/test_all`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { status: string; results: { status: string }[] };
    expect(body.status).toBe('error');
    expect(body.results.map((r) => r.status)).toEqual(['error', 'error', 'error', 'error', 'error']);
  });

  it('/healthz still answers 200 when kv_store is unreachable', async () => {
    const res = await fetch(`${await testClientFor(await closedPortUrl())}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
