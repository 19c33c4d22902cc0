import { createServer, type Server } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../src/run/report.js';
import { ensureBuilt, runToExit, type Service, startService } from './helpers/processes.js';

const KV_MAIN = 'src/kv_store/dist/kv_store.js';
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
  const tc = await startService(TEST_CLIENT_MAIN, {
    TEST_CLIENT_PORT: '0',
    KV_STORE_URL: kvUrl,
    TEST_CLIENT_KV_TIMEOUT_MS: '30000',
    ...env,
  });
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

/** A port of 127.0.0.1 held by another listener until `close`. */
async function takenPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The JSON log lines of a process's stdout. */
function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('start-up problems, as a user meets them', () => {
  it('a port already in use stops each service with exit code 1 and one line naming its port variable, no stack trace', async () => {
    const taken = await takenPort();
    try {
      const kv = await runToExit(KV_MAIN, { KV_PORT: String(taken.port) });
      expect(kv.code).toBe(1);
      expect(kv.stderr).toBe(
        `kv_store: cannot listen on 127.0.0.1:${taken.port}: the port is already in use (set KV_PORT to use another)\n`,
      );
      expect(kv.stdout).not.toContain('EADDRINUSE');
      const tc = await runToExit(TEST_CLIENT_MAIN, { TEST_CLIENT_PORT: String(taken.port) });
      expect(tc.code).toBe(1);
      expect(tc.stderr).toBe(
        `test_client: cannot listen on 127.0.0.1:${taken.port}: the port is already in use (set TEST_CLIENT_PORT to use another)\n`,
      );
      expect(tc.stdout).not.toContain('EADDRINUSE');
    } finally {
      await taken.close();
    }
  });

  it('a misspelt variable (KV_PROT, TEST_CLIENT_PROT) is warned about, naming the variable meant, and the service starts', async () => {
    const kv = await startService(KV_MAIN, { KV_PORT: '0', KV_PROT: '9090' });
    started.push(kv);
    const tc = await startService(TEST_CLIENT_MAIN, {
      TEST_CLIENT_PORT: '0',
      TEST_CLIENT_PROT: '9091',
      KV_STORE_URL: 'http://127.0.0.1:9',
    });
    started.push(tc);
    expect(await stop(kv)).toBe(0);
    expect(await stop(tc)).toBe(0);
    const kvWarnings = logLines(kv.stdout()).filter((l) => l.level === 40);
    expect(kvWarnings).toEqual([
      expect.objectContaining({ service: 'kv_store', msg: 'KV_PROT is not a known variable and is ignored; did you mean KV_PORT?' }),
    ]);
    const tcWarnings = logLines(tc.stdout()).filter((l) => l.level === 40);
    expect(tcWarnings).toEqual([
      expect.objectContaining({
        service: 'test_client',
        msg: 'TEST_CLIENT_PROT is not a known variable and is ignored; did you mean TEST_CLIENT_PORT?',
      }),
    ]);
  });
});
