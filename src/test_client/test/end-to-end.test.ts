import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../src/run/report.js';
import { ensureBuilt, runToExit, type Service, startService } from './helpers/processes.js';

const KV_MAIN = 'src/kv_store/dist/main.js';
const TEST_CLIENT_MAIN = 'src/test_client/dist/main.js';

const started: Service[] = [];
afterEach(() => {
  // A test that failed half-way leaves its processes running; stop them.
  for (const s of started.splice(0)) if (s.process.exitCode === null) s.process.kill('SIGKILL');
});

beforeAll(() => ensureBuilt());

async function startPair(env: Record<string, string> = {}): Promise<{ kv: Service; tc: Service; kvUrl: string; tcUrl: string }> {
  const kv = await startService(KV_MAIN, { KV_PORT: '0', ...env });
  started.push(kv);
  const kvUrl = `http://127.0.0.1:${kv.port}`;
  const tc = await startService(TEST_CLIENT_MAIN, { TEST_CLIENT_PORT: '0', KV_STORE_URL: kvUrl, ...env });
  started.push(tc);
  return { kv, tc, kvUrl, tcUrl: `http://127.0.0.1:${tc.port}` };
}

async function stop(service: Service): Promise<number | null> {
  service.process.kill('SIGTERM');
  return service.exited;
}

describe('kv_store and test_client as real processes', () => {
  it("the seed README's commands work, both tests pass, and SIGTERM stops both with exit code 0", async () => {
    const { kv, tc, kvUrl, tcUrl } = await startPair();

    // The seed's four curl commands, as fetch.
    const json = { 'content-type': 'application/json' };
    const created = await fetch(`${kvUrl}/v1/`, { method: 'POST', headers: json, body: '{"key": "foo", "value": "bar"}' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ key: 'foo', value: 'bar', version: 1 });
    const read = await fetch(`${kvUrl}/v1/foo`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ key: 'foo', value: 'bar', version: 1 });
    const again = await fetch(`${kvUrl}/v1/`, { method: 'POST', headers: json, body: '{"key": "foo", "value": "bar2"}' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'key_exists' } });
    const put = await fetch(`${kvUrl}/v1/foo`, { method: 'PUT', headers: json, body: '{"value": "bar2"}' });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ key: 'foo', value: 'bar2', version: 2 });

    for (const test of ['test_overwrite', 'test_delete']) {
      const res = await fetch(`${tcUrl}/${test}`);
      const report = (await res.json()) as TestReport;
      expect(res.status, JSON.stringify(report)).toBe(200);
      expect(report).toMatchObject({ test, status: 'passed', kvStoreUrl: kvUrl });
      expect(report.steps.every((s) => s.ok)).toBe(true);
    }
    const health = await fetch(`${tcUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    expect(await stop(tc)).toBe(0);
    expect(await stop(kv)).toBe(0);
    expect(tc.stdout()).toContain('"msg":"stopped"');

    // Every kv_store call is one JSON log line on stdout (all of it read once the process is gone).
    const calls = tc
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"kv_store call"'));
    expect(calls).toHaveLength(14);
    expect(JSON.parse(calls[0] as string)).toMatchObject({ test: 'test_overwrite', method: 'POST', url: `${kvUrl}/v1/`, status: 201 });
  });

  it('with KV_AUTH_TOKEN on both sides the tests pass and the token never reaches the logs', async () => {
    const token = 'e2e-secret-token-5a6b7c8d';
    const { kv, tc, tcUrl } = await startPair({ KV_AUTH_TOKEN: token });
    const res = await fetch(`${tcUrl}/test_all`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'passed' });
    expect(await stop(tc)).toBe(0);
    expect(await stop(kv)).toBe(0);
    expect(tc.stdout()).toContain('"auth":"bearer"');
    expect(tc.stdout() + tc.stderr()).not.toContain(token);
  });

  it('a bad configuration value stops start-up with exit code 1 and names the variable', async () => {
    const { code, stderr } = await runToExit(TEST_CLIENT_MAIN, { TEST_CLIENT_PORT: 'eighty' });
    expect(code).toBe(1);
    expect(stderr).toBe("test_client: configuration error: TEST_CLIENT_PORT must be a whole number, got 'eighty'\n");
  });
});
